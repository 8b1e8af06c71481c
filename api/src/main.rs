//! `roost-api`: serve the API, or run an administrative command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use roost_api::{
    Application, BuildOptions, doctor,
    domain::application::ApplicationName,
    service::{self, applications::Revoked},
    store,
};
use roost_common::{Settings, db, settings::catalogue, telemetry};

#[derive(Parser)]
#[command(name = "roost-api", version, about = "The Roost HTTP API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Register a client application and print its API key (shown only this once).
    CreateApp {
        /// The application's name (unique, 1–100 characters).
        name: String,
    },
    /// List the client applications.
    ListApps,
    /// Revoke a client application's API key.
    RevokeApp {
        /// The application's id.
        id: uuid::Uuid,
    },
    /// Measure the raw argon2id verification rate of this host's hashing pool
    /// (ROOST_HASH_WORKERS threads): about the logins per second one replica can answer.
    HashRate {
        /// How long to measure, in seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Check that each URL answers 200 within 5 s (the chart's `helm test`; the image has no
    /// shell or curl). Needs no settings; exits 1 naming the first URL that does not.
    Probe {
        /// The URLs to GET.
        #[arg(required = true)]
        urls: Vec<String>,
    },
    /// Check a live release of charts/roost and say what is wrong: through the Kubernetes API
    /// (kubeconfig, or the pod's service account) the CloudNativePG cluster, secrets and keys,
    /// rollouts, pods, the migration Job and ServiceMonitors; inside a pod (or with --data),
    /// through this process's settings, the schema, Redis with AOF and the stream backlog.
    /// Exits 1 when a check fails or nothing could be checked.
    Doctor {
        /// The release's namespace (default: the kubeconfig context's, or the pod's own).
        #[arg(long, short = 'n', value_parser = clap::builder::NonEmptyStringValueParser::new())]
        namespace: Option<String>,
        /// The Helm release name (the chart sets ROOST_HELM_RELEASE in the API pods).
        #[arg(
            long,
            default_value = catalogue::HELM_RELEASE_DEFAULT,
            env = catalogue::HELM_RELEASE.name,
            value_parser = clap::builder::NonEmptyStringValueParser::new()
        )]
        release: String,
        /// Consumer-group lag, in stream entries, above which the backlog is a warning.
        #[arg(long, default_value_t = 10_000)]
        max_lag: u64,
        /// Skip the Kubernetes checks.
        #[arg(long)]
        no_kubernetes: bool,
        /// Run the PostgreSQL and Redis checks with this process's ROOST_* settings even
        /// outside a pod (by default they run only inside one, where the settings are the
        /// release's).
        #[arg(long, conflicts_with = "no_data")]
        data: bool,
        /// Skip the PostgreSQL and Redis checks.
        #[arg(long)]
        no_data: bool,
        /// Print the findings as JSON (`{"findings": [{"check", "outcome", "message"}]}`).
        #[arg(long)]
        json: bool,
    },
}

/// mimalloc instead of glibc's malloc: each argon2id run allocates and frees 19 MiB, which
/// glibc keeps per thread arena (resident memory grew about 4× under a login storm and stayed);
/// mimalloc returns such blocks to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// GETs each URL; every one must answer 200.
async fn probe(urls: &[String]) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    for url in urls {
        let status = client
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .status();
        anyhow::ensure!(
            status == reqwest::StatusCode::OK,
            "GET {url} answered {status}"
        );
        println!("GET {url}: {status}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Probe { urls } = &command {
        return probe(urls).await;
    }
    if let Command::Doctor {
        namespace,
        release,
        max_lag,
        no_kubernetes,
        data,
        no_data,
        json,
    } = command
    {
        let options = doctor::Options {
            namespace,
            release,
            kubernetes: !no_kubernetes,
            data: match (data, no_data) {
                (true, _) => doctor::DataChecks::Always,
                (_, true) => doctor::DataChecks::Never,
                _ => doctor::DataChecks::Auto,
            },
            limits: doctor::data::Limits {
                max_lag,
                ..Default::default()
            },
        };
        let report = doctor::run(options).await;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.render());
        }
        std::process::exit(if report.healthy() { 0 } else { 1 });
    }
    let settings = Settings::from_env().context("loading settings")?;
    let _telemetry = telemetry::init("roost-api", &settings.telemetry)?;
    let pool = db::pool(&settings.database)?;
    match command {
        Command::Probe { .. } | Command::Doctor { .. } => {}
        Command::Migrate => {
            db::migrate(&pool, settings.database.startup_wait).await?;
            tracing::info!("migrations applied");
        }
        Command::CreateApp { name } => {
            let name = ApplicationName::parse(Some(&name))
                .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
            let registered = service::applications::create(&pool, &name).await?;
            let app = registered.application;
            println!(
                "id:      {}\nname:    {}\napi_key: {}",
                app.id, app.name, registered.api_key
            );
            eprintln!("Keep the key now: only its SHA-256 digest is stored.");
        }
        Command::ListApps => {
            for app in store::applications::list(&pool).await? {
                let state = app
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |t| format!("revoked {t}"));
                println!(
                    "{}  {}  created {}  {state}",
                    app.id, app.name, app.created_at
                );
            }
        }
        Command::RevokeApp { id } => {
            // Running replicas drop the key at once; without Redis, within their cache's TTL.
            let mut redis = roost_common::redis_client::connect(&settings.redis)?;
            let keys = roost_common::pipeline::Keys::new(&settings.redis.key_prefix);
            match service::applications::revoke(&pool, &mut redis, &keys, id).await? {
                Revoked::NotFound => anyhow::bail!("no client application with id {id}"),
                Revoked::Revoked { announced } => {
                    println!("revoked {id}");
                    match announced {
                        Ok(replicas) => println!("announced to {replicas} running replica(s)"),
                        Err(error) => eprintln!(
                            "could not announce the revocation ({error:#}); running replicas stop \
                             accepting the key within ROOST_API_KEY_CACHE_SECONDS"
                        ),
                    }
                }
            }
        }
        Command::HashRate { seconds } => {
            let workers = settings.auth.hash_workers;
            let hasher = roost_api::auth::password::PasswordHasher::new(
                workers,
                roost_api::auth::password::owasp_params(),
            )?;
            let (done, secs) = hasher
                .verify_rate(std::time::Duration::from_secs(seconds.max(1)))
                .await
                .context("measuring the hash rate")?;
            let rate = serde_json::json!({
                "workers": workers,
                "verifications": done,
                "seconds": secs,
                "per_second": done as f64 / secs,
            });
            println!("{rate}");
        }
        Command::Serve => {
            let version = db::wait_for_schema(&pool, settings.database.startup_wait).await?;
            let app = Application::build(settings, pool, BuildOptions::default()).await?;
            tracing::info!(
                port = app.port(),
                metrics_port = app.metrics_port(),
                schema = version,
                "roost-api listening"
            );
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}

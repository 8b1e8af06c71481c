//! `roost-api doctor`: checks a live release of `charts/roost` and says in plain words what is
//! wrong. Two sources, each optional, each a module:
//! - [`cluster`]: the Kubernetes API (kubeconfig, or the pod's service account when the chart's
//!   `doctor.rbac.create` gave it one): the CloudNativePG cluster, Secrets and their keys,
//!   rollouts, pods, the migration Job, ServiceMonitors/PodMonitors selected by a Prometheus;
//! - [`data`]: PostgreSQL and Redis through this process's settings (as inside the api pod):
//!   migrations applied, Redis reachable with AOF on, stream backlog and consumer lag.
//!
//! Every check adds [`Finding`]s to a [`Report`]; the command exits 1 when any is a failure.

pub mod cluster;
pub mod data;

use serde::Serialize;

/// What one finding concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// As it should be.
    Ok,
    /// Works, but needs attention soon (e.g. a growing backlog).
    Warn,
    /// Broken: the release does not work as deployed.
    Fail,
    /// Not checked from here (no credentials, no settings, or not part of this release).
    Skip,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
            Self::Skip => "skip",
        }
    }
}

/// The catalogue of checks, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The Kubernetes API answers, with enough rights.
    Kubernetes,
    /// The CloudNativePG `Cluster`: phase, ready instances, primary.
    Database,
    /// Every Secret (and key) the workloads mount or reference exists.
    Secrets,
    /// Deployments and StatefulSets: rollout complete.
    Rollouts,
    /// Pods of the release: ready, and why not.
    Pods,
    /// The migration Job (hook mode) did not fail.
    Migrations,
    /// ServiceMonitors and PodMonitors are selected by a Prometheus.
    Monitoring,
    /// The database schema is the one this binary was built for.
    Schema,
    /// Redis answers, with AOF persistence on.
    Redis,
    /// Stream length, consumers and consumer-group lag.
    Backlog,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Self::Kubernetes => "kubernetes",
            Self::Database => "database",
            Self::Secrets => "secrets",
            Self::Rollouts => "rollouts",
            Self::Pods => "pods",
            Self::Migrations => "migrations",
            Self::Monitoring => "monitoring",
            Self::Schema => "schema",
            Self::Redis => "redis",
            Self::Backlog => "backlog",
        }
    }
}

/// One conclusion, in words meant for the person running the command.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: Check,
    /// What it concluded.
    pub outcome: Outcome,
    /// The conclusion in plain words, with what to do about it; never a credential.
    pub message: String,
}

/// Everything the doctor found, in check order.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The findings, in the order the checks ran.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Adds one finding.
    pub fn add(&mut self, check: Check, outcome: Outcome, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            outcome,
            message: message.into(),
        });
    }

    /// The findings of one check (tests and callers inspect them by check).
    pub fn of(&self, check: Check) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }

    /// How many findings have this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.findings
            .iter()
            .filter(|f| f.outcome == outcome)
            .count()
    }

    /// True when something was checked and nothing failed.
    pub fn healthy(&self) -> bool {
        self.count(Outcome::Fail) == 0 && self.findings.iter().any(|f| f.outcome != Outcome::Skip)
    }

    /// The report as aligned text lines and a one-line verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "{:<5} {:<11} {}\n",
                f.outcome.label(),
                f.check.name(),
                f.message
            ));
        }
        let (fail, warn) = (self.count(Outcome::Fail), self.count(Outcome::Warn));
        out.push_str(&if fail > 0 {
            format!("{fail} problem(s) found, {warn} warning(s).\n")
        } else if !self.healthy() {
            "Nothing could be checked from here.\n".to_owned()
        } else {
            format!("No problem found ({warn} warning(s)).\n")
        });
        out
    }
}

/// When to run the PostgreSQL and Redis checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataChecks {
    /// Inside a pod (`KUBERNETES_SERVICE_HOST` set), where the settings are the release's; not
    /// on a workstation, whose `DATABASE_URL` is likely a local development database.
    Auto,
    /// Always, with this process's settings.
    Always,
    /// Never.
    Never,
}

/// What `roost-api doctor` checks, from its command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The release's namespace; None: the kubeconfig context's (or the pod's own).
    pub namespace: Option<String>,
    /// The Helm release name.
    pub release: String,
    /// Run the Kubernetes checks.
    pub kubernetes: bool,
    /// When to run the PostgreSQL and Redis checks.
    pub data: DataChecks,
    /// Backlog limits of the data checks.
    pub limits: data::Limits,
}

/// Runs the checks `options` asks for with the credentials and settings found in this
/// process's environment; never fails, every problem is a finding.
pub async fn run(options: Options) -> Report {
    let mut report = Report::default();
    let mut namespace = options.namespace.clone();
    if options.kubernetes {
        match kube_client().await {
            Ok(client) => {
                let ns = namespace
                    .get_or_insert_with(|| client.default_namespace().to_owned())
                    .clone();
                let release = cluster::Release::new(&ns, &options.release);
                cluster::check(&client, &release, &mut report).await;
            }
            Err(error) => report.add(
                Check::Kubernetes,
                Outcome::Skip,
                format!(
                    "{error:#}: run it with a kubeconfig, or in the api pod with the chart's \
                     `doctor.rbac.create`"
                ),
            ),
        }
    }
    let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let release = cluster::Release::new(
        namespace.as_deref().unwrap_or("<namespace>"),
        &options.release,
    );
    let hint = format!(
        "run it in the api pod to check the schema, Redis and the backlog: `kubectl exec -n {} \
         deploy/{}-api -c api -- roost-api doctor` (or pass --data to use this process's \
         ROOST_* settings)",
        release.namespace, release.fullname
    );
    match options.data {
        DataChecks::Never => {}
        DataChecks::Auto if !in_pod => report.add(Check::Schema, Outcome::Skip, hint),
        DataChecks::Auto | DataChecks::Always => match roost_common::Settings::from_env() {
            Ok(settings) => data::check(&settings, options.limits, &mut report).await,
            Err(error) => report.add(
                Check::Schema,
                Outcome::Skip,
                format!("no database settings here ({error:#}); {hint}"),
            ),
        },
    }
    report
}

/// A client from the kubeconfig or the in-cluster service account, with short timeouts (a
/// doctor that hangs says nothing).
async fn kube_client() -> anyhow::Result<kube::Client> {
    // kube's error names both sources it tried (in-cluster, then the kubeconfig).
    let mut config = kube::Config::infer()
        .await
        .map_err(|e| anyhow::anyhow!("no Kubernetes credentials here ({e})"))?;
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    config.read_timeout = Some(std::time::Duration::from_secs(15));
    client_for(config)
}

/// A client for `config`. kube builds its TLS settings with rustls's process-wide provider,
/// which rustls cannot pick by itself here (ring and aws-lc-rs are both linked, by sqlx and
/// reqwest): aws-lc-rs, kube's own choice, is installed first (a no-op when one is set).
pub fn client_for(config: kube::Config) -> anyhow::Result<kube::Client> {
    use anyhow::Context;
    let _already_set = rustls::crypto::aws_lc_rs::default_provider().install_default();
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// Host, port and database or index of a connection URL, without credentials (for messages).
pub(crate) fn describe_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}{}",
            u.host_str().unwrap_or("?"),
            u.port()
                .map_or_else(|| "default port".to_owned(), |p| p.to_string()),
            u.path()
        ),
        Err(_) => "(an unreadable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_counts_failures_and_needs_one_real_check() {
        let mut report = Report::default();
        report.add(Check::Kubernetes, Outcome::Skip, "no credentials");
        assert!(!report.healthy());
        assert!(report.render().contains("Nothing could be checked"));
        report.add(Check::Redis, Outcome::Ok, "fine");
        report.add(Check::Backlog, Outcome::Warn, "lag");
        assert!(report.healthy());
        assert!(
            report
                .render()
                .ends_with("No problem found (1 warning(s)).\n")
        );
        report.add(Check::Schema, Outcome::Fail, "old");
        assert!(!report.healthy());
        assert!(report.render().contains("FAIL  schema      old\n"));
    }

    #[tokio::test]
    async fn https_clients_build_with_both_tls_providers_linked() {
        let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        client_for(config).unwrap();
    }

    #[test]
    fn urls_are_described_without_credentials() {
        assert_eq!(
            describe_url("postgres://app:s3cret@db.roost.svc:5432/roost"),
            "db.roost.svc:5432/roost"
        );
        assert_eq!(
            describe_url("redis://:pw@roost-redis:6379/0"),
            "roost-redis:6379/0"
        );
        assert_eq!(describe_url("not a url"), "(an unreadable URL)");
    }
}

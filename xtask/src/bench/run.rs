//! A benchmark run, step by step: tools, release binaries, stack, seed, scenarios, report.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;

use super::report::{
    DataSet, HashRate, LoadSettings, Measurement, MemorySample, Report, WrkSummary,
};
use super::scenario::{Connections, Load, SCENARIOS, Scenario, Worker};
use super::setup::{Binaries, Stack, build_release, machine, on_path, read_env_file, repo_root};
use super::{BenchArgs, log};
use crate::interrupt;
use crate::process::{self, Guarded};

/// The API's public address.
const API_ADDR: &str = "127.0.0.1:18080";
/// The API's metrics listener.
const API_METRICS_ADDR: &str = "127.0.0.1:19464";
/// The worker's metrics listener (also `/readyz`).
const INGEST_METRICS_ADDR: &str = "127.0.0.1:19465";
/// The password of every seeded user.
const PASSWORD: &str = "bench-Password-1";
/// How many seeded users are logged in for the authenticated scenarios.
const LOGGED_IN_USERS: u64 = 100;
/// The seed's version, part of the marker: a changed seed.sql seeds again.
const SEED_VERSION: &str = "v2";
/// How long the worker may take to drain the backlog.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// Settings of the API and the worker for the benchmark, beside the stack's connection URLs.
const SERVICE_ENV: &[(&str, &str)] = &[
    (
        "ROOST_JWT_SECRET",
        "bench-only-jwt-secret-0123456789abcdef0123",
    ),
    ("ROOST_ADMIN_TOKEN", "bench-admin-token"),
    ("ROOST_HTTP_ADDR", API_ADDR),
    ("ROOST_METRICS_ADDR", API_METRICS_ADDR),
    ("ROOST_INGEST_METRICS_ADDR", INGEST_METRICS_ADDR),
    // All load comes from one address: the per-address failed-login window (which counts
    // attempts in flight) would answer the login storm with 429s.
    ("ROOST_LOGIN_MAX_FAILURES_PER_IP", "100000000"),
    ("ROOST_REGISTER_MAX_PER_IP", "100000000"),
    // No load balancer: the API stops at once between phases.
    ("ROOST_SHUTDOWN_DELAY_SECONDS", "0"),
    // Tokens outlive any benchmark length.
    ("ROOST_TOKEN_TTL_SECONDS", "86400"),
];

/// Runs the benchmark described by `args`; see the module documentation of `bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let started_at = now();
    let scenarios: Vec<&'static Scenario> = match &args.scenarios {
        Some(selection) => selection.0.clone(),
        None => SCENARIOS.iter().collect(),
    };
    ensure!(
        args.subs.saturating_mul(997) < args.users,
        "BENCH_SUBS * 997 must be below BENCH_USERS (the seed's follow pattern)"
    );
    let repo = repo_root()?;
    let state = repo.join(".roost/bench");

    if !on_path("wrk") {
        process::run(
            "scripts/install-deps.sh",
            Command::new(repo.join("scripts/install-deps.sh")).arg("wrk"),
        )?;
    }
    ensure!(
        on_path("psql"),
        "psql is required (scripts/stack.sh installs PostgreSQL)"
    );

    log("building release binaries");
    let binaries = build_release(&repo)?;

    // Declared before the run: dropped after it, so the services stop before the stack.
    let stack = Stack::up(&repo)?;
    let mut env = read_env_file(&state.join("env"))?;
    if std::env::var_os("RUST_LOG").is_none() {
        env.push(("RUST_LOG".to_owned(), "info".to_owned()));
    }
    env.extend(
        SERVICE_ENV
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut bench = Bench {
        args,
        repo,
        state: state.clone(),
        binaries,
        env,
        http,
        api: None,
        ingest: None,
        paused_at: None,
    };

    bench.api_cli("roost-api migrate", &["migrate"])?;
    let api_key = bench.seed()?;
    bench.reset_stream_and_events()?;
    let tokens = bench.log_in_users()?;

    let mut memory = Vec::new();
    memory.extend(bench.memory("start")?);
    let mut measured = Vec::new();
    for scenario in scenarios {
        let measurement = bench.scenario(scenario, &api_key, &tokens)?;
        measured.push((scenario, measurement));
        memory.extend(bench.memory(scenario.name)?);
    }
    // The services and the stack stop before the report is written.
    drop(bench);
    drop(stack);

    let report = Report {
        started_at,
        finished_at: now(),
        machine: machine()?,
        data: DataSet {
            users: args.users,
            subscriptions: args.subs,
            posts: args.posts,
            events: args.events,
        },
        load: LoadSettings {
            connections: args.connections,
            login_connections: args.login_connections,
            threads: args.threads,
            duration: args.duration.to_string(),
        },
        results: Report::results(measured),
        memory,
    };
    let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
    write(&state.join("report.json"), &(json + "\n"))?;
    let markdown = report.to_markdown();
    write(&state.join("report.md"), &markdown)?;
    print!("{markdown}");
    let (met, total) = report.targets_met();
    log(format!(
        "{met} of {total} targets met (unmet targets do not fail the run)"
    ));
    log(format!(
        "report: {} (and report.json)",
        state.join("report.md").display()
    ));
    Ok(())
}

/// The services, the data set's API key and the scenarios' state.
struct Bench<'a> {
    args: &'a BenchArgs,
    repo: PathBuf,
    state: PathBuf,
    binaries: Binaries,
    /// Environment of every process started from here on (stack URLs, service settings).
    env: Vec<(String, String)>,
    http: ureq::Agent,
    api: Option<Guarded>,
    ingest: Option<Guarded>,
    /// The API's accepted-events count when the worker was last stopped.
    paused_at: Option<u64>,
}

impl Bench<'_> {
    /// A command run in the repository with the benchmark's environment.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.repo)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn database_url(&self) -> anyhow::Result<&str> {
        self.env
            .iter()
            .find_map(|(name, value)| (name == "DATABASE_URL").then_some(value.as_str()))
            .context("no DATABASE_URL in .roost/bench/env")
    }

    /// `psql` against the bench database, stopping at the first error.
    fn psql(&self, what: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut command = self.command("psql");
        command
            .arg(self.database_url()?)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(args);
        process::run(what, &mut command)
    }

    /// A log file of the state directory, opened for appending, as a child's output.
    fn log_file(&self, name: &str) -> anyhow::Result<(Stdio, Stdio)> {
        let path = self.state.join(name);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let copy = file
            .try_clone()
            .with_context(|| format!("opening {}", path.display()))?;
        Ok((Stdio::from(file), Stdio::from(copy)))
    }

    /// `roost-api <args>` to completion, its output appended to api.log.
    fn api_cli(&self, what: &str, args: &[&str]) -> anyhow::Result<()> {
        let (stdout, stderr) = self.log_file("api.log")?;
        process::run(
            what,
            self.command(&self.binaries.api)
                .args(args)
                .stdout(stdout)
                .stderr(stderr),
        )
    }

    fn start_api(&mut self) -> anyhow::Result<()> {
        if self.api.is_some() {
            return Ok(());
        }
        let (stdout, stderr) = self.log_file("api.log")?;
        let mut command = self.command(&self.binaries.api);
        command.arg("serve").stdout(stdout).stderr(stderr);
        let api = Guarded::spawn("roost-api serve", &mut command)?;
        self.api = Some(self.wait_ready(api, &format!("http://{API_ADDR}/readyz"))?);
        Ok(())
    }

    fn stop_api(&mut self) {
        if let Some(api) = self.api.take() {
            api.stop();
        }
    }

    fn start_ingest(&mut self) -> anyhow::Result<()> {
        if self.ingest.is_some() {
            return Ok(());
        }
        let (stdout, stderr) = self.log_file("ingest.log")?;
        let mut command = self.command(&self.binaries.ingest);
        command.stdout(stdout).stderr(stderr);
        let ingest = Guarded::spawn("roost-ingest", &mut command)?;
        self.ingest =
            Some(self.wait_ready(ingest, &format!("http://{INGEST_METRICS_ADDR}/readyz"))?);
        Ok(())
    }

    /// Waits until the process we started answers `url` (not a stale one on the same port).
    fn wait_ready(&self, mut child: Guarded, url: &str) -> anyhow::Result<Guarded> {
        for _ in 0..300 {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the process behind {url} exited ({status}; logs in {})",
                    self.state.display()
                );
            }
            if self.http.get(url).call().is_ok() {
                return Ok(child);
            }
            interrupt::sleep(Duration::from_millis(100))?;
        }
        bail!(
            "{url} did not become ready in 30 s (logs in {})",
            self.state.display()
        )
    }

    /// The sum of a counter's series on a metrics listener.
    fn metric(&self, addr: &str, name: &str) -> anyhow::Result<u64> {
        let url = format!("http://{addr}/metrics");
        let text = self
            .http
            .get(&url)
            .call()
            .and_then(|mut response| response.body_mut().read_to_string())
            .with_context(|| format!("reading {url}"))?;
        Ok(metric_sum(&text, name))
    }

    /// The API's resident memory now and at its peak (nothing while the API is not running).
    fn memory(&self, after: &str) -> anyhow::Result<Option<MemorySample>> {
        let Some(api) = &self.api else {
            return Ok(None);
        };
        let Ok(status) = fs::read_to_string(format!("/proc/{}/status", api.id())) else {
            return Ok(None);
        };
        MemorySample::from_status(after, &status).map(Some)
    }

    /// Seeds the data set unless this one is seeded already; returns the `bench` API key.
    fn seed(&mut self) -> anyhow::Result<String> {
        let args = self.args;
        let marker = self.state.join(format!(
            "seeded-{SEED_VERSION}-{}-{}-{}",
            args.users, args.posts, args.subs
        ));
        let key_file = self.state.join("api_key");
        if args.reseed || !marker.exists() {
            log(format!(
                "seeding: {} users × {} subscriptions, {} posts (a few minutes)",
                args.users, args.subs, args.posts
            ));
            remove_markers(&self.state)?;
            self.psql(
                "emptying the bench database",
                &[
                    "-c",
                    "TRUNCATE users, subscriptions, posts, comments, revoked_tokens, outbox,
                     notifications, jobs, events, event_ids, ingest_errors RESTART IDENTITY CASCADE;
                     DELETE FROM applications WHERE name = 'bench';",
                ],
            )?;
            self.start_api()?;
            // The seed copies this user's password hash to every seeded user.
            self.http
                .post(format!("http://{API_ADDR}/v1/auth/register"))
                .send_json(serde_json::json!({ "username": "benchseed", "password": PASSWORD }))
                .context("registering the user benchseed")?;
            let (_, stderr) = self.log_file("api.log")?;
            let created = process::output(
                "roost-api create-app bench",
                self.command(&self.binaries.api)
                    .args(["create-app", "bench"])
                    .stderr(stderr),
            )?;
            let key = created
                .lines()
                .find_map(|line| line.strip_prefix("api_key:"))
                .map(str::trim)
                .context("roost-api create-app printed no api_key line")?;
            write(&key_file, &format!("{key}\n"))?;
            self.stop_api();
            let users = format!("users={}", args.users);
            let posts = format!("posts={}", args.posts);
            let subs = format!("subs={}", args.subs);
            self.psql(
                "bench/seed.sql",
                &[
                    "-v",
                    &users,
                    "-v",
                    &posts,
                    "-v",
                    &subs,
                    "-f",
                    "bench/seed.sql",
                ],
            )?;
            write(&marker, "")?;
        }
        let key = fs::read_to_string(&key_file)
            .with_context(|| format!("reading {}", key_file.display()))?
            .trim()
            .to_owned();
        ensure!(
            !key.is_empty(),
            "no API key in {}; rerun with BENCH_RESEED=1",
            key_file.display()
        );
        Ok(key)
    }

    /// An empty stream, both services running, the stored events reset to the seeded ones.
    fn reset_stream_and_events(&mut self) -> anyhow::Result<()> {
        // A run starts from an empty stream (an interrupted run may have left a backlog).
        let redis_url = self
            .env
            .iter()
            .find_map(|(name, value)| (name == "ROOST_REDIS_URL").then(|| value.clone()))
            .context("no ROOST_REDIS_URL in .roost/bench/env")?;
        let (url, password) = redis_cli_url(&redis_url);
        let mut command = self.command("redis-cli");
        command.args(["-u", url.as_str(), "FLUSHDB"]);
        if let Some(password) = password {
            command.env("REDISCLI_AUTH", password);
        }
        // redis-cli exits 0 after a failed command: its answer says whether it worked.
        let answer = process::output("redis-cli FLUSHDB", &mut command)?;
        ensure!(
            answer.trim() == "OK",
            "redis-cli FLUSHDB answered {:?}",
            answer.trim()
        );
        self.start_api()?;
        // The worker creates this week's event partition at start, before the events go in.
        self.start_ingest()?;
        log(format!(
            "resetting the stored events to the {} seeded ones",
            self.args.events
        ));
        let events = format!("events={}", self.args.events);
        self.psql(
            "bench/seed-events.sql",
            &["-v", &events, "-f", "bench/seed-events.sql"],
        )
    }

    /// Logs in seeded users; returns the file of "<token> <user number>" lines the wrk script
    /// reads.
    fn log_in_users(&self) -> anyhow::Result<PathBuf> {
        #[derive(Deserialize)]
        struct TokenBody {
            access_token: String,
        }
        log(format!(
            "logging in {LOGGED_IN_USERS} users for the authenticated scenarios"
        ));
        let mut lines = String::new();
        for i in 1..=LOGGED_IN_USERS {
            interrupt::check()?;
            let n = (i * 7919) % self.args.users + 1;
            let body: TokenBody = self
                .http
                .post(format!("http://{API_ADDR}/v1/auth/login"))
                .send_json(
                    serde_json::json!({ "username": format!("user{n}"), "password": PASSWORD }),
                )
                .and_then(|mut response| response.body_mut().read_json())
                .with_context(|| format!("logging in user{n}; rerun with BENCH_RESEED=1"))?;
            let token = body.access_token;
            ensure!(
                !token.is_empty()
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "logging in user{n} gave no token; rerun with BENCH_RESEED=1"
            );
            lines.push_str(&format!("{token} {n}\n"));
        }
        let path = self.state.join("tokens");
        write(&path, &lines)?;
        Ok(path)
    }

    /// Runs one scenario and returns what it measured.
    fn scenario(
        &mut self,
        scenario: &'static Scenario,
        api_key: &str,
        tokens: &Path,
    ) -> anyhow::Result<Measurement> {
        let measurement = match scenario.load {
            Load::Wrk {
                connections,
                worker,
            } => {
                match worker {
                    Worker::Stopped => self.pause_worker()?,
                    Worker::Running => self.start_ingest()?,
                }
                let connections = match connections {
                    Connections::Default => self.args.connections,
                    Connections::Login => self.args.login_connections,
                };
                Measurement::Wrk(self.wrk(
                    scenario.name,
                    scenario.name,
                    connections,
                    api_key,
                    tokens,
                )?)
            }
            Load::Drain => self.drain(api_key, tokens)?,
            Load::HashRate => self.hash_rate()?,
        };
        Ok(measurement)
    }

    /// wrk with the Lua script's `scenario`; `label` names its output files in the state
    /// directory (`wrk-<label>.txt`, `wrk-<label>.json`).
    fn wrk(
        &self,
        scenario: &str,
        label: &str,
        connections: u32,
        api_key: &str,
        tokens: &Path,
    ) -> anyhow::Result<WrkSummary> {
        // Start each scenario from a clean checkpoint, not in the middle of the last one's.
        self.psql("CHECKPOINT", &["-c", "CHECKPOINT"])?;
        let args = self.args;
        log(format!(
            "scenario {label}: {connections} connections, {} threads, {}",
            args.threads, args.duration
        ));
        let summary_path = self.state.join(format!("wrk-{label}.json"));
        write(&summary_path, "")?;
        let output_path = self.state.join(format!("wrk-{label}.txt"));
        let output = File::create(&output_path)
            .with_context(|| format!("creating {}", output_path.display()))?;
        let mut command = self.command("wrk");
        command
            .args([
                "-t",
                &args.threads.to_string(),
                "-c",
                &connections.to_string(),
            ])
            .args(["-d", &args.duration.to_string(), "--timeout", "10s"])
            .args(["-s", "bench/wrk/roost.lua", &format!("http://{API_ADDR}")])
            .env("BENCH_SCENARIO", scenario)
            .env("BENCH_TOKENS", tokens)
            .env("BENCH_API_KEY", api_key)
            .env("BENCH_USERS", args.users.to_string())
            .env("BENCH_SUBS", args.subs.to_string())
            .env("BENCH_PASSWORD", PASSWORD)
            .env("BENCH_OUT", &summary_path)
            .stdout(output);
        process::run(&format!("wrk ({label})"), &mut command)?;
        let text = fs::read_to_string(&summary_path)
            .with_context(|| format!("reading {}", summary_path.display()))?;
        WrkSummary::parse(&text, scenario)
            .with_context(|| format!("reading {}", summary_path.display()))
    }

    /// Stops the worker (if it runs) and notes how many events the API had accepted by then.
    fn pause_worker(&mut self) -> anyhow::Result<()> {
        if let Some(ingest) = self.ingest.take() {
            ingest.stop();
            self.paused_at = Some(self.metric(API_METRICS_ADDR, "roost_events_accepted_total")?);
        }
        Ok(())
    }

    /// Times a fresh worker storing the backlog accepted since it was stopped; when it runs,
    /// it is stopped first and the stream filled by one `events_batch` run.
    fn drain(&mut self, api_key: &str, tokens: &Path) -> anyhow::Result<Measurement> {
        if self.ingest.is_some() {
            self.pause_worker()?;
            self.wrk(
                "events_batch",
                "drain-fill",
                self.args.connections,
                api_key,
                tokens,
            )?;
        }
        let paused_at = self.paused_at.context("the worker was never stopped")?;
        let backlog = self
            .metric(API_METRICS_ADDR, "roost_events_accepted_total")?
            .saturating_sub(paused_at);
        log(format!("drain: {backlog} events waiting in the stream"));
        let started = Instant::now();
        self.start_ingest()?;
        loop {
            // A fresh worker process: its counters start at zero.
            let stored = self.metric(INGEST_METRICS_ADDR, "roost_ingest_events_stored_total")?
                + self.metric(INGEST_METRICS_ADDR, "roost_ingest_events_duplicate_total")?;
            if stored >= backlog {
                break;
            }
            ensure!(
                started.elapsed() < DRAIN_LIMIT,
                "the worker stored {stored} of {backlog} events in {} s",
                DRAIN_LIMIT.as_secs()
            );
            interrupt::sleep(Duration::from_millis(200))?;
        }
        Ok(Measurement::Drain {
            events: backlog,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// `roost-api hash-rate`: the hashing pool's raw argon2id verification rate.
    fn hash_rate(&self) -> anyhow::Result<Measurement> {
        log("scenario hash_rate: the hashing pool's raw argon2id verification rate");
        let (_, stderr) = self.log_file("api.log")?;
        let output = process::output(
            "roost-api hash-rate",
            self.command(&self.binaries.api)
                .args(["hash-rate", "--seconds", "5"])
                .stderr(stderr),
        )?;
        // Log lines share stdout with the result: keep the result only.
        let line = output
            .lines()
            .find(|line| line.contains("\"verifications\""))
            .context("roost-api hash-rate printed no result")?;
        let rate: HashRate = serde_json::from_str(line)
            .with_context(|| format!("roost-api hash-rate printed {line}"))?;
        Ok(Measurement::HashRate(rate))
    }
}

/// The sum of the series of counter `name` in a Prometheus text exposition.
fn metric_sum(text: &str, name: &str) -> u64 {
    let total: f64 = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = if let Some(labelled) = rest.strip_prefix('{') {
                labelled.rsplit_once('}')?.1
            } else if rest.starts_with([' ', '\t']) {
                rest
            } else {
                return None; // another metric whose name starts with `name`
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum();
    total as u64
}

/// `url` for redis-cli, and the password to pass in REDISCLI_AUTH: redis-cli 7.0 sends a
/// password without user name (`redis://:password@host`) as user "" and fails to authenticate.
fn redis_cli_url(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some((userinfo, host)) = rest[..authority_end].rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    match userinfo.strip_prefix(':') {
        Some(password) => (
            format!("{scheme}://{host}{}", &rest[authority_end..]),
            Some(password.to_owned()),
        ),
        None => (url.to_owned(), None),
    }
}

fn remove_markers(state: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(state).with_context(|| format!("listing {}", state.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", state.display()))?
            .path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("seeded-"))
        {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_series_of_a_counter_and_nothing_else() {
        let text = "\
# HELP roost_events_accepted_total Events accepted.
# TYPE roost_events_accepted_total counter
roost_events_accepted_total{application=\"bench\"} 1500
roost_events_accepted_total{application=\"roost\"} 25
roost_events_accepted_total_extra 1000000
roost_ingest_events_stored_total 2e3
";
        assert_eq!(metric_sum(text, "roost_events_accepted_total"), 1525);
        assert_eq!(metric_sum(text, "roost_ingest_events_stored_total"), 2000);
        assert_eq!(metric_sum(text, "roost_missing_total"), 0);
    }

    #[test]
    fn redis_cli_gets_a_password_without_user_name_from_the_environment() {
        let (url, password) = redis_cli_url("redis://:roost@127.0.0.1:56381/0");
        assert_eq!(
            (url.as_str(), password.as_deref()),
            ("redis://127.0.0.1:56381/0", Some("roost"))
        );
        let with_user = "redis://default:roost@127.0.0.1:56381/0";
        assert_eq!(redis_cli_url(with_user), (with_user.to_owned(), None));
        let open = "redis://127.0.0.1:6379";
        assert_eq!(redis_cli_url(open), (open.to_owned(), None));
    }
}

//! What a benchmark run measured, checked against [`super::scenario::SCENARIOS`], as a serde
//! [`Report`] (`.roost/bench/report.json`) and its markdown rendering (`report.md`).

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::scenario::{Figures, Scenario};

/// The summary line the wrk script (`bench/wrk/roost.lua`, `done()`) writes for a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrkSummary {
    /// The scenario wrk ran.
    pub scenario: String,
    /// Requests answered (any status).
    pub requests: u64,
    /// How long wrk ran, seconds.
    pub seconds: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 90th percentile latency, ms.
    pub p90_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// Answers with a status other than 2xx (or 3xx).
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors.
    pub socket_errors: u64,
}

impl WrkSummary {
    /// The summary of `scenario` in the wrk script's output file (the last line naming it).
    pub fn parse(output: &str, scenario: &str) -> anyhow::Result<Self> {
        let mut found = None;
        for line in output.lines().filter(|line| !line.trim().is_empty()) {
            let summary: Self = serde_json::from_str(line).with_context(|| {
                format!("the wrk script wrote a line that is not a summary: {line}")
            })?;
            if summary.scenario == scenario {
                found = Some(summary);
            }
        }
        match found {
            Some(summary) => Ok(summary),
            None => bail!("the wrk script wrote no summary for {scenario}"),
        }
    }
}

/// The JSON line `roost-api hash-rate` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashRate {
    /// Threads of the hashing pool.
    pub workers: u32,
    /// argon2id verifications done.
    pub verifications: u64,
    /// Over this many seconds.
    pub seconds: f64,
}

/// What one scenario measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measurement {
    /// A wrk run.
    Wrk(WrkSummary),
    /// The worker stored `events` events in `seconds`.
    Drain {
        /// Events stored (or found to be duplicates).
        events: u64,
        /// Seconds from the worker's start until the last was stored.
        seconds: f64,
    },
    /// The hashing pool's raw rate.
    HashRate(HashRate),
}

impl Measurement {
    /// The figures a target is checked against.
    pub fn figures(&self, scenario: &Scenario) -> Figures {
        match self {
            Self::Wrk(wrk) if wrk.seconds > 0.0 => {
                // wrk counts answered requests; only the successful ones count as throughput.
                let rate = wrk.requests.saturating_sub(wrk.non_2xx) as f64 / wrk.seconds;
                Figures {
                    requests_per_second: Some(rate),
                    events_per_second: (scenario.events_per_request > 0)
                        .then(|| rate * f64::from(scenario.events_per_request)),
                    p50_ms: Some(wrk.p50_ms),
                    p90_ms: Some(wrk.p90_ms),
                    p99_ms: Some(wrk.p99_ms),
                    errors: Some(wrk.non_2xx + wrk.socket_errors),
                }
            }
            Self::Drain { events, seconds } if *seconds > 0.0 => Figures {
                events_per_second: Some(*events as f64 / seconds),
                ..Figures::default()
            },
            Self::HashRate(hash) if hash.seconds > 0.0 => Figures {
                requests_per_second: Some(hash.verifications as f64 / hash.seconds),
                ..Figures::default()
            },
            _ => Figures::default(),
        }
    }
}

/// One scenario's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub scenario: &'static str,
    /// What it measures.
    pub measures: &'static str,
    /// The SPEC §5 row its target comes from (empty: none).
    pub spec: &'static str,
    /// The raw measurement.
    pub measurement: Measurement,
    /// The figures derived from it.
    pub figures: Figures,
    /// The target in words (`None`: no target).
    pub target: Option<String>,
    /// Whether the target was met (`None`: no target).
    pub met: Option<bool>,
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// CPU cores available to the run.
    pub cores: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
}

/// The seeded data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSet {
    /// Users.
    pub users: u64,
    /// Subscriptions per user.
    pub subscriptions: u64,
    /// Posts.
    pub posts: u64,
    /// Stored events at the start of the run.
    pub events: u64,
}

/// How wrk loaded the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadSettings {
    /// Connections per scenario.
    pub connections: u32,
    /// Connections of the login scenario.
    pub login_connections: u32,
    /// wrk threads.
    pub threads: u32,
    /// Duration of each scenario (wrk's syntax).
    pub duration: String,
}

/// The API process's resident memory after a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemorySample {
    /// `start`, or the scenario it follows.
    pub after: String,
    /// Resident memory (VmRSS), MiB.
    pub rss_mib: f64,
    /// Peak resident memory (VmHWM), MiB.
    pub peak_mib: f64,
}

impl MemorySample {
    /// The sample in a `/proc/<pid>/status` text.
    pub fn from_status(after: &str, status: &str) -> anyhow::Result<Self> {
        let kib = |field: &str| -> anyhow::Result<f64> {
            let line = status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .with_context(|| format!("no {field} line in the process status"))?;
            let value = line.trim().trim_end_matches("kB").trim();
            value
                .parse::<f64>()
                .with_context(|| format!("{field} {value}"))
        };
        Ok(Self {
            after: after.to_owned(),
            rss_mib: kib("VmRSS:")? / 1024.0,
            peak_mib: kib("VmHWM:")? / 1024.0,
        })
    }
}

/// A benchmark run: settings, one result per scenario, memory samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// When the run started (UTC, RFC 3339).
    pub started_at: String,
    /// When the report was written.
    pub finished_at: String,
    /// The machine.
    pub machine: Machine,
    /// The data set.
    pub data: DataSet,
    /// The load.
    pub load: LoadSettings,
    /// One result per scenario, in the order they ran.
    pub results: Vec<ScenarioResult>,
    /// The API's memory at the start and after each scenario.
    pub memory: Vec<MemorySample>,
}

impl Report {
    /// Checks each measurement against its scenario's target. The login target depends on the
    /// run's `hash_rate` measurement, wherever it ran.
    pub fn results(measured: Vec<(&'static Scenario, Measurement)>) -> Vec<ScenarioResult> {
        let hash_rate = measured.iter().find_map(|(scenario, measurement)| {
            matches!(measurement, Measurement::HashRate(_))
                .then(|| measurement.figures(scenario).requests_per_second)
                .flatten()
        });
        measured
            .into_iter()
            .map(|(scenario, measurement)| {
                let figures = measurement.figures(scenario);
                ScenarioResult {
                    scenario: scenario.name,
                    measures: scenario.measures,
                    spec: scenario.spec,
                    target: scenario.target.describe(hash_rate),
                    met: scenario.target.met(&figures, hash_rate),
                    measurement,
                    figures,
                }
            })
            .collect()
    }

    /// How many targets were met, of how many.
    pub fn targets_met(&self) -> (usize, usize) {
        let checked = self.results.iter().filter_map(|result| result.met);
        let (met, total) = checked.fold((0, 0), |(met, total), ok| {
            (met + usize::from(ok), total + 1)
        });
        (met, total)
    }

    /// The report as markdown: a header, one table row per scenario, the memory table.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) -> std::fmt::Result {
        let Self {
            machine,
            data,
            load,
            ..
        } = self;
        writeln!(out, "# Roost benchmark, {}\n", self.started_at)?;
        writeln!(
            out,
            "Machine: {} cores, {:.0} GiB RAM; data: {} users × {} subscriptions, {} posts, {} events.",
            machine.cores,
            machine.memory_gib,
            data.users,
            data.subscriptions,
            data.posts,
            data.events
        )?;
        writeln!(
            out,
            "Load: wrk, {} connections, {} threads, {} per scenario, on the same cores.",
            load.connections, load.threads, load.duration
        )?;
        writeln!(
            out,
            "Event scenarios run with the worker stopped; drain times it storing their backlog.\n"
        )?;
        writeln!(
            out,
            "| scenario | req/s | events/s | p50 ms | p90 ms | p99 ms | errors | target | met |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|")?;
        for result in &self.results {
            writeln!(out, "{}", markdown_row(result))?;
        }
        if !self.memory.is_empty() {
            writeln!(
                out,
                "\nroost-api resident memory (the login storm hashes with 19 MiB per argon2id run):\n"
            )?;
            writeln!(out, "| after | RSS MiB | peak RSS MiB |\n|---|---:|---:|")?;
            for sample in &self.memory {
                writeln!(
                    out,
                    "| {} | {:.1} | {:.1} |",
                    sample.after, sample.rss_mib, sample.peak_mib
                )?;
            }
        }
        Ok(())
    }
}

/// One scenario's markdown table row.
fn markdown_row(result: &ScenarioResult) -> String {
    let figures = &result.figures;
    let cell = |value: Option<f64>, decimals: usize| {
        value.map(|v| format!("{v:.decimals$}")).unwrap_or_default()
    };
    let target = result.target.clone().unwrap_or_default();
    let met = match result.met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "",
    };
    let name = match &result.measurement {
        Measurement::HashRate(hash) => format!("{} ({} threads)", result.scenario, hash.workers),
        _ => result.scenario.to_owned(),
    };
    let target = match &result.measurement {
        // The raw rate is what the login target is made of, not a target itself.
        Measurement::HashRate(_) if target.is_empty() => result.measures.to_owned(),
        _ => target,
    };
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {target} | {met} |",
        cell(figures.requests_per_second, 1),
        cell(figures.events_per_second, 0),
        cell(figures.p50_ms, 2),
        cell(figures.p90_ms, 2),
        cell(figures.p99_ms, 2),
        figures.errors.map(|e| e.to_string()).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::scenario::find;
    use super::*;

    const WRK_OUT: &str = concat!(
        r#"{"scenario":"feed","requests":30150,"seconds":10.002,"p50_ms":30.125,"p90_ms":41.500,"#,
        r#""p99_ms":62.250,"max_ms":120.000,"non_2xx":150,"socket_errors":3}"#,
        "\n",
    );

    fn wrk(scenario: &str, requests: u64, seconds: f64, p99_ms: f64, non_2xx: u64) -> Measurement {
        Measurement::Wrk(WrkSummary {
            scenario: scenario.to_owned(),
            requests,
            seconds,
            p50_ms: 1.0,
            p90_ms: 2.0,
            p99_ms,
            max_ms: 9.0,
            non_2xx,
            socket_errors: 0,
        })
    }

    fn report(results: Vec<ScenarioResult>, memory: Vec<MemorySample>) -> Report {
        Report {
            started_at: "2026-01-02T03:04:05Z".to_owned(),
            finished_at: "2026-01-02T03:14:05Z".to_owned(),
            machine: Machine {
                cores: 2,
                memory_gib: 7.8,
            },
            data: DataSet {
                users: 2000,
                subscriptions: 2,
                posts: 20000,
                events: 20000,
            },
            load: LoadSettings {
                connections: 100,
                login_connections: 8,
                threads: 2,
                duration: "3s".to_owned(),
            },
            results,
            memory,
        }
    }

    #[test]
    fn parses_the_wrk_scripts_summary_line() {
        let summary = WrkSummary::parse(WRK_OUT, "feed").unwrap();
        assert_eq!(summary.requests, 30150);
        assert_eq!(summary.p99_ms, 62.25);
        assert_eq!(summary.non_2xx, 150);
        assert_eq!(summary.socket_errors, 3);
        let error = WrkSummary::parse(WRK_OUT, "login").unwrap_err();
        assert!(error.to_string().contains("no summary for login"));
        assert!(WrkSummary::parse("wrk: not json\n", "feed").is_err());
    }

    #[test]
    fn throughput_counts_successful_requests_only() {
        let feed = find("feed").unwrap();
        let summary = WrkSummary::parse(WRK_OUT, "feed").unwrap();
        let figures = Measurement::Wrk(summary).figures(feed);
        let rate = figures.requests_per_second.unwrap();
        assert!((rate - 30000.0 / 10.002).abs() < 1e-9);
        assert_eq!(figures.events_per_second, None);
        assert_eq!(figures.errors, Some(153));
    }

    #[test]
    fn batches_count_a_hundred_events_per_request() {
        let batch = find("events_batch").unwrap();
        let figures = wrk("events_batch", 2000, 1.0, 50.0, 0).figures(batch);
        assert_eq!(figures.events_per_second, Some(200_000.0));
    }

    #[test]
    fn renders_the_markdown_report() {
        let measured = vec![
            (find("feed").unwrap(), wrk("feed", 6000, 1.0, 12.5, 0)),
            (
                find("users_page").unwrap(),
                wrk("users_page", 100, 1.0, 25.0, 10),
            ),
            (
                find("hash_rate").unwrap(),
                Measurement::HashRate(HashRate {
                    workers: 1,
                    verifications: 250,
                    seconds: 5.0,
                }),
            ),
            (find("login").unwrap(), wrk("login", 47, 1.0, 150.0, 0)),
            (
                find("events_batch").unwrap(),
                wrk("events_batch", 1000, 1.0, 80.0, 0),
            ),
            (
                find("drain").unwrap(),
                Measurement::Drain {
                    events: 100_000,
                    seconds: 2.5,
                },
            ),
        ];
        let memory = vec![MemorySample {
            after: "start".to_owned(),
            rss_mib: 20.04,
            peak_mib: 21.0,
        }];
        let report = report(Report::results(measured), memory);
        let expected = "\
# Roost benchmark, 2026-01-02T03:04:05Z

Machine: 2 cores, 8 GiB RAM; data: 2000 users × 2 subscriptions, 20000 posts, 20000 events.
Load: wrk, 100 connections, 2 threads, 3s per scenario, on the same cores.
Event scenarios run with the worker stopped; drain times it storing their backlog.

| scenario | req/s | events/s | p50 ms | p90 ms | p99 ms | errors | target | met |
|---|---:|---:|---:|---:|---:|---:|---|---|
| feed | 6000.0 |  | 1.00 | 2.00 | 12.50 | 0 | >= 5000 req/s, p99 < 20 ms | yes |
| users_page | 90.0 |  | 1.00 | 2.00 | 25.00 | 10 | p99 < 20 ms | **no** |
| hash_rate (1 threads) | 50.0 |  |  |  |  |  | raw argon2id rate of the login pool |  |
| login | 47.0 |  | 1.00 | 2.00 | 150.00 | 0 | >= 45.0 req/s (90 % of hash_rate) | yes |
| events_batch | 1000.0 | 100000 | 1.00 | 2.00 | 80.00 | 0 | >= 150000 events/s | **no** |
| drain |  | 40000 |  |  |  |  | >= 30000 events/s | yes |

roost-api resident memory (the login storm hashes with 19 MiB per argon2id run):

| after | RSS MiB | peak RSS MiB |
|---|---:|---:|
| start | 20.0 | 21.0 |
";
        assert_eq!(report.to_markdown(), expected);
        assert_eq!(report.targets_met(), (3, 5));
    }

    #[test]
    fn the_json_report_keeps_the_raw_measurements_and_the_verdicts() {
        let measured = vec![(
            find("drain").unwrap(),
            Measurement::Drain {
                events: 10,
                seconds: 1.0,
            },
        )];
        let json = serde_json::to_value(report(Report::results(measured), vec![])).unwrap();
        let drain = &json["results"][0];
        assert_eq!(drain["measurement"]["kind"], "drain");
        assert_eq!(drain["measurement"]["events"], 10);
        assert_eq!(drain["figures"]["events_per_second"], 10.0);
        assert_eq!(drain["met"], false);
        assert_eq!(drain["target"], ">= 30000 events/s");
        assert!(drain["spec"].as_str().unwrap().contains("30,000 events/s"));
    }

    #[test]
    fn reads_memory_from_proc_status() {
        let status = "Name:\troost-api\nVmHWM:\t   65536 kB\nVmRSS:\t   51200 kB\n";
        let sample = MemorySample::from_status("feed", status).unwrap();
        assert_eq!((sample.rss_mib, sample.peak_mib), (50.0, 64.0));
        assert!(MemorySample::from_status("feed", "Name: x\n").is_err());
    }
}

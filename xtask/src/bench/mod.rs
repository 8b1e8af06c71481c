//! `cargo xtask bench` (`make bench`): the SPEC §5 benchmarks against release builds on a
//! private stack (profile "bench": PostgreSQL :55434, Redis :56381, API :18080, metrics
//! :19464 and :19465).
//!
//! It seeds the data set once (kept in `.roost/bench/`), runs each scenario of
//! [`scenario::SCENARIOS`] with wrk and `bench/wrk/roost.lua` on the same machine, times the
//! worker's drain, samples the API's memory, and writes the [`report::Report`] to
//! `.roost/bench/report.json` and `.roost/bench/report.md`. Unmet targets are reported, not
//! failed: the exit status says whether the benchmark ran. Whatever it started (the API, the
//! worker, wrk, the stack) is stopped on the way out, on error and on SIGINT/SIGTERM too.

mod report;
mod run;
mod scenario;
mod setup;

use std::str::FromStr;

use clap::builder::BoolishValueParser;

pub use run::run;
use scenario::Scenario;

/// `cargo xtask bench`: every setting is a flag and an environment variable.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Seeded users (the seed's follow pattern needs SUBS × 997 < USERS).
    #[arg(long, env = "BENCH_USERS", default_value_t = 100_000)]
    pub users: u64,
    /// Seeded posts.
    #[arg(long, env = "BENCH_POSTS", default_value_t = 1_000_000)]
    pub posts: u64,
    /// Subscriptions per seeded user.
    #[arg(long, env = "BENCH_SUBS", default_value_t = 100)]
    pub subs: u64,
    /// Stored events, reset before every run.
    #[arg(long, env = "BENCH_EVENTS", default_value_t = 1_000_000)]
    pub events: u64,
    /// How long wrk runs each scenario (wrk's syntax: 10s, 2m, 1h).
    #[arg(long, env = "BENCH_DURATION", default_value = "10s")]
    pub duration: WrkDuration,
    /// wrk connections per scenario.
    #[arg(long, env = "BENCH_CONNECTIONS", default_value_t = 100)]
    pub connections: u32,
    /// wrk threads.
    #[arg(long, env = "BENCH_THREADS", default_value_t = 2)]
    pub threads: u32,
    /// wrk connections of the login storm (logins queue for the hashing pool: a few saturate it).
    #[arg(long, env = "BENCH_LOGIN_CONNECTIONS", default_value_t = 8)]
    pub login_connections: u32,
    /// The scenarios to run, in order, separated by spaces or commas (default: all, reads
    /// first, drain last).
    #[arg(long, env = "BENCH_SCENARIOS")]
    pub scenarios: Option<Selection>,
    /// Seed the data set again (BENCH_RESEED=1), even when the seeded one has these sizes.
    #[arg(long, env = "BENCH_RESEED", value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub reseed: bool,
}

/// A progress line on standard error.
fn log(message: impl std::fmt::Display) {
    eprintln!("[bench] {message}");
}

/// A duration in wrk's syntax: a number of seconds, or a number with `s`, `m` or `h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrkDuration(String);

impl FromStr for WrkDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.strip_suffix(['s', 'm', 'h']).unwrap_or(text);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.bytes().all(|b| b == b'0')
        {
            return Err(format!("`{text}` is not a wrk duration (e.g. 10s, 2m, 1h)"));
        }
        Ok(Self(text.to_owned()))
    }
}

impl std::fmt::Display for WrkDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scenarios to run, in order.
#[derive(Debug, Clone)]
pub struct Selection(Vec<&'static Scenario>);

impl FromStr for Selection {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        scenario::select(list).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn durations_follow_wrks_syntax() {
        for good in ["10s", "3s", "2m", "1h", "30"] {
            assert!(good.parse::<WrkDuration>().is_ok(), "{good}");
        }
        for bad in ["", "s", "0s", "1.5s", "10 s", "-1s", "10ms"] {
            assert!(bad.parse::<WrkDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_parse_and_default_like_the_environment_settings() {
        let cli = Cli::try_parse_from([
            "bench",
            "--users",
            "2000",
            "--scenarios",
            "feed drain",
            "--reseed",
        ])
        .unwrap();
        assert_eq!(cli.bench.users, 2000);
        assert!(cli.bench.reseed);
        let names: Vec<&str> = cli
            .bench
            .scenarios
            .unwrap()
            .0
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["feed", "drain"]);
        assert!(Cli::try_parse_from(["bench", "--scenarios", "nope"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--duration", "ten"]).is_err());
    }
}

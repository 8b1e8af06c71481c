//! The benchmark's scenarios and their SPEC §5 targets: one typed table, [`SCENARIOS`].
//!
//! A scenario's name is also the `BENCH_SCENARIO` the wrk script (`bench/wrk/roost.lua`) knows;
//! its target is the SPEC §5 row quoted in [`Scenario::spec`]. Nothing else in the benchmark
//! states a target.

/// One benchmark scenario: what it loads, how, and what it must reach.
#[derive(Debug)]
pub struct Scenario {
    /// The name used by `BENCH_SCENARIOS`, the wrk script and the report.
    pub name: &'static str,
    /// What is measured, in words (the report's `measures` field).
    pub measures: &'static str,
    /// How the load is made.
    pub load: Load,
    /// Events carried by one successful request (0: not an event scenario).
    pub events_per_request: u32,
    /// What the scenario must reach.
    pub target: Target,
    /// The SPEC §5 row the target comes from, quoted (empty: no SPEC §5 target).
    pub spec: &'static str,
}

/// How a scenario's load is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// wrk runs the Lua script's scenario of the same name for the run's duration.
    Wrk {
        /// How many connections wrk opens.
        connections: Connections,
        /// Whether the ingest worker runs meanwhile.
        worker: Worker,
    },
    /// The worker is started on the backlog the stopped-worker scenarios left in the stream
    /// (or on one `events_batch` run's worth when it ran alone) and timed until it has stored it.
    Drain,
    /// `roost-api hash-rate`: the hashing pool's raw argon2id verification rate.
    HashRate,
}

/// The number of wrk connections of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// `--connections` (BENCH_CONNECTIONS, 100).
    Default,
    /// `--login-connections` (BENCH_LOGIN_CONNECTIONS, 8): logins queue for the hashing pool
    /// (tens per second), so a few connections saturate it.
    Login,
}

/// Whether the ingest worker runs during a wrk scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// The worker runs (started again if an earlier scenario stopped it).
    Running,
    /// The worker is stopped: the event scenarios measure what the API accepts (in a deployment
    /// the worker runs on other nodes; here it would share the same 2 cores).
    Stopped,
}

/// A scenario's target: a least rate and/or a p99 bound. Both `None`: no target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The least rate.
    pub rate: Option<Rate>,
    /// The p99 latency must stay below this many milliseconds.
    pub p99_below_ms: Option<f64>,
}

/// A least rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// At least this many successful requests per second.
    Requests(f64),
    /// At least this many events per second (accepted, or stored by the worker).
    Events(f64),
    /// At least this share of the `hash_rate` scenario's raw verification rate, in successful
    /// requests per second (no target when `hash_rate` did not run).
    HashRateShare(f64),
}

/// Every scenario, in the default running order: reads first (the event scenarios leave
/// millions of fresh rows for autovacuum behind them), `drain` last (it times the event
/// scenarios' backlog).
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "posts_create",
        measures: "POST /v1/posts (with its outbox row)",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Running,
        },
        events_per_request: 0,
        target: Target {
            rate: Some(Rate::Requests(3000.0)),
            p99_below_ms: Some(20.0),
        },
        spec: "`POST /v1/posts` (with its outbox row) | ≥ 3,000 req/s, p99 < 20 ms",
    },
    Scenario {
        name: "me_posts_search",
        measures: "GET /v1/me/posts?title= (one word)",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Running,
        },
        events_per_request: 0,
        target: Target {
            rate: Some(Rate::Requests(8000.0)),
            p99_below_ms: Some(20.0),
        },
        spec: "`GET /v1/me/posts?title=` at 1M posts | ≥ 8,000 req/s, p99 < 20 ms",
    },
    Scenario {
        name: "subscriptions_posts",
        measures: "GET /v1/subscriptions/posts (3 usernames + text)",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Running,
        },
        events_per_request: 0,
        target: Target {
            rate: Some(Rate::Requests(2000.0)),
            p99_below_ms: Some(50.0),
        },
        spec: "`GET /v1/subscriptions/posts` with filters at 1M posts | ≥ 2,000 req/s, p99 < 50 ms",
    },
    Scenario {
        name: "feed",
        measures: "GET /v1/feed (100 subscriptions)",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Running,
        },
        events_per_request: 0,
        target: Target {
            rate: Some(Rate::Requests(5000.0)),
            p99_below_ms: Some(20.0),
        },
        spec: "`GET /v1/feed` (100 subscriptions) | ≥ 5,000 req/s, p99 < 20 ms",
    },
    Scenario {
        name: "users_page",
        measures: "GET /v1/users?limit=20",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Running,
        },
        events_per_request: 0,
        target: Target {
            rate: None,
            p99_below_ms: Some(20.0),
        },
        spec: "`GET /v1/users` page at 100k users | p99 < 20 ms",
    },
    Scenario {
        name: "hash_rate",
        measures: "raw argon2id rate of the login pool",
        load: Load::HashRate,
        events_per_request: 0,
        target: Target {
            rate: None,
            p99_below_ms: None,
        },
        spec: "",
    },
    Scenario {
        name: "login",
        measures: "POST /v1/auth/login storm",
        load: Load::Wrk {
            connections: Connections::Login,
            worker: Worker::Running,
        },
        events_per_request: 0,
        target: Target {
            rate: Some(Rate::HashRateShare(0.9)),
            p99_below_ms: None,
        },
        spec: "login | hashing on a bounded pool (cores − 1, at least 1); logins/s ≥ 90 % of \
               that pool's raw argon2id rate",
    },
    Scenario {
        name: "events_single",
        measures: "POST /v1/events, one event per request, worker stopped",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Stopped,
        },
        events_per_request: 1,
        target: Target {
            rate: Some(Rate::Requests(30000.0)),
            p99_below_ms: Some(10.0),
        },
        spec: "`POST /v1/events`, one event per request | ≥ 30,000 req/s, p99 < 10 ms",
    },
    Scenario {
        name: "events_batch",
        measures: "POST /v1/events, batches of 100, worker stopped",
        load: Load::Wrk {
            connections: Connections::Default,
            worker: Worker::Stopped,
        },
        events_per_request: 100,
        target: Target {
            rate: Some(Rate::Events(150_000.0)),
            p99_below_ms: None,
        },
        spec: "`POST /v1/events`, batches of 100 | ≥ 150,000 events/s accepted",
    },
    Scenario {
        name: "drain",
        measures: "the worker storing the event backlog in PostgreSQL (idempotent)",
        load: Load::Drain,
        events_per_request: 0,
        target: Target {
            rate: Some(Rate::Events(30000.0)),
            p99_below_ms: None,
        },
        spec: "worker drain into PostgreSQL (idempotent) | ≥ 30,000 events/s sustained",
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|scenario| scenario.name == name)
}

/// The scenarios named in `list` (separated by spaces and/or commas), in that order.
pub fn select(list: &str) -> Result<Vec<&'static Scenario>, String> {
    let chosen = list
        .split([' ', ',', '\t', '\n'])
        .filter(|name| !name.is_empty())
        .map(|name| {
            find(name).ok_or_else(|| {
                let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                format!("unknown scenario `{name}` (known: {})", known.join(" "))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if chosen.is_empty() {
        return Err("no scenario named".to_owned());
    }
    Ok(chosen)
}

impl Target {
    /// The target in words, as the report shows it (`None`: no target, or a share of a hash
    /// rate that was not measured).
    pub fn describe(&self, hash_rate: Option<f64>) -> Option<String> {
        let mut parts = Vec::new();
        match self.rate {
            Some(Rate::Requests(least)) => parts.push(format!(">= {least:.0} req/s")),
            Some(Rate::Events(least)) => parts.push(format!(">= {least:.0} events/s")),
            Some(Rate::HashRateShare(share)) => {
                if let Some(raw) = hash_rate {
                    parts.push(format!(
                        ">= {:.1} req/s ({:.0} % of hash_rate)",
                        raw * share,
                        share * 100.0
                    ));
                }
            }
            None => {}
        }
        if let Some(bound) = self.p99_below_ms {
            parts.push(format!("p99 < {bound:.0} ms"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Whether `figures` meet the target (`None`: nothing to meet).
    pub fn met(&self, figures: &Figures, hash_rate: Option<f64>) -> Option<bool> {
        let rate = match self.rate {
            Some(Rate::Requests(least)) => Some(figures.requests_per_second? >= least),
            Some(Rate::Events(least)) => Some(figures.events_per_second? >= least),
            Some(Rate::HashRateShare(share)) => {
                hash_rate.and_then(|raw| Some(figures.requests_per_second? >= raw * share))
            }
            None => None,
        };
        let latency = match self.p99_below_ms {
            Some(bound) => Some(figures.p99_ms? < bound),
            None => None,
        };
        match (rate, latency) {
            (None, None) => None,
            (rate, latency) => Some(rate.unwrap_or(true) && latency.unwrap_or(true)),
        }
    }
}

/// The figures a target is checked against (`None`: not measured by the scenario).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    /// Successful requests per second.
    pub requests_per_second: Option<f64>,
    /// Events per second (accepted by the API, or stored by the worker).
    pub events_per_second: Option<f64>,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Requests answered with a status other than 2xx, plus socket errors.
    pub errors: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(requests: f64, events: Option<f64>, p99: f64) -> Figures {
        Figures {
            requests_per_second: Some(requests),
            events_per_second: events,
            p99_ms: Some(p99),
            ..Figures::default()
        }
    }

    #[test]
    fn names_are_unique_and_known_to_the_wrk_script() {
        let lua = include_str!("../../../bench/wrk/roost.lua");
        for (i, scenario) in SCENARIOS.iter().enumerate() {
            assert!(
                SCENARIOS[..i]
                    .iter()
                    .all(|other| other.name != scenario.name),
                "{} twice",
                scenario.name
            );
            if matches!(scenario.load, Load::Wrk { .. }) {
                assert!(
                    lua.contains(&format!("  {} = function()", scenario.name)),
                    "bench/wrk/roost.lua has no scenario {}",
                    scenario.name
                );
            }
        }
    }

    #[test]
    fn every_target_quotes_its_spec_row() {
        for scenario in SCENARIOS {
            let has_target =
                scenario.target.rate.is_some() || scenario.target.p99_below_ms.is_some();
            assert_eq!(has_target, !scenario.spec.is_empty(), "{}", scenario.name);
        }
    }

    #[test]
    fn drain_runs_last_and_reads_run_before_the_event_scenarios() {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        assert_eq!(names.last(), Some(&"drain"));
        let first_event = names.iter().position(|n| n.starts_with("events_"));
        let last_read = names
            .iter()
            .rposition(|n| ["feed", "users_page"].contains(n));
        assert!(last_read < first_event);
    }

    #[test]
    fn rate_and_latency_must_both_hold() {
        let posts = find("posts_create").unwrap().target;
        assert_eq!(posts.met(&figures(3000.0, None, 19.9), None), Some(true));
        assert_eq!(posts.met(&figures(2999.9, None, 5.0), None), Some(false));
        assert_eq!(
            posts.met(&figures(9000.0, None, 20.0), None),
            Some(false),
            "p99 < 20 is strict"
        );
        assert_eq!(
            posts.describe(None).as_deref(),
            Some(">= 3000 req/s, p99 < 20 ms")
        );
    }

    #[test]
    fn latency_only_and_event_rate_targets() {
        let users = find("users_page").unwrap().target;
        assert_eq!(users.met(&figures(1.0, None, 19.0), None), Some(true));
        assert_eq!(users.met(&figures(99999.0, None, 21.0), None), Some(false));
        assert_eq!(users.describe(None).as_deref(), Some("p99 < 20 ms"));

        let batch = find("events_batch").unwrap().target;
        assert_eq!(
            batch.met(&figures(1500.0, Some(150_000.0), 900.0), None),
            Some(true)
        );
        assert_eq!(
            batch.met(&figures(1499.0, Some(149_900.0), 1.0), None),
            Some(false)
        );
        assert_eq!(batch.describe(None).as_deref(), Some(">= 150000 events/s"));
    }

    #[test]
    fn login_is_held_to_ninety_percent_of_the_measured_hash_rate() {
        let login = find("login").unwrap().target;
        assert_eq!(
            login.met(&figures(45.0, None, 300.0), Some(50.0)),
            Some(true)
        );
        assert_eq!(
            login.met(&figures(44.9, None, 1.0), Some(50.0)),
            Some(false)
        );
        assert_eq!(
            login.describe(Some(50.0)).as_deref(),
            Some(">= 45.0 req/s (90 % of hash_rate)")
        );
        // Without hash_rate in the run there is nothing to hold it to.
        assert_eq!(login.met(&figures(45.0, None, 1.0), None), None);
        assert_eq!(login.describe(None), None);
    }

    #[test]
    fn no_target_is_neither_met_nor_missed() {
        let hash = find("hash_rate").unwrap().target;
        assert_eq!(hash.met(&figures(1.0, None, 1.0), None), None);
        assert_eq!(hash.describe(None), None);
    }

    #[test]
    fn selection_keeps_the_order_and_refuses_unknown_names() {
        let chosen = select(" drain,feed  login ").unwrap();
        let names: Vec<&str> = chosen.iter().map(|s| s.name).collect();
        assert_eq!(names, ["drain", "feed", "login"]);
        assert!(
            select("feed nope")
                .unwrap_err()
                .contains("unknown scenario `nope`")
        );
        assert!(select("  ").is_err());
    }
}

use std::collections::{BTreeSet, HashMap};

use super::{catalogue::Default, *};

fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::from_lookup(|k| map.get(k).cloned())
}

const BASE: [(&str, &str); 2] = [
    ("ROOST_DATABASE_URL", "postgres://u:p@127.0.0.1/db"),
    ("ROOST_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
];

#[test]
fn defaults_apply() {
    let s = load(&BASE).unwrap();
    assert_eq!(s.http.addr.port(), 8080);
    assert_eq!(s.limits.daily_post_limit, None);
    assert_eq!(s.limits.subscription_limit, 100);
    assert_eq!(s.auth.login_window, Duration::from_secs(900));
    assert!(s.auth.hash_workers >= 1);
    assert!(s.auth.admin_token.is_none());
}

#[test]
fn overrides_and_errors_name_the_variable() {
    let mut pairs = BASE.to_vec();
    pairs.push(("ROOST_DAILY_POST_LIMIT", "5"));
    assert_eq!(load(&pairs).unwrap().limits.daily_post_limit, Some(5));
    pairs.push(("ROOST_HTTP_ADDR", "not-an-addr"));
    let err = load(&pairs).unwrap_err().to_string();
    assert!(err.contains("ROOST_HTTP_ADDR"), "{err}");
}

#[test]
fn short_secrets_are_refused() {
    assert!(load(&BASE[..1]).unwrap().auth.jwt_secret.is_none());
    let err = load(&[BASE[0], ("ROOST_JWT_SECRET", "short")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("32"), "{err}");
}

#[test]
fn the_database_url_is_required_and_may_come_from_database_url() {
    let err = load(&[]).unwrap_err().to_string();
    assert!(
        err.contains("ROOST_DATABASE_URL (or DATABASE_URL) must be set"),
        "{err}"
    );
    let s = load(&[("DATABASE_URL", "postgres://other/db")]).unwrap();
    assert_eq!(s.database.url(), "postgres://other/db");
    // The Roost variable wins.
    let s = load(&[BASE[0], ("DATABASE_URL", "postgres://other/db")]).unwrap();
    assert_eq!(s.database.url(), "postgres://u:p@127.0.0.1/db");
}

/// The rules that are not plain parsing: blank is unset, limits are at least 1, `0` is "off",
/// the origin lists are read exactly (empty means none), numbers are trimmed.
#[test]
fn special_rules_hold() {
    let s = load(&[
        BASE[0],
        ("ROOST_REDIS_KEY_PREFIX", "   "),
        ("ROOST_INGEST_CONSUMERS", "0"),
        ("ROOST_JOB_MAX_ATTEMPTS", "0"),
        ("ROOST_DAILY_POST_LIMIT", "0"),
        ("ROOST_INGEST_CORS_ALLOWED_ORIGINS", ""),
        (
            "ROOST_CORS_ALLOWED_ORIGINS",
            " https://a.example , ,https://b.example",
        ),
        ("ROOST_SUBSCRIPTION_LIMIT", " 7 "),
    ])
    .unwrap();
    assert_eq!(s.redis.key_prefix, "roost:");
    assert_eq!(s.pipeline.consumers, 1);
    assert_eq!(s.jobs.max_attempts, 1);
    assert_eq!(s.limits.daily_post_limit, None);
    assert!(s.http.ingest_cors_origins.is_empty());
    assert_eq!(
        s.http.cors_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(s.limits.subscription_limit, 7);
    let s = load(&BASE).unwrap();
    assert_eq!(s.http.ingest_cors_origins, ["*"]);
    assert!(s.http.cors_origins.is_empty());
}

#[test]
fn secrets_can_come_from_files() {
    let dir = std::env::temp_dir().join(format!("roost-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("jwt");
    std::fs::write(&secret, "from-a-file-0123456789abcdef0123456789\n").unwrap();
    let url = dir.join("url");
    std::fs::write(&url, "postgres://u:p@db:5432/roost\n").unwrap();
    let s = load(&[
        ("ROOST_DATABASE_URL_FILE", url.to_str().unwrap()),
        ("ROOST_JWT_SECRET_FILE", secret.to_str().unwrap()),
    ])
    .unwrap();
    assert_eq!(s.database.url(), "postgres://u:p@db:5432/roost");
    assert_eq!(
        s.auth.jwt_secret.unwrap().expose_secret(),
        "from-a-file-0123456789abcdef0123456789"
    );
    // The variable itself wins over its file; a missing file is an error naming both.
    let s = load(&[BASE[0], ("ROOST_DATABASE_URL_FILE", "/nonexistent")]).unwrap();
    assert_eq!(s.database.url(), "postgres://u:p@127.0.0.1/db");
    let err = load(&[("ROOST_ADMIN_TOKEN_FILE", "/nonexistent/admin"), BASE[0]])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ROOST_ADMIN_TOKEN_FILE") && err.contains("/nonexistent/admin"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_output_hides_secrets() {
    let s = load(&BASE).unwrap();
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
    assert!(!dbg.contains("u:p@"), "{dbg}");
}

/// What `to_env` writes loads back into the same settings (compared through `to_env`, as
/// secrets have no equality), with every kind of value changed from its default.
#[test]
fn to_env_round_trips() {
    let mut s = Settings::for_tests();
    s.database.url = "postgres://a:b@db.example:5432/x".into();
    s.auth.admin_token = Some("admin".into());
    s.limits.daily_post_limit = Some(5);
    s.http.cors_origins = vec!["https://a.example".into(), "https://b.example".into()];
    s.http.ingest_cors_origins = Vec::new();
    s.pipeline.block = Duration::from_millis(200);
    s.pipeline.consumer_name = Some("w1".into());
    s.jobs.fetch_allow_loopback = true;
    s.telemetry.log_format = LogFormat::Pretty;
    s.telemetry.otlp_endpoint = Some("http://collector:4318".into());
    let env: HashMap<&str, String> = s.to_env().into_iter().collect();
    let back = Settings::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert_eq!(back.to_env(), s.to_env());
    assert_eq!(env["ROOST_INGEST_CORS_ALLOWED_ORIGINS"], "");
    assert_eq!(env["ROOST_INGEST_BLOCK_MS"], "200");
    assert_eq!(env["ROOST_DAILY_POST_LIMIT"], "5");
    // Unset optional settings are left out.
    let env: HashMap<&str, String> = load(&BASE[..1]).unwrap().to_env().into_iter().collect();
    assert!(!env.contains_key("ROOST_ADMIN_TOKEN") && !env.contains_key("ROOST_JWT_SECRET"));
}

#[test]
fn test_settings_listen_on_free_ports_with_their_own_prefix() {
    let (a, b) = (Settings::for_tests(), Settings::for_tests());
    assert_eq!(a.http.addr.port(), 0);
    assert_eq!(a.http.metrics_addr.port(), 0);
    assert_eq!(a.ingest_metrics_addr.port(), 0);
    assert_ne!(a.redis.key_prefix, b.redis.key_prefix);
    assert!(a.redis.key_prefix.starts_with("test:"));
    assert!(a.auth.jwt_secret.is_some());
}

/// One row per variable, each written once; every variable the loader reads is a row (the
/// rows come from the same table, so this guards the macro), with a unit and a meaning.
#[test]
fn the_catalogue_has_one_row_per_variable() {
    let rows = catalogue::all();
    let names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| [Some(r.name), r.alias])
        .flatten()
        .collect();
    assert_eq!(names.len(), rows.len() + 1, "names are unique (one alias)");
    for row in &rows {
        assert!(!row.description.is_empty(), "{} has a meaning", row.name);
        assert!(
            row.description.chars().all(|c| c != '|' && c != '\n'),
            "{}: a table cell",
            row.name
        );
    }
    let loaded: BTreeSet<&str> = load(&BASE)
        .unwrap()
        .to_env()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let listed: BTreeSet<&str> = Settings::catalogue().iter().map(|r| r.name).collect();
    assert!(loaded.is_subset(&listed), "{loaded:?} ⊆ {listed:?}");
}

/// A documented value is what an environment without the variable loads.
#[test]
fn documented_defaults_are_the_loaded_defaults() {
    let loaded: HashMap<&str, String> = load(&BASE[..1]).unwrap().to_env().into_iter().collect();
    for row in Settings::catalogue() {
        if let Default::Value(value, _) = &row.default {
            assert_eq!(
                loaded.get(row.name),
                Some(&value.to_string()),
                "{}",
                row.name
            );
        }
    }
}

fn repository_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

/// README.md's configuration table is exactly [`catalogue::markdown_table`]: the same rows
/// (variable, default, unit, meaning), in the same order. On a difference the failure names
/// the rows that differ and prints the whole table to paste.
#[test]
fn the_readme_configuration_table_matches_the_catalogue() {
    let readme = repository_file("README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README.md has a \"## Configuration\" section");
    let header = catalogue::TABLE_HEADER.lines().next().unwrap_or_default();
    let documented: Vec<&str> = section
        .lines()
        .skip_while(|l| *l != header)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(
        !documented.is_empty(),
        "README.md's configuration table starts with the line {header:?}"
    );
    let expected = catalogue::markdown_table();
    let expected: Vec<&str> = expected.lines().collect();
    if documented != expected {
        let first_cell = |l: &&str| l.split(" | ").next().unwrap_or_default().to_owned();
        let documented_rows: BTreeSet<&str> = documented.iter().copied().collect();
        let expected_rows: BTreeSet<&str> = expected.iter().copied().collect();
        let mut report = String::new();
        for row in expected.iter().filter(|r| !documented_rows.contains(*r)) {
            let found = documented.iter().find(|d| first_cell(d) == first_cell(row));
            match found {
                Some(old) => report.push_str(&format!(
                    "differs:\n  README:    {old}\n  catalogue: {row}\n"
                )),
                None => report.push_str(&format!("missing from README: {row}\n")),
            }
        }
        for row in documented.iter().filter(|r| !expected_rows.contains(*r)) {
            if !expected.iter().any(|e| first_cell(e) == first_cell(row)) {
                report.push_str(&format!("not in the catalogue: {row}\n"));
            }
        }
        panic!(
            "README.md's configuration table is not the catalogue's \
             (common/src/settings/mod.rs):\n{report}\nThe table to paste:\n{}",
            expected.join("\n")
        );
    }
}

/// Every `ROOST_*` name that README.md, DOCS.md and the chart mention is a setting (or its
/// `_FILE` form), or one of the scripts' own variables: no renamed or invented setting hides
/// in the docs.
#[test]
fn the_docs_and_the_chart_name_only_known_settings() {
    // Read by scripts, not by the binaries.
    const SCRIPT_VARIABLES: [&str; 3] = [
        "ROOST_TEST_KEEP_STACK",
        "ROOST_ST_SEED",
        "ROOST_ST_MAX_EXAMPLES",
    ];
    let known: BTreeSet<String> = catalogue::all()
        .iter()
        .flat_map(|r| [r.name.to_owned(), format!("{}_FILE", r.name)])
        .chain(SCRIPT_VARIABLES.map(str::to_owned))
        .collect();
    let mut files = vec![
        "README.md".to_owned(),
        "DOCS.md".to_owned(),
        "charts/roost/values.yaml".to_owned(),
    ];
    let templates = format!("{}/../charts/roost/templates", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&templates).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        files.push(format!("charts/roost/templates/{name}"));
    }
    let mut unknown = BTreeSet::new();
    for file in &files {
        let text = repository_file(file);
        for (at, _) in text.match_indices("ROOST_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if text[at + name.len()..].starts_with('*') {
                // A family (`ROOST_*`, `ROOST_LOGIN_*`): some setting must belong to it.
                if !known.iter().any(|k| k.starts_with(&name)) {
                    unknown.insert(format!("{file}: {name}*"));
                }
            } else if !known.contains(&name) {
                unknown.insert(format!("{file}: {name}"));
            }
        }
    }
    assert!(unknown.is_empty(), "not settings: {unknown:#?}");
}

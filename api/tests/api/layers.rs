//! The API's layers (ARCHITECTURE.md, "one-way layers"): `main` → `lib` → `routes` →
//! `service` → `store` and `domain`; `http` is usable by everything above `domain` and uses
//! nothing above it; lower layers never import higher ones nor `AppState`; and no module
//! cycle anywhere. Read from the sources (see `roost_testkit::module_graph`).

use std::path::Path;

use roost_testkit::module_graph::{cycles, read, violations};

#[test]
fn lower_layers_never_import_higher_ones_and_no_module_cycle_remains() {
    let graph = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let everything_above_domain = [
        "", "auth", "doctor", "http", "live", "metrics", "openapi", "routes", "service", "state",
        "store",
    ];
    // (layer, sub-modules exempted, what it must not use)
    let rules: [(&str, &[&str], &[&str]); 7] = [
        ("domain", &[], &everything_above_domain),
        (
            "store",
            &[],
            &[
                "", "auth", "doctor", "http", "live", "openapi", "routes", "service", "state",
            ],
        ),
        (
            "http",
            &[],
            &[
                "", "auth", "doctor", "live", "openapi", "routes", "service", "state", "store",
            ],
        ),
        (
            "service",
            &[],
            &["", "doctor", "http", "live", "openapi", "routes", "state"],
        ),
        // The WebSocket loop is the HTTP edge of `live`: it authenticates with AppState.
        (
            "live",
            &["live::socket"],
            &["", "doctor", "openapi", "routes", "service", "state"],
        ),
        (
            "auth",
            &[],
            &["", "doctor", "live", "openapi", "routes", "service"],
        ),
        ("metrics", &[], &everything_above_domain),
    ];
    let mut problems = Vec::new();
    for (layer, except, forbidden) in rules {
        // "" (the crate root) is everything: only its own items are meant.
        let forbidden: Vec<&str> = forbidden
            .iter()
            .copied()
            .filter(|f| !f.is_empty())
            .collect();
        problems.extend(violations(&graph, layer, except, &forbidden));
    }
    // The crate root's own items (`Application`, `BuildOptions`) are for `main` and tests.
    for (from, targets) in &graph {
        if !from.is_empty() && targets.contains("") {
            problems.push(format!("{from} → the crate root"));
        }
    }
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "module cycles");
}

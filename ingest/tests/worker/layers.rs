//! The worker's layers: `store` (SQL, one file per table) and the pure parts (`validate`,
//! `consumer::plan`, `consumer::read_size`) use nothing that talks to Redis or runs a loop;
//! `maintenance` is a schedule over them; no module cycle. Read from the sources (see
//! `roost_testkit::module_graph`).

use std::path::Path;

use roost_testkit::module_graph::{cycles, read, violations};

#[test]
fn the_worker_s_layers_are_one_way_and_no_module_cycle_remains() {
    let graph = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let loops = [
        "consumer",
        "group",
        "jobs::runner",
        "maintenance",
        "notify",
        "server",
    ];
    let mut problems = Vec::new();
    problems.extend(violations(&graph, "store", &[], &loops));
    problems.extend(violations(&graph, "store", &[], &["validate", "metrics"]));
    problems.extend(violations(&graph, "validate", &[], &loops));
    problems.extend(violations(&graph, "consumer::plan", &[], &loops));
    problems.extend(violations(&graph, "consumer::read_size", &[], &loops));
    problems.extend(violations(
        &graph,
        "group",
        &[],
        &["consumer", "jobs", "maintenance", "store"],
    ));
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
    // `consumer` → `consumer::plan` is a child; the graph drops child → parent references.
    assert!(
        graph["consumer"].contains("consumer::plan"),
        "the reader sees the consumer's parts"
    );
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "module cycles");
}

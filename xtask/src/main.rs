//! `cargo xtask <task>`: Roost's developer tasks, in Rust rather than shell (the alias is in
//! `.cargo/config.toml`).
//!
//! - `bench`: the SPEC §5 benchmarks (`make bench`); see [`bench`].

mod bench;
mod interrupt;
mod process;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Roost's developer tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// The SPEC §5 benchmarks on release builds against a private stack (profile "bench");
    /// writes .roost/bench/report.json and report.md. Unmet targets do not fail the run.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = interrupt::install() {
        eprintln!("[xtask] error: {error:#}");
        return ExitCode::FAILURE;
    }
    let result = match &cli.task {
        Task::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Everything the task started has been stopped by now (its guards were dropped).
            if let Some(interrupted) = error
                .chain()
                .find_map(|cause| cause.downcast_ref::<interrupt::Interrupted>())
            {
                eprintln!("[xtask] {interrupted}; stopped what was started");
                return ExitCode::from(u8::try_from(128 + interrupted.0).unwrap_or(130));
            }
            eprintln!("[xtask] error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! What a run needs before its first step: the release binaries, the stack, the stack's
//! connection settings, the machine's description.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use serde::Deserialize;

use super::log;
use super::report::Machine;
use crate::process;

/// The private PostgreSQL + Redis of the profile "bench" (`scripts/stack.sh`), stopped when
/// dropped.
pub(super) struct Stack {
    script: PathBuf,
}

impl Stack {
    /// `scripts/stack.sh up bench` (installing PostgreSQL and Redis when missing).
    pub(super) fn up(repo: &Path) -> anyhow::Result<Self> {
        // The guard exists before `up` runs: a half-started stack is stopped too.
        let stack = Self {
            script: repo.join("scripts/stack.sh"),
        };
        process::run(
            "scripts/stack.sh up bench",
            Command::new(&stack.script).args(["up", "bench"]),
        )?;
        Ok(stack)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        match Command::new(&self.script).args(["down", "bench"]).status() {
            Ok(status) if status.success() => {}
            Ok(status) => log(format!("scripts/stack.sh down bench failed ({status})")),
            Err(error) => log(format!("scripts/stack.sh down bench: {error}")),
        }
    }
}

/// The release binaries the benchmark runs.
pub(super) struct Binaries {
    /// `roost-api`.
    pub(super) api: PathBuf,
    /// `roost-ingest`.
    pub(super) ingest: PathBuf,
}

/// The `export NAME=value` lines `scripts/stack.sh` writes to `.roost/<profile>/env`.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// The stack's connection settings (DATABASE_URL, ROOST_DATABASE_URL, ROOST_REDIS_URL).
pub(super) fn read_env_file(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let env = parse_env_file(&text);
    ensure!(
        env.iter().any(|(name, _)| name == "DATABASE_URL"),
        "{} has no DATABASE_URL",
        path.display()
    );
    Ok(env)
}

/// `cargo build --release` of both binaries; returns their paths as cargo reports them.
pub(super) fn build_release(repo: &Path) -> anyhow::Result<Binaries> {
    #[derive(Deserialize)]
    struct Message {
        reason: String,
        #[serde(default)]
        executable: Option<PathBuf>,
        #[serde(default)]
        target: Option<Target>,
    }
    #[derive(Deserialize)]
    struct Target {
        name: String,
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = process::output(
        "cargo build --release",
        Command::new(cargo).current_dir(repo).args([
            "build",
            "--release",
            "--bin",
            "roost-api",
            "--bin",
            "roost-ingest",
            "--message-format=json-render-diagnostics",
        ]),
    )?;
    let (mut api, mut ingest) = (None, None);
    for line in output.lines() {
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            continue;
        };
        let (Some(executable), Some(target)) = (message.executable, message.target) else {
            continue;
        };
        if message.reason != "compiler-artifact" {
            continue;
        }
        match target.name.as_str() {
            "roost-api" => api = Some(executable),
            "roost-ingest" => ingest = Some(executable),
            _ => {}
        }
    }
    Ok(Binaries {
        api: api.context("cargo built no roost-api executable")?,
        ingest: ingest.context("cargo built no roost-ingest executable")?,
    })
}

/// The repository root: the parent of this crate's directory.
pub(super) fn repo_root() -> anyhow::Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask/ has no parent directory")
}

/// Whether `program` is on PATH.
pub(super) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Cores available to this process and the machine's memory.
pub(super) fn machine() -> anyhow::Result<Machine> {
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    let meminfo = fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let kib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .context("no MemTotal in /proc/meminfo")?;
    Ok(Machine {
        cores,
        memory_gib: kib / 1_048_576.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stacks_env_file() {
        let text = "export DATABASE_URL=postgres://roost:roost@127.0.0.1:55434/roost\n\
                    export ROOST_REDIS_URL=redis://:roost@127.0.0.1:56381/0\n";
        let env = parse_env_file(text);
        assert_eq!(
            env[0],
            (
                "DATABASE_URL".to_owned(),
                "postgres://roost:roost@127.0.0.1:55434/roost".to_owned()
            )
        );
        assert_eq!(env[1].1, "redis://:roost@127.0.0.1:56381/0");
    }
}

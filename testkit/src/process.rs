//! The real binaries as child processes: where the built binaries are, a command with typed
//! settings, and a guard that kills the process when dropped.

use std::{
    path::PathBuf,
    process::{Child, ChildStdout, Command, ExitStatus},
    time::Duration,
};

use roost_common::Settings;

use crate::eventually;

/// The path of the built binary `name` (`roost-api`, `roost-ingest`). Nothing is built here:
/// nextest names a package's own binaries in `NEXTEST_BIN_EXE_<name>`; otherwise the binary
/// is looked for beside the test executable's directory (`target/<profile>/deps/..`), where
/// cargo puts every binary of the workspace it built. `cargo nextest run --workspace` (and
/// `cargo test --workspace`) builds both; testing one package alone builds only its own, and
/// may find the other's binary stale.
///
/// # Panics
/// When the binary is not there, with the command that builds it.
pub fn bin(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(format!("NEXTEST_BIN_EXE_{name}")) {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --bin {name}` first, or test the whole workspace \
         (`cargo nextest run --workspace`, as `make test` does)",
        path.display()
    );
    path
}

/// A command running binary `name` ([`bin`]) with exactly `settings`: every variable of the
/// settings catalogue inherited from the test's environment (and its `_FILE` form) is
/// removed, then [`Settings::to_env`]'s are set. Other variables (`PATH`, `RUST_LOG`,
/// `PGSSLMODE`…) are inherited; set or clear them on the command as the test needs.
pub fn command(name: &str, settings: &Settings) -> Command {
    let mut command = Command::new(bin(name));
    for row in Settings::catalogue() {
        for variable in std::iter::once(row.name).chain(row.alias) {
            command.env_remove(variable);
            command.env_remove(format!("{variable}_FILE"));
        }
    }
    command.envs(settings.to_env());
    command
}

/// A free TCP port on 127.0.0.1 (free when asked: a spawned binary binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (60 s at most) until `GET url` answers with a success status.
///
/// # Panics
/// After 60 s, naming the URL.
pub async fn wait_healthy(url: &str) {
    eventually(60, url, || async {
        reqwest::get(url)
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
}

/// A spawned child process, killed (`SIGKILL`) and reaped when dropped, so a failing test
/// leaves nothing running.
pub struct ChildProcess {
    /// `None` once waited for.
    child: Option<Child>,
    /// The program, for messages.
    program: String,
}

impl ChildProcess {
    /// Spawns `command`.
    ///
    /// # Panics
    /// When the program cannot be started, naming it.
    pub fn spawn(mut command: Command) -> Self {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        Self {
            child: Some(child),
            program,
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .unwrap_or_else(|| panic!("{} was already waited for", self.program))
    }

    /// The process id.
    ///
    /// # Panics
    /// Once waited for.
    pub fn id(&self) -> u32 {
        self.child
            .as_ref()
            .unwrap_or_else(|| panic!("{} was already waited for", self.program))
            .id()
    }

    /// The process's standard output (spawn it with `Stdio::piped()`).
    ///
    /// # Panics
    /// When standard output was not piped or was already taken.
    pub fn take_stdout(&mut self) -> ChildStdout {
        let program = self.program.clone();
        self.child()
            .stdout
            .take()
            .unwrap_or_else(|| panic!("{program}'s stdout is not piped"))
    }

    /// The exit status if the process has exited, `None` while it runs.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("checking the child process")
    }

    /// Sends `SIGTERM` (the graceful stop Kubernetes sends).
    ///
    /// # Panics
    /// When `kill` fails (the process is gone).
    pub fn terminate(&mut self) {
        let id = self.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &id])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM {id} ({})", self.program);
    }

    /// `SIGKILL`, then reaps the process (what dropping does).
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (off the async runtime) for the process to exit, at most `timeout`.
    ///
    /// # Panics
    /// After `timeout`, naming the program (the process is killed first).
    pub async fn wait(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("not yet waited for");
        let id = child.id().to_string();
        let program = self.program.clone();
        let waiting = tokio::task::spawn_blocking(move || {
            let status = child.wait();
            (child, status)
        });
        match tokio::time::timeout(timeout, waiting).await {
            Ok(joined) => {
                let (_, status) = joined.expect("the waiting task");
                status.expect("waiting for the child process")
            }
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &id]).status();
                panic!("{program} did not exit within {timeout:?}")
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "is not built: run `cargo build --bin no-such-binary` first")]
    fn a_missing_binary_says_how_to_build_it() {
        bin("no-such-binary");
    }

    #[test]
    fn a_dropped_child_is_killed() {
        let mut sleep = Command::new("sleep");
        sleep.arg("600");
        let child = ChildProcess::spawn(sleep);
        let id = child.id().to_string();
        drop(child);
        // Reaped: no such process any more (not even a zombie).
        let alive = Command::new("kill").args(["-0", &id]).status().unwrap();
        assert!(!alive.success(), "process {id} still exists");
    }

    #[tokio::test]
    async fn wait_reports_the_exit_status() {
        let mut exit = Command::new("sh");
        exit.args(["-c", "exit 3"]);
        let status = ChildProcess::spawn(exit)
            .wait(Duration::from_secs(10))
            .await;
        assert_eq!(status.code(), Some(3));
    }
}

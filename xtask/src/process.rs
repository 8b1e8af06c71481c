//! Child processes that cannot outlive the task: a [`Guarded`] child is stopped (SIGTERM,
//! then SIGKILL after a grace period) when it is dropped, and every wait gives way to
//! SIGINT/SIGTERM ([`crate::interrupt`]).

use std::io::Read as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::interrupt;

/// How often a wait looks at the child and at the interrupt flag.
const POLL: Duration = Duration::from_millis(50);
/// How long a child may take to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// A running child process, stopped when dropped.
#[derive(Debug)]
pub struct Guarded {
    name: String,
    child: Child,
    exited: bool,
}

impl Guarded {
    /// Starts `command`; `name` says what it is in errors and logs.
    pub fn spawn(name: impl Into<String>, command: &mut Command) -> anyhow::Result<Self> {
        let name = name.into();
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({command:?})"))?;
        Ok(Self {
            name,
            child,
            exited: false,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the child has exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        let status = self
            .child
            .try_wait()
            .with_context(|| format!("waiting for {}", self.name))?;
        self.exited |= status.is_some();
        Ok(status)
    }

    /// Waits until the child exits (or the task is interrupted).
    pub fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            interrupt::sleep(POLL)?;
        }
    }

    /// Waits until the child exits, and fails unless it exited successfully.
    pub fn wait_success(&mut self) -> anyhow::Result<()> {
        let status = self.wait()?;
        if !status.success() {
            bail!("{} failed ({status})", self.name);
        }
        Ok(())
    }

    /// Stops the child now: SIGTERM, up to [`GRACE`] to exit, then SIGKILL.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.exited || matches!(self.child.try_wait(), Ok(Some(_))) {
            self.exited = true;
            return;
        }
        // std only sends SIGKILL; kill(1) sends SIGTERM, which lets the services shut down
        // gracefully (finish and ack in-flight batches).
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + if signalled { GRACE } else { Duration::ZERO };
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                self.exited = true;
                return;
            }
            std::thread::sleep(POLL);
        }
        eprintln!(
            "[xtask] {} did not stop after SIGTERM; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited = true;
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Runs `command` to completion; fails unless it succeeds.
pub fn run(name: &str, command: &mut Command) -> anyhow::Result<()> {
    Guarded::spawn(name, command)?.wait_success()
}

/// Runs `command` to completion and returns its standard output; fails unless it succeeds.
pub fn output(name: &str, command: &mut Command) -> anyhow::Result<String> {
    let mut child = Guarded::spawn(name, command.stdout(Stdio::piped()))?;
    let mut stdout = child
        .child
        .stdout
        .take()
        .context("the child's standard output")?;
    // Read on a thread: a child blocked on a full pipe would never exit.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    child.wait_success()?;
    match reader.join() {
        Ok(text) => text.with_context(|| format!("reading the output of {name}")),
        Err(_) => bail!("reading the output of {name} panicked"),
    }
}

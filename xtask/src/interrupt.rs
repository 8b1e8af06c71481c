//! SIGINT and SIGTERM as a flag: a task polls [`check`] (every wait in [`crate::process`]
//! does) and unwinds with [`Interrupted`], so the guards of what it started (child processes,
//! the benchmark stack) run on the way out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use signal_hook::consts::signal::{SIGINT, SIGTERM};

/// The number of the last signal received, 0 while none was.
static SIGNAL: AtomicUsize = AtomicUsize::new(0);

/// The task was interrupted by a signal; it ends with exit status 128 + the signal's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

/// Catches SIGINT and SIGTERM from now on (start-up; before any child is started).
pub fn install() -> anyhow::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        let number = usize::try_from(signal).context("a signal number")?;
        signal_hook::flag::register_usize(signal, &SIGNAL, number)
            .with_context(|| format!("catching signal {signal}"))?;
    }
    Ok(())
}

/// `Err` once SIGINT or SIGTERM has arrived.
pub fn check() -> Result<(), Interrupted> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Interrupted(i32::try_from(signal).unwrap_or(SIGTERM))),
    }
}

/// Sleeps for `duration`, unless interrupted.
pub fn sleep(duration: Duration) -> Result<(), Interrupted> {
    check()?;
    std::thread::sleep(duration);
    check()
}

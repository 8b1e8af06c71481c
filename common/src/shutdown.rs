//! The shutdown signal both binaries wait on: SIGTERM (Kubernetes) or SIGINT (Ctrl-C).

use std::future::Future;

/// Installs the SIGTERM and SIGINT handlers now (so a signal that arrives while the process is
/// still starting is not fatal) and returns a future that resolves on the first of them.
pub fn listen() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "cannot install signal handlers; waiting for Ctrl-C only");
                None
            }
        }
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = handlers {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! What both binaries' Prometheus metrics share: a registry with the process collector, and
//! the text rendering served on `/metrics`.

use anyhow::Context;
use prometheus::{Encoder, Registry, TextEncoder};

/// A registry with the process collector (CPU, memory, file descriptors) registered.
pub fn registry() -> anyhow::Result<Registry> {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .context("registering the process collector")?;
    Ok(registry)
}

/// Renders every metric of the registry in the Prometheus text format.
pub fn render(registry: &Registry) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .context("encoding metrics")?;
    String::from_utf8(buf).context("metrics are not UTF-8")
}

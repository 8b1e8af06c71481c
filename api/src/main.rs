//! `roost-api`: serve the API, or run an administrative command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use roost_api::{Application, BuildOptions};
use roost_common::{Settings, db, telemetry};

#[derive(Parser)]
#[command(name = "roost-api", version, about = "The Roost HTTP API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env().context("loading settings")?;
    let _telemetry = telemetry::init("roost-api", &settings.telemetry)?;
    let pool = db::pool(&settings.database)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            db::migrate(&pool).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            let version = db::check_schema(&pool).await?;
            let app = Application::build(settings, pool, BuildOptions::default()).await?;
            tracing::info!(
                port = app.port(),
                metrics_port = app.metrics_port(),
                schema = version,
                "roost-api listening"
            );
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}

//! The worker's small HTTP listener: `/metrics` for Prometheus, `/healthz` and `/readyz` for
//! the kubelet. Never exposed publicly.

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
use sqlx::PgPool;

use crate::metrics::Metrics;

struct State {
    metrics: Arc<Metrics>,
    db: PgPool,
}

pub fn build(listener: TcpListener, metrics: Arc<Metrics>, db: PgPool) -> std::io::Result<Server> {
    let state = web::Data::new(State { metrics, db });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics_handler))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run())
}

async fn metrics_handler(state: web::Data<State>) -> HttpResponse {
    match state.metrics.render() {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(body),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "rendering metrics failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when PostgreSQL answers (without it the worker cannot make progress).
async fn readyz(state: web::Data<State>) -> HttpResponse {
    let ping = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    match ping {
        Ok(Ok(_)) => {
            HttpResponse::Ok().json(serde_json::json!({"status": "ready", "postgres": "ok"}))
        }
        _ => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "unavailable", "postgres": "unreachable"})),
    }
}

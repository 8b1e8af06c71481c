//! Operational endpoints: liveness, readiness and the metrics listener.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when PostgreSQL answers (Redis being down only degrades ingest); `draining`
    /// once the process is shutting down; `unavailable` without PostgreSQL.
    status: &'static str,
    postgres: &'static str,
    redis: &'static str,
}

/// Readiness: 200 while PostgreSQL answers, 503 otherwise; reports Redis separately.
#[utoipa::path(tag = "operations", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Both checks run at once and stay well under a 1 s probe timeout.
    let mut redis = state.redis.clone();
    let ping_cmd = redis::cmd("PING");
    let (pg, ping) = tokio::join!(
        tokio::time::timeout(
            Duration::from_millis(800),
            sqlx::query("SELECT 1").execute(&state.db)
        ),
        tokio::time::timeout(
            Duration::from_millis(300),
            ping_cmd.query_async::<String>(&mut redis)
        ),
    );
    let postgres_ok = matches!(pg, Ok(Ok(_)));
    let redis_ok = matches!(ping, Ok(Ok(_)));
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let body = Readiness {
        status: match (draining, postgres_ok) {
            (true, _) => "draining",
            (false, true) => "ready",
            (false, false) => "unavailable",
        },
        postgres: if postgres_ok { "ok" } else { "unavailable" },
        redis: if redis_ok { "ok" } else { "unavailable" },
    };
    if postgres_ok && !draining {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics` on the metrics listener.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.db_pool_size.set(i64::from(state.db.size()));
    state
        .metrics
        .db_pool_idle
        .set(i64::try_from(state.db.num_idle()).unwrap_or(i64::MAX));
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cannot render metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

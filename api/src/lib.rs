//! The Roost HTTP API: everything but the thin `main`. [`Application::build`] binds the public
//! and metrics listeners and wires state, middleware and routes; tests use it on port 0.

pub mod auth;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod state;
pub mod store;

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;
use roost_common::{
    Settings,
    pipeline::{Keys, outbox::Publisher},
};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    auth::{
        api_key::ApiKeyCache, password::PasswordHasher, throttle::LoginThrottle,
        token::TokenService,
    },
    metrics::Metrics,
    state::AppState,
};

/// Knobs that are not deployment settings (tests use cheaper password hashing).
pub struct BuildOptions {
    pub password_params: argon2::Params,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            password_params: auth::password::owasp_params(),
        }
    }
}

/// A bound, not yet running API: the public server and the metrics server.
pub struct Application {
    port: u16,
    metrics_port: u16,
    server: Server,
    metrics_server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(
        settings: Settings,
        db: PgPool,
        options: BuildOptions,
    ) -> anyhow::Result<Self> {
        http::cors::validate("ROOST_CORS_ALLOWED_ORIGINS", &settings.http.cors_origins)?;
        http::cors::validate(
            "ROOST_INGEST_CORS_ALLOWED_ORIGINS",
            &settings.http.ingest_cors_origins,
        )?;
        let redis = roost_common::redis_client::connect(&settings.redis)?;
        let keys = Keys::new(&settings.redis.key_prefix);
        let metrics = Arc::new(Metrics::new()?);
        let api_keys = Arc::new(ApiKeyCache::new(settings.pipeline.api_key_cache_ttl));
        let live = Arc::new(live::Live {
            db: db.clone(),
            redis: redis.clone(),
            keys: keys.clone(),
            metrics: metrics.clone(),
            hub: live::Hub::new(),
            api_keys: api_keys.clone(),
        });
        let state = web::Data::new(AppState {
            tokens: TokenService::new(&settings.auth)?,
            hasher: PasswordHasher::new(settings.auth.hash_workers, options.password_params)?,
            throttle: LoginThrottle::new(
                redis.clone(),
                keys.clone(),
                auth::throttle::Limits {
                    login_per_account: settings.auth.login_max_failures_per_user,
                    login_per_ip: settings.auth.login_max_failures_per_ip,
                    login_window: settings.auth.login_window,
                    register_per_ip: settings.auth.register_max_per_ip,
                    register_window: settings.auth.register_window,
                },
            ),
            api_keys,
            live: live.clone(),
            draining: std::sync::atomic::AtomicBool::new(false),
            metrics,
            outbox: Publisher::new(redis.clone(), keys.clone()),
            keys,
            redis,
            db,
            settings: Arc::new(settings),
        });

        let pubsub = redis::Client::open(state.settings.redis.url.expose_secret())
            .context("ROOST_REDIS_URL is not a valid Redis URL")?;
        tokio::spawn(live.listen(pubsub));

        let listener = TcpListener::bind(state.settings.http.addr)
            .with_context(|| format!("binding {}", state.settings.http.addr))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = TcpListener::bind(state.settings.http.metrics_addr)
            .with_context(|| format!("binding {}", state.settings.http.metrics_addr))?;
        let metrics_port = metrics_listener.local_addr()?.port();

        let app_state = state.clone();
        let api_cors = state.settings.http.cors_origins.clone();
        let ingest_cors = state.settings.http.ingest_cors_origins.clone();
        let server = HttpServer::new(move || {
            let (app, mut api) = App::new()
                .into_utoipa_app()
                .openapi(openapi::ApiDoc::openapi())
                .app_data(app_state.clone())
                .app_data(web::Data::from(app_state.metrics.clone()))
                .app_data(web::Data::new(http::conformance::Limits {
                    body_timeout: app_state.settings.http.body_timeout,
                    max_header_bytes: app_state.settings.http.max_header_bytes,
                }))
                .app_data(http::input::json_config(http::input::JSON_LIMIT))
                .app_data(http::input::query_config())
                .app_data(http::input::path_config())
                .app_data(http::input::payload_config())
                .service(routes::ops::healthz)
                .service(routes::ops::readyz)
                .service(utoipa_actix_web::scope("/v1").configure(routes::configure))
                .split_for_parts();
            openapi::complete(&mut api);
            let route_table = web::Data::new(http::fallback::RouteTable::from_openapi(&api));
            app.app_data(route_table)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
                .route("/docs", web::get().to(docs_redirect))
                .default_service(web::to(http::fallback::not_found))
                .wrap(from_fn(auth::gate::authenticate))
                .wrap(from_fn(http::conformance::conform))
                .wrap(http::cors::policy(&ingest_cors, &api_cors))
                .wrap(from_fn(http::request_log::observe))
        })
        .workers(state.settings.http.workers)
        .shutdown_timeout(25)
        // Signals are ours (see `run_until_stopped`): readiness drops before the server stops.
        .disable_signals()
        .listen(listener)?
        .run();

        let metrics_state = state.clone();
        let metrics_server = HttpServer::new(move || {
            App::new()
                .app_data(metrics_state.clone())
                .route("/metrics", web::get().to(routes::ops::metrics))
        })
        .workers(1)
        .disable_signals()
        .listen(metrics_listener)?
        .run();

        Ok(Self {
            port,
            metrics_port,
            server,
            metrics_server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// Serves until SIGTERM/SIGINT. Then `/readyz` answers 503 `draining` for
    /// `ROOST_SHUTDOWN_DELAY_SECONDS` while requests are still served (so the load balancer
    /// takes the replica out before anything is refused), then the server stops taking
    /// connections and finishes the requests in flight (at most 25 s).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // actix servers start when first polled: run the metrics server beside the API.
        let metrics = self.metrics_server.handle();
        let metrics_task = tokio::spawn(self.metrics_server);
        let server = self.server.handle();
        let state = self.state.clone();
        let signal = roost_common::shutdown::listen();
        tokio::spawn(async move {
            signal.await;
            let delay = state.settings.http.shutdown_delay;
            state
                .draining
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(
                delay_s = delay.as_secs_f64(),
                "shutting down: not ready, serving until the delay is over"
            );
            tokio::time::sleep(delay).await;
            // Sockets would hold the graceful stop for its whole timeout: close them first
            // (1001 going away), so the clients reconnect to another replica.
            state.live.hub.close_all(live::SHUTTING_DOWN);
            server.stop(true).await;
        });
        let result = self.server.await;
        // Nothing to finish on the metrics listener: no grace.
        metrics.stop(false).await;
        if let Ok(Err(error)) = metrics_task.await {
            tracing::warn!(%error, "metrics server stopped with an error");
        }
        result.context("running the HTTP server")
    }
}

async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

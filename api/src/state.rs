//! The shared application state handed to every handler.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use roost_common::{
    Settings,
    pipeline::{Keys, outbox::Publisher},
};
use sqlx::PgPool;

use crate::{
    auth::{
        api_key::ApiKeyCache, password::PasswordHasher, throttle::LoginThrottle,
        token::TokenService,
    },
    metrics::Metrics,
};

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub outbox: Publisher,
    pub tokens: TokenService,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    pub api_keys: Arc<ApiKeyCache>,
    /// Live notifications and revocations (WebSocket sockets, pub/sub).
    pub live: Arc<crate::live::Live>,
    /// Set on SIGTERM: readiness answers 503 while the replica drains.
    pub draining: std::sync::atomic::AtomicBool,
    pub metrics: Arc<Metrics>,
}

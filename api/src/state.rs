//! The shared application state handed to every handler.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use roost_common::Settings;
use sqlx::PgPool;

use crate::{
    auth::{password::PasswordHasher, throttle::LoginThrottle, token::TokenService},
    metrics::Metrics,
};

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub tokens: TokenService,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    pub metrics: Arc<Metrics>,
}

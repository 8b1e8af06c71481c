//! HTTP handlers, one module per area; the files follow the URL tree (`/v1/admin/...` is
//! `admin/`). Handlers parse the request into domain types (collecting every field error),
//! call one service function (writes) or store function (reads only), and shape the response;
//! nothing else. A handler may call the store directly only to read.

pub mod accounts;
pub mod admin;
pub mod comments;
pub mod events;
pub mod feed;
pub mod jobs;
pub mod me;
pub mod notifications;
pub mod ops;
pub mod posts;
pub mod search;
pub mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every `/v1` route.
pub fn configure(cfg: &mut ServiceConfig) {
    accounts::configure(cfg);
    me::configure(cfg);
    users::configure(cfg);
    posts::configure(cfg);
    feed::configure(cfg);
    search::configure(cfg);
    comments::configure(cfg);
    events::configure(cfg);
    jobs::configure(cfg);
    notifications::configure(cfg);
    admin::configure(cfg);
}

//! The authentication gate: every request is authenticated and authorised before its path,
//! query or body is parsed, as its route's OpenAPI `security` says (see
//! [`RouteTable::security`]). So a logged-out token is 401 and a user's token on an admin
//! route is 403, whatever else is wrong with the request. The caller is left in the request
//! extensions, where the [`AuthUser`] and [`AdminAuth`] extractors find it without a second
//! check.

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use super::{
    AdminAuth, AuthUser,
    extract::{LoggedUserId, bearer},
};
use crate::{
    http::fallback::{RouteTable, Security},
    state::AppState,
};

/// The middleware (see the module docs).
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let (Some(state), Some(routes)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<RouteTable>>().cloned(),
    ) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // The decoded path, as the router sees it (`/v1/m%65` is `/v1/me`).
    let security = routes.security(req.method().as_str(), req.match_info().as_str());
    let token = bearer(req.request()).map(str::to_owned);
    let outcome = match (security, token) {
        (Some(Security::Admin), token) => {
            AdminAuth::check(&state, token.as_deref())
                .await
                .map(|admin| {
                    req.extensions_mut().insert(admin);
                })
        }
        (Some(Security::Bearer | Security::BearerOptional), Some(token)) => {
            AuthUser::from_token(&state, &token).await.map(|user| {
                req.extensions_mut().insert(LoggedUserId(user.id));
                req.extensions_mut().insert(user);
            })
        }
        (Some(Security::Bearer), None) => Err(crate::http::error::ApiError::unauthorized()),
        _ => Ok(()),
    };
    match outcome {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
        Err(error) => Ok(req.error_response(error)),
    }
}

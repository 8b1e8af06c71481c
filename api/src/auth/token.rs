//! Access tokens: HS256 JWTs with issuer, audience, expiry and a unique `jti` (the handle for
//! revocation on logout).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use roost_common::settings::AuthSettings;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub name: String,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

pub struct IssuedToken {
    pub token: String,
    pub jti: Uuid,
    pub expires_in: u64,
}

#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenService {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings
            .jwt_secret
            .as_ref()
            .ok_or_else(|| {
                anyhow::anyhow!("the environment variable ROOST_JWT_SECRET must be set")
            })?
            .expose_secret()
            .as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl: settings.token_ttl,
        })
    }

    pub fn issue(&self, user_id: i64, username: &str) -> anyhow::Result<IssuedToken> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user_id.to_string(),
            name: username.to_owned(),
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + ttl,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            jti: claims.jti,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Verifies signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Option<VerifiedToken> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let user_id = data.claims.sub.parse().ok()?;
        Some(VerifiedToken {
            user_id,
            username: data.claims.name,
            jti: data.claims.jti,
            expires_at: DateTime::from_timestamp(data.claims.exp, 0)?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct VerifiedToken {
    pub user_id: i64,
    pub username: String,
    pub jti: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str, audience: &str, ttl: u64) -> AuthSettings {
        let mut auth = roost_common::Settings::for_tests().auth;
        auth.jwt_secret = Some("test-secret-test-secret-test-secret".into());
        auth.jwt_issuer = issuer.into();
        auth.jwt_audience = audience.into();
        auth.token_ttl = std::time::Duration::from_secs(ttl);
        auth
    }

    #[test]
    fn issued_tokens_verify_and_carry_unique_jtis() {
        let svc = TokenService::new(&settings("roost", "roost-api", 60)).unwrap();
        let a = svc.issue(7, "alice").unwrap();
        let b = svc.issue(7, "alice").unwrap();
        assert_ne!(a.jti, b.jti);
        let v = svc.verify(&a.token).unwrap();
        assert_eq!((v.user_id, v.username.as_str(), v.jti), (7, "alice", a.jti));
    }

    #[test]
    fn wrong_issuer_audience_signature_or_expiry_is_refused() {
        let good = TokenService::new(&settings("roost", "roost-api", 60)).unwrap();
        let token = good.issue(1, "a").unwrap().token;
        assert!(
            TokenService::new(&settings("other", "roost-api", 60))
                .unwrap()
                .verify(&token)
                .is_none()
        );
        assert!(
            TokenService::new(&settings("roost", "other", 60))
                .unwrap()
                .verify(&token)
                .is_none()
        );
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(good.verify(&tampered).is_none());
        // Expired an hour ago (beyond the 5 s leeway), otherwise valid.
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            name: "a".into(),
            jti: Uuid::new_v4(),
            iat: now - 7200,
            exp: now - 3600,
            iss: "roost".into(),
            aud: "roost-api".into(),
        };
        let old =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &good.encoding).unwrap();
        assert!(good.verify(&old).is_none());
    }
}

//! Accounts and profiles.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use roost_common::pipeline::{
    domain_event::{DomainEvent, UserLoggedIn, UserRegistered},
    outbox::{self, Publisher},
};

use super::unique_violation;

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub password_hash: &'a str,
}

pub enum Registered {
    Created { id: i64, username: String },
    UsernameTaken,
    EmailTaken,
}

/// Inserts the user and its `user.registered` event in one transaction. Case-insensitive
/// uniqueness is enforced by unique indexes, so concurrent registrations cannot both win.
pub async fn register(
    db: &PgPool,
    outbox: &Publisher,
    new: NewUser<'_>,
) -> Result<Registered, sqlx::Error> {
    let mut tx = db.begin().await?;
    let inserted: Result<(i64, String, DateTime<Utc>), sqlx::Error> = sqlx::query_as(
        "INSERT INTO users (username, email, first_name, last_name, password_hash)
         VALUES ($1, $2, $3, $4, $5) RETURNING id, username, created_at",
    )
    .bind(new.username)
    .bind(new.email)
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(new.password_hash)
    .fetch_one(&mut *tx)
    .await;
    let (id, username, created_at) = match inserted {
        Ok(row) => row,
        Err(e) => {
            return match unique_violation(&e).as_deref() {
                Some("users_username_lower_key") => Ok(Registered::UsernameTaken),
                Some("users_email_lower_key") => Ok(Registered::EmailTaken),
                _ => Err(e),
            };
        }
    };
    let event = outbox::record(
        &mut tx,
        &DomainEvent::UserRegistered(UserRegistered {
            user_id: id,
            username: username.clone(),
            email: new.email.map(str::to_owned),
            first_name: new.first_name.map(str::to_owned),
            last_name: new.last_name.map(str::to_owned),
            registered_at: created_at,
        }),
    )
    .await?;
    tx.commit().await?;
    outbox.publish(event);
    Ok(Registered::Created { id, username })
}

#[derive(FromRow)]
pub struct Credentials {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

/// Looks a user up by username, or by e-mail address when the identifier contains `@`.
pub async fn credentials(
    db: &PgPool,
    identifier: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    if identifier.contains('\0') {
        return Ok(None); // PostgreSQL text cannot hold NUL, so no account has it
    }
    let sql = if identifier.contains('@') {
        "SELECT id, username, password_hash FROM users WHERE lower(email) = lower($1) AND email IS NOT NULL"
    } else {
        "SELECT id, username, password_hash FROM users WHERE lower(username) COLLATE \"C\" = lower($1)"
    };
    sqlx::query_as(sql)
        .bind(identifier)
        .fetch_optional(db)
        .await
}

/// Records a successful login (`user.logged_in`).
pub async fn record_login(
    db: &PgPool,
    outbox: &Publisher,
    id: i64,
    username: &str,
) -> Result<(), sqlx::Error> {
    let mut conn = db.acquire().await?;
    let event = outbox::record(
        &mut conn,
        &DomainEvent::UserLoggedIn(UserLoggedIn {
            user_id: id,
            username: username.to_owned(),
            logged_in_at: Utc::now(),
        }),
    )
    .await?;
    outbox.publish(event);
    Ok(())
}

#[derive(FromRow)]
pub struct Profile {
    pub id: i64,
    pub username: String,
    pub created_at: DateTime<Utc>,
    pub subscribers_count: i32,
    pub subscriptions_count: i32,
    pub posts_count: i32,
    pub subscribed: bool,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

macro_rules! profile_sql {
    ($where:literal) => {
        concat!("SELECT u.id, u.username, u.created_at, u.subscribers_count, u.subscriptions_count,
        u.posts_count, u.email, u.first_name, u.last_name,
        EXISTS (SELECT 1 FROM subscriptions s WHERE s.subscriber_id = $1 AND s.target_id = u.id) AS subscribed
    FROM users u WHERE ", $where)
    };
}

pub async fn profile_by_name(
    db: &PgPool,
    viewer: i64,
    username: &str,
) -> Result<Option<Profile>, sqlx::Error> {
    if username.contains('\0') {
        return Ok(None);
    }
    sqlx::query_as(profile_sql!("lower(u.username) COLLATE \"C\" = lower($2)"))
        .bind(viewer)
        .bind(username)
        .fetch_optional(db)
        .await
}

pub async fn profile_by_id(db: &PgPool, id: i64) -> Result<Option<Profile>, sqlx::Error> {
    sqlx::query_as(profile_sql!("u.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The id and canonical spelling of a username.
pub async fn find(db: &PgPool, username: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
    if username.contains('\0') {
        return Ok(None);
    }
    sqlx::query_as("SELECT id, username FROM users WHERE lower(username) COLLATE \"C\" = lower($1)")
        .bind(username)
        .fetch_optional(db)
        .await
}

#[derive(FromRow)]
pub struct Listed {
    pub username: String,
    pub subscribers_count: i32,
}

/// Every user but the viewer, by case-insensitive username, optionally filtered by a
/// substring (a LIKE pattern, already escaped), after the cursor's username.
pub async fn list(
    db: &PgPool,
    viewer: i64,
    pattern: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT username, subscribers_count FROM users
         WHERE id <> $1
           AND ($2::text IS NULL OR lower(username) LIKE lower($2))
           AND ($3::text IS NULL OR lower(username) COLLATE \"C\" > $3)
         ORDER BY lower(username) COLLATE \"C\"
         LIMIT $4",
    )
    .bind(viewer)
    .bind(pattern)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Ids of the given usernames (case-insensitive), by lower-cased name; unknown ones are absent.
pub async fn find_many(
    db: &PgPool,
    usernames: &[String],
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let lowered: Vec<String> = usernames
        .iter()
        .filter(|n| !n.contains('\0'))
        .map(|n| n.to_lowercase())
        .collect();
    sqlx::query_as(
        "SELECT id, lower(username) FROM users WHERE lower(username) COLLATE \"C\" = ANY($1)",
    )
    .bind(lowered)
    .fetch_all(db)
    .await
}

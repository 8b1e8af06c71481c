//! The one-way subscribe ("follow") relation and its counters.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use roost_common::pipeline::{
    domain_event::{DomainEvent, SubscriptionChanged},
    outbox::{self, Publisher},
};

/// Moves the subscriber's `subscriptions` and the target's `subscribers` counters by `delta`.
async fn adjust_counters(
    conn: &mut PgConnection,
    subscriber: i64,
    target: i64,
    delta: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET
            subscriptions_count = subscriptions_count + CASE WHEN id = $1 THEN $3 ELSE 0 END,
            subscribers_count   = subscribers_count   + CASE WHEN id = $2 THEN $3 ELSE 0 END
         WHERE id IN ($1, $2)",
    )
    .bind(subscriber)
    .bind(target)
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

pub enum Subscribed {
    Created,
    AlreadySubscribed,
    LimitReached,
}

/// Subscribes `subscriber` to `target`. Both user rows are locked in id order, so the limit
/// holds under any number of concurrent requests and mutual subscriptions cannot deadlock;
/// `NO KEY UPDATE` does not conflict with the key-share locks of foreign-key checks.
pub async fn subscribe(
    db: &PgPool,
    outbox: &Publisher,
    subscriber: (i64, &str),
    target: (i64, &str),
    limit: u32,
) -> Result<Subscribed, sqlx::Error> {
    let mut tx = db.begin().await?;
    let counts: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT id, subscriptions_count FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(vec![subscriber.0, target.0])
    .fetch_all(&mut *tx)
    .await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE subscriber_id = $1 AND target_id = $2)",
    )
    .bind(subscriber.0)
    .bind(target.0)
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        return Ok(Subscribed::AlreadySubscribed);
    }
    let current = counts
        .iter()
        .find(|(id, _)| *id == subscriber.0)
        .map_or(0, |(_, n)| *n);
    if i64::from(current) >= i64::from(limit) {
        return Ok(Subscribed::LimitReached);
    }
    let since: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO subscriptions (subscriber_id, target_id) VALUES ($1, $2) RETURNING created_at",
    )
    .bind(subscriber.0)
    .bind(target.0)
    .fetch_one(&mut *tx)
    .await?;
    adjust_counters(&mut tx, subscriber.0, target.0, 1).await?;
    let event = outbox::record(
        &mut tx,
        &DomainEvent::SubscriptionCreated(changed(subscriber, target, since)),
    )
    .await?;
    tx.commit().await?;
    outbox.publish(event);
    Ok(Subscribed::Created)
}

fn changed(
    subscriber: (i64, &str),
    target: (i64, &str),
    timestamp: DateTime<Utc>,
) -> SubscriptionChanged {
    SubscriptionChanged {
        subscriber_id: subscriber.0,
        subscriber: subscriber.1.to_owned(),
        target_id: target.0,
        target: target.1.to_owned(),
        timestamp,
    }
}

/// Removes the subscription if present; `true` when one was removed.
pub async fn unsubscribe(
    db: &PgPool,
    outbox: &Publisher,
    subscriber: (i64, &str),
    target: (i64, &str),
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(vec![subscriber.0, target.0])
        .fetch_all(&mut *tx)
        .await?;
    let removed =
        sqlx::query("DELETE FROM subscriptions WHERE subscriber_id = $1 AND target_id = $2")
            .bind(subscriber.0)
            .bind(target.0)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
    let event = if removed {
        adjust_counters(&mut tx, subscriber.0, target.0, -1).await?;
        let event = outbox::record(
            &mut tx,
            &DomainEvent::SubscriptionRemoved(changed(subscriber, target, Utc::now())),
        )
        .await?;
        Some(event)
    } else {
        None
    };
    tx.commit().await?;
    if let Some(event) = event {
        outbox.publish(event);
    }
    Ok(removed)
}

#[derive(FromRow)]
pub struct Relation {
    pub username: String,
    pub since: DateTime<Utc>,
}

/// Whom `user` follows (`following = true`) or who follows `user`, by username.
pub async fn list(
    db: &PgPool,
    user: i64,
    following: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Relation>, sqlx::Error> {
    const FOLLOWING: &str = "SELECT u.username, s.created_at AS since
         FROM subscriptions s JOIN users u ON u.id = s.target_id
         WHERE s.subscriber_id = $1 AND ($2::text IS NULL OR lower(u.username) COLLATE \"C\" > $2)
         ORDER BY lower(u.username) COLLATE \"C\"
         LIMIT $3";
    const FOLLOWERS: &str = "SELECT u.username, s.created_at AS since
         FROM subscriptions s JOIN users u ON u.id = s.subscriber_id
         WHERE s.target_id = $1 AND ($2::text IS NULL OR lower(u.username) COLLATE \"C\" > $2)
         ORDER BY lower(u.username) COLLATE \"C\"
         LIMIT $3";
    sqlx::query_as(if following { FOLLOWING } else { FOLLOWERS })
        .bind(user)
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await
}

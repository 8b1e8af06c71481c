//! Weekly event partitions: created ahead, rows caught by the default partition moved in,
//! and retention dropping whole weeks with their ids.

use chrono::{DateTime, Duration, Utc};
use roost_common::pipeline::{Event, EventData, ROOST_APPLICATION_ID};
use roost_ingest::store::events::{self, ToStore, ensure_partitions};
use sqlx::PgPool;
use uuid::Uuid;

/// Stores one event received (and timed) `at`, as the worker does.
async fn store_event(db: &PgPool, at: DateTime<Utc>) {
    let event = Event {
        id: Uuid::new_v4(),
        session_id: Uuid::new_v4(),
        category: "x".into(),
        name: "y".into(),
        data: EventData::from_json("{}".into()).unwrap(),
        timestamp: at,
    };
    let mut tx = db.begin().await.unwrap();
    let stored = events::insert(
        &mut tx,
        &[ToStore {
            application: ROOST_APPLICATION_ID,
            received_at: at,
            event: &event,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored, 1);
}

async fn partitions(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn partitions_are_created_ahead_and_take_over_rows_of_the_default(db: PgPool) {
    ensure_partitions(&db, Utc::now()).await.unwrap();
    let weekly: Vec<String> = partitions(&db)
        .await
        .into_iter()
        .filter(|p| p.starts_with("events_p"))
        .collect();
    assert_eq!(weekly.len(), 3, "this week and two ahead: {weekly:?}");
    // Idempotent.
    ensure_partitions(&db, Utc::now()).await.unwrap();
    assert_eq!(partitions(&db).await.len(), 4);

    // An event received five weeks from now lands in the default partition...
    let later = Utc::now() + Duration::weeks(5);
    store_event(&db, later).await;
    // ...and moves into its week's partition when that is created.
    ensure_partitions(&db, later).await.unwrap();
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM events_default")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(in_default, 0);
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(total, 1);
    // The new partition has the parent's indexes.
    let indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE tablename = (
             SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events_p%'
             ORDER BY c.relname DESC LIMIT 1)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(indexes, 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn retention_drops_whole_old_weeks_with_their_ids(db: PgPool) {
    let old = Utc::now() - Duration::weeks(20);
    ensure_partitions(&db, old).await.unwrap();
    ensure_partitions(&db, Utc::now()).await.unwrap();
    for at in [old, Utc::now()] {
        store_event(&db, at).await;
    }
    let before = partitions(&db).await.len();
    let settings = roost_common::Settings::for_tests();
    let maintenance = roost_ingest::maintenance::Maintenance {
        db: db.clone(),
        redis: roost_common::redis_client::connect(&settings.redis).unwrap(),
        keys: roost_common::pipeline::Keys::new("test:retention:"),
        pipeline: settings.pipeline.clone(),
        jobs: settings.jobs.clone(),
        metrics: std::sync::Arc::new(roost_ingest::metrics::Metrics::new().unwrap()),
    };
    maintenance.retention().await.unwrap();
    let after = partitions(&db).await.len();
    assert_eq!(after, before - 3, "the three old weeks are dropped");
    let (events, ids): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM event_ids)")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        (events, ids),
        (1, 1),
        "only the recent event and its id remain"
    );
}

//! Forgetting departed consumers against the real Redis: only consumers with nothing pending
//! and idle long enough go; one holding an entry stays.

use std::time::Duration;

use redis::aio::ConnectionManager;
use roost_ingest::group::forget_departed_consumers;

/// The test Redis (`ROOST_REDIS_URL`), connected as the worker connects.
async fn redis() -> ConnectionManager {
    roost_common::redis_client::connect(&roost_common::Settings::for_tests().redis).unwrap()
}

async fn consumers(conn: &mut ConnectionManager, stream: &str) -> Vec<String> {
    let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg("g")
        .query_async(conn)
        .await
        .unwrap();
    let mut names: Vec<String> = reply.consumers.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn departed_consumers_without_pending_entries_are_forgotten() {
    let mut conn = redis().await;
    let stream = format!("test:{}:events", uuid::Uuid::new_v4());
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("f")
        .arg("v")
        .query_async(&mut conn)
        .await
        .unwrap();
    // `busy` takes the entry and never acknowledges it; `idle` has nothing.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("busy")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(&stream)
        .arg("g")
        .arg("idle")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(consumers(&mut conn, &stream).await, ["busy", "idle"]);

    // Not idle long enough yet: nobody goes.
    let gone = Duration::from_secs(3600);
    assert_eq!(
        forget_departed_consumers(&mut conn, &stream, "g", gone)
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let forgotten = forget_departed_consumers(&mut conn, &stream, "g", Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(forgotten, 1);
    assert_eq!(consumers(&mut conn, &stream).await, ["busy"]);
    // A stream without the group is not an error.
    assert_eq!(
        forget_departed_consumers(&mut conn, "test:no-such-stream", "g", gone)
            .await
            .unwrap(),
        0
    );
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
}

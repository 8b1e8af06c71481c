//! Runs the real `roost-api` binary and reads what it writes to stdout: one JSON line per
//! request with the fields operators search by, and never a password or a token.

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use roost_common::Settings;
use roost_testkit::{ChildProcess, PASSWORD, bin, command, database_url, free_port};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn request_logs_are_json_lines_without_secrets(db: PgPool) {
    let port = free_port();
    let jwt_secret = "log-test-secret-0123456789abcdef01234";
    let mut settings = Settings::for_tests();
    settings.database.url = database_url(&db).await.into();
    settings.http.addr = ([127, 0, 0, 1], port).into();
    settings.auth.jwt_secret = Some(jwt_secret.into());
    settings.http.workers = 1;
    settings.http.shutdown_delay = Duration::from_secs(2);
    let mut cmd = command("roost-api", &settings);
    cmd.arg("serve")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildProcess::spawn(cmd);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "roost-api did not start");

    let password = format!("{PASSWORD}-Sekrit");
    let res = client
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"username": "logan", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let request_id = me.headers()["x-request-id"].to_str().unwrap().to_owned();
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    let bad = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "logan", "password": "wrong-Password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    // Malformed HTTP: the server answers 400 and logs a WARN line with the cause.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for raw in [
            "GARBAGE\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        ] {
            let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            socket.write_all(raw.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
            assert!(answer.starts_with(b"HTTP/1.1 400"), "{raw:?}");
        }
    }

    // A notification socket, to be closed as "going away" when the server stops.
    let mut socket = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{port}/v1/notifications/stream")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    // SIGTERM: readiness drops at once while requests are still served (the load balancer
    // takes the replica out first), then a graceful shutdown, exit 0.
    child.terminate();
    let draining = roost_testkit::eventually(2, "readiness to drop", || async {
        let res = client.get(format!("{base}/readyz")).send().await.ok()?;
        (res.status() == 503).then_some(res)
    })
    .await;
    assert_eq!(
        draining.json::<Value>().await.unwrap()["status"],
        "draining"
    );
    let me = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "still serving while draining");
    // After the delay the socket is closed with 1001 (going away), not held until the
    // graceful stop's timeout.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use futures_util::StreamExt;
        while let Some(Ok(message)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the socket was closed before the stop's timeout");
    assert_eq!(closed, Some(1001));
    let mut pipe = child.take_stdout();
    let reading = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        pipe.read_to_string(&mut out).unwrap();
        out
    });
    let exit = child.wait(Duration::from_secs(60)).await;
    let stdout = reading.await.unwrap();
    assert!(exit.success(), "exit status {exit:?}");

    assert!(!stdout.contains(&password), "a password reached the logs");
    assert!(!stdout.contains(&token), "a token reached the logs");
    assert!(
        !stdout.contains(jwt_secret),
        "the JWT secret reached the logs"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["target"] == "http").collect();
    let me_line = requests
        .iter()
        .find(|l| l["request_id"] == request_id.as_str())
        .expect("a log line for GET /v1/me");
    assert_eq!(me_line["method"], "GET");
    assert_eq!(me_line["route"], "/v1/me");
    assert_eq!(me_line["status"], 200);
    assert_eq!(me_line["user_id"], user_id);
    assert!(me_line["latency_ms"].is_f64());
    assert_eq!(me_line["trace_id"].as_str().unwrap().len(), 32);
    let register = requests
        .iter()
        .filter(|l| l["route"] == "/v1/auth/register")
        .count();
    assert_eq!(register, 1, "exactly one line per request");
    let failed_login = requests
        .iter()
        .find(|l| l["route"] == "/v1/auth/login")
        .unwrap();
    assert_eq!(failed_login["code"], "invalid_credentials");
    assert_eq!(failed_login["status"], 401);
    // Nothing at ERROR (log-based alerts watch it); the malformed requests are WARNs.
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert!(errors.is_empty(), "{errors:?}");
    let malformed: Vec<&&Value> = requests
        .iter()
        .filter(|l| l["message"] == "malformed request or broken connection")
        .collect();
    assert!(!malformed.is_empty(), "{requests:?}");
    assert!(malformed.iter().all(|l| {
        l["level"] == "WARN"
            && l["cause"]
                .as_str()
                .is_some_and(|c| c.contains("parse error"))
    }));
}

/// libpq's TLS variables reach the connection (CloudNativePG's `verify-full` with its CA):
/// asking for TLS from the test server, which has none, fails instead of going in the clear.
#[sqlx::test(migrations = "../migrations")]
async fn pgsslmode_is_honoured(db: PgPool) {
    let mut settings = Settings::for_tests();
    settings.database.url = database_url(&db).await.into();
    // Nothing inherited: no PG* variable of the test's environment interferes.
    let run = |mode: &str| {
        Command::new(bin("roost-api"))
            .arg("migrate")
            .env_clear()
            .envs(settings.to_env())
            .env("PGSSLMODE", mode)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run("require");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("tls") || err.contains("ssl"), "{err}");
    assert!(run("prefer").status.success());
}

//! `roost-api doctor`: the Kubernetes checks against an HTTP-level mock of the API server (a
//! real HTTP server on loopback answering the paths the kube client requests with fixture
//! objects), one test per failure it reports; the data checks against the real test
//! PostgreSQL and Redis.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use roost_api::doctor::cluster::{self, Release};
use roost_api::doctor::{Check, Outcome, Report, data};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common::{database_url, free_port};

const NS: &str = "roost";

/// The objects the mock API server holds, by request path (query strings are ignored: the
/// fixture only holds the release's objects). Unknown paths answer 404 as the API server does.
#[derive(Clone)]
struct Fixture(BTreeMap<String, (u16, Value)>);

fn secret(name: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), json!("c2VjcmV0")))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "data": data})
}

fn secret_volume(volume: &str, secret: &str, keys: &[&str]) -> Value {
    let items: Vec<Value> = keys.iter().map(|k| json!({"key": k, "path": k})).collect();
    json!({"name": volume, "secret": {"secretName": secret, "items": items}})
}

fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/name": "roost", "app.kubernetes.io/instance": "roost",
           "app.kubernetes.io/component": component, "release": "roost"})
}

fn deployment(name: &str, component: &str, replicas: i32, volumes: Vec<Value>) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 3, "labels": labels(component)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(component)},
            "template": {
                "metadata": {"labels": labels(component)},
                "spec": {"containers": [{"name": component, "image": "roost:dev"}], "volumes": volumes}
            }
        },
        "status": {"observedGeneration": 3, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    })
}

fn ready_pod(name: &str, component: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels(component)},
        "spec": {"containers": [{"name": component, "image": "roost:dev"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": component, "ready": true, "restartCount": 0, "image": "roost:dev",
                                   "imageID": "", "state": {"running": {"startedAt": "2026-11-29T10:00:00Z"}}}]
        }
    })
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items})
}

fn monitor(kind: &str, name: &str, component: &str) -> Value {
    json!({"apiVersion": "monitoring.coreos.com/v1", "kind": kind,
           "metadata": {"name": name, "namespace": NS, "labels": labels(component)}, "spec": {}})
}

fn prometheus(spec: Value) -> Value {
    json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
           "metadata": {"name": "kube-prometheus-stack-prometheus", "namespace": "monitoring"},
           "spec": spec})
}

const APPS: &str = "/apis/apps/v1/namespaces/roost";
const CORE: &str = "/api/v1/namespaces/roost";
const MONITORING: &str = "/apis/monitoring.coreos.com/v1";
const CLUSTER: &str = "/apis/postgresql.cnpg.io/v1/namespaces/roost/clusters/roost-db";

impl Fixture {
    /// A healthy release as the chart's kind profile deploys it: api and ingest Deployments,
    /// the Redis StatefulSet, a CloudNativePG cluster, a completed migration Job, monitors
    /// that kube-prometheus-stack (configured by k8s/) selects.
    fn healthy() -> Self {
        let mut objects = BTreeMap::new();
        let mut put = |path: String, value: Value| {
            objects.insert(path, (200, value));
        };
        let api = deployment(
            "roost-api",
            "api",
            2,
            vec![
                secret_volume("app", "roost-secrets", &["jwt-secret", "admin-token"]),
                secret_volume("database", "roost-db-app", &["uri"]),
                secret_volume("database-ca", "roost-db-ca", &["ca.crt"]),
                secret_volume("redis", "roost-redis", &["url"]),
            ],
        );
        let ingest = deployment(
            "roost-ingest",
            "ingest",
            1,
            vec![
                secret_volume("database", "roost-db-app", &["uri"]),
                secret_volume("redis", "roost-redis", &["url"]),
            ],
        );
        put(
            format!("{APPS}/deployments"),
            list("Deployment", "apps/v1", vec![api, ingest]),
        );
        let redis = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "roost-redis", "namespace": NS, "labels": labels("redis")},
            "spec": {"replicas": 1, "serviceName": "roost-redis", "selector": {"matchLabels": labels("redis")},
                     "template": {"metadata": {"labels": labels("redis")},
                                  "spec": {"containers": [{"name": "redis", "image": "redis"}],
                                           "volumes": [secret_volume("password", "roost-redis", &["password"])]}}},
            "status": {"replicas": 1, "readyReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"}
        });
        put(
            format!("{APPS}/statefulsets"),
            list("StatefulSet", "apps/v1", vec![redis]),
        );
        for (name, keys) in [
            ("roost-secrets", &["jwt-secret", "admin-token"][..]),
            ("roost-db-app", &["uri", "password", "username"][..]),
            ("roost-db-ca", &["ca.crt", "ca.key"][..]),
            ("roost-redis", &["url", "password"][..]),
        ] {
            put(format!("{CORE}/secrets/{name}"), secret(name, keys));
        }
        put(
            CLUSTER.to_owned(),
            json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                   "metadata": {"name": "roost-db", "namespace": NS},
                   "spec": {"instances": 1},
                   "status": {"phase": "Cluster in healthy state", "instances": 1, "readyInstances": 1,
                              "currentPrimary": "roost-db-1"}}),
        );
        put(
            format!("{CORE}/pods"),
            list(
                "Pod",
                "v1",
                vec![
                    ready_pod("roost-api-7d9f-a", "api"),
                    ready_pod("roost-api-7d9f-b", "api"),
                    ready_pod("roost-ingest-5c4b-a", "ingest"),
                    ready_pod("roost-redis-0", "redis"),
                ],
            ),
        );
        put(
            "/apis/batch/v1/namespaces/roost/jobs".to_owned(),
            list(
                "Job",
                "batch/v1",
                vec![json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": "roost-migrate", "namespace": NS, "labels": labels("migrate")},
                    "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
                })],
            ),
        );
        put(
            format!("{MONITORING}/namespaces/roost/servicemonitors"),
            list(
                "ServiceMonitor",
                "monitoring.coreos.com/v1",
                vec![
                    monitor("ServiceMonitor", "roost-api", "api"),
                    monitor("ServiceMonitor", "roost-ingest", "ingest"),
                ],
            ),
        );
        put(
            format!("{MONITORING}/namespaces/roost/podmonitors"),
            list(
                "PodMonitor",
                "monitoring.coreos.com/v1",
                vec![monitor("PodMonitor", "roost-db", "database")],
            ),
        );
        // kube-prometheus-stack with `*SelectorNilUsesHelmValues: false` (k8s/values): empty
        // selectors, every namespace.
        put(
            format!("{MONITORING}/prometheuses"),
            list(
                "Prometheus",
                "monitoring.coreos.com/v1",
                vec![prometheus(json!({
                    "serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {},
                    "podMonitorSelector": {}, "podMonitorNamespaceSelector": {}
                }))],
            ),
        );
        put(
            "/api/v1/namespaces/roost".to_owned(),
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": NS, "labels": {"kubernetes.io/metadata.name": NS}}}),
        );
        Self(objects)
    }

    /// Edits the object at `path` in place.
    fn edit(&mut self, path: &str, change: impl FnOnce(&mut Value)) -> &mut Self {
        let (_, value) = self.0.get_mut(path).unwrap_or_else(|| panic!("no {path}"));
        change(value);
        self
    }

    /// The API server answers `status` (with a Status body) at `path`.
    fn fail(&mut self, path: &str, status: u16, reason: &str) -> &mut Self {
        let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": format!("{path} is {reason}"), "reason": reason, "code": status});
        self.0.insert(path.to_owned(), (status, body));
        self
    }

    fn remove(&mut self, path: &str) -> &mut Self {
        self.0.remove(path);
        self
    }

    /// Serves the fixture on loopback and runs the doctor's Kubernetes checks against it.
    async fn doctor(&self) -> Report {
        let objects = Arc::new(self.0.clone());
        let server = HttpServer::new(move || {
            let objects = objects.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let objects = objects.clone();
                async move {
                    match objects.get(req.path()) {
                        Some((status, body)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(*status).unwrap(),
                        )
                        .json(body),
                        None => HttpResponse::NotFound().json(json!({
                            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": format!("{} not found", req.path()), "reason": "NotFound", "code": 404
                        })),
                    }
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        let report = doctor_at(&format!("http://127.0.0.1:{port}")).await;
        handle.stop(false).await;
        report
    }
}

async fn doctor_at(url: &str) -> Report {
    let config = kube::Config::new(url.parse().unwrap());
    let client = roost_api::doctor::client_for(config).unwrap();
    let mut report = Report::default();
    cluster::check(&client, &Release::new(NS, "roost"), &mut report).await;
    println!("{}", report.render());
    report
}

/// The one failure of `check` in the report; its message must contain every word of `says`.
fn failure(report: &Report, check: Check, says: &[&str]) {
    let failures: Vec<_> = report
        .of(check)
        .filter(|f| f.outcome == Outcome::Fail)
        .collect();
    assert_eq!(failures.len(), 1, "{check:?}: {report:#?}");
    for word in says {
        assert!(
            failures[0].message.contains(word),
            "{check:?} should say {word:?}: {}",
            failures[0].message
        );
    }
    assert_eq!(
        report.count(Outcome::Fail),
        1,
        "only {check:?} fails: {report:#?}"
    );
}

#[actix_web::test]
async fn doctor_finds_nothing_wrong_with_a_healthy_release() {
    let report = Fixture::healthy().doctor().await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    for check in [
        Check::Kubernetes,
        Check::Database,
        Check::Secrets,
        Check::Rollouts,
        Check::Pods,
        Check::Migrations,
        Check::Monitoring,
    ] {
        assert!(
            report.of(check).any(|f| f.outcome == Outcome::Ok),
            "{check:?} ok: {report:#?}"
        );
    }
    // Each workload and monitor is named.
    let text = report.render();
    for name in [
        "deployment roost-api: 2/2",
        "deployment roost-ingest: 1/1",
        "statefulset roost-redis: 1/1",
        "primary roost-db-1",
        "ServiceMonitor roost-api is selected by Prometheus monitoring/kube-prometheus-stack-prometheus",
        "PodMonitor roost-db is selected",
        "4 secret(s)",
        "4 pod(s), every one ready",
        "migration job roost-migrate completed",
    ] {
        assert!(text.contains(name), "{name}: {text}");
    }
    assert!(report.healthy());
}

#[actix_web::test]
async fn doctor_says_when_the_api_server_cannot_be_reached() {
    let report = doctor_at(&format!("http://127.0.0.1:{}", free_port())).await;
    failure(
        &report,
        Check::Kubernetes,
        &["cannot reach the Kubernetes API"],
    );
    assert_eq!(report.findings.len(), 1, "nothing else is attempted");
}

#[actix_web::test]
async fn doctor_says_when_its_account_may_not_read_the_release() {
    let report = Fixture::healthy()
        .fail(&format!("{APPS}/deployments"), 403, "Forbidden")
        .doctor()
        .await;
    failure(
        &report,
        Check::Kubernetes,
        &["not allowed to list deployments", "doctor.rbac.create"],
    );
}

#[actix_web::test]
async fn doctor_says_when_the_release_is_not_in_the_namespace() {
    let report = Fixture::healthy()
        .edit(&format!("{APPS}/deployments"), |l| l["items"] = json!([]))
        .doctor()
        .await;
    failure(
        &report,
        Check::Kubernetes,
        &["no Deployment of release roost", "helm list -n roost"],
    );
}

#[actix_web::test]
async fn doctor_reports_an_unhealthy_cloudnativepg_cluster() {
    let report = Fixture::healthy()
        .edit(CLUSTER, |c| {
            c["spec"]["instances"] = json!(3);
            c["status"] = json!({"phase": "Setting up primary", "readyInstances": 0});
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Database,
        &[
            "roost-db is not healthy",
            "Setting up primary",
            "0/3 instances ready, primary none",
        ],
    );
}

#[actix_web::test]
async fn doctor_skips_the_cluster_check_with_an_external_database() {
    let report = Fixture::healthy().remove(CLUSTER).doctor().await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    assert!(
        report
            .of(Check::Database)
            .any(|f| f.outcome == Outcome::Skip && f.message.contains("external database"))
    );
}

#[actix_web::test]
async fn doctor_reports_a_missing_secret_and_who_needs_it() {
    let report = Fixture::healthy()
        .remove(&format!("{CORE}/secrets/roost-redis"))
        .doctor()
        .await;
    failure(
        &report,
        Check::Secrets,
        &[
            "secret roost-redis does not exist",
            "deployment roost-api",
            "deployment roost-ingest",
            "statefulset roost-redis",
        ],
    );
}

#[actix_web::test]
async fn doctor_reports_a_missing_or_empty_secret_key() {
    let path = format!("{CORE}/secrets/roost-secrets");
    let report = Fixture::healthy()
        .edit(&path, |s| {
            s["data"] = json!({"jwt-secret": "c2VjcmV0", "admin_token": "c2VjcmV0"})
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Secrets,
        &[
            "secret roost-secrets has no key `admin-token`",
            "deployment roost-api",
            "admin_token, jwt-secret",
        ],
    );
    let report = Fixture::healthy()
        .edit(&path, |s| s["data"]["jwt-secret"] = json!(""))
        .doctor()
        .await;
    failure(
        &report,
        Check::Secrets,
        &["key `jwt-secret` of secret roost-secrets is empty"],
    );
}

#[actix_web::test]
async fn doctor_reports_an_incomplete_or_stalled_rollout() {
    let path = format!("{APPS}/deployments");
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][0]["status"]["updatedReplicas"] = json!(1);
            l["items"][0]["status"]["availableReplicas"] = json!(1);
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Rollouts,
        &[
            "rollout of deployment roost-api is not complete",
            "1 of 2 replica(s) updated, 1 available",
        ],
    );
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][1]["status"]["conditions"] = json!([{
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"roost-ingest-9f\" has timed out progressing."
            }]);
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Rollouts,
        &[
            "deployment roost-ingest has stalled",
            "timed out progressing",
        ],
    );
    let report = Fixture::healthy()
        .edit(&format!("{APPS}/statefulsets"), |l| {
            l["items"][0]["status"]["readyReplicas"] = json!(0);
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Rollouts,
        &["statefulset roost-redis is not rolled out: 0 of 1"],
    );
}

#[actix_web::test]
async fn doctor_says_why_a_pod_is_not_ready() {
    let path = format!("{CORE}/pods");
    let report = Fixture::healthy()
        .edit(&path, |l| {
            let pod = &mut l["items"][2];
            pod["status"]["conditions"][0]["status"] = json!("False");
            pod["status"]["containerStatuses"][0] = json!({
                "name": "ingest", "ready": false, "restartCount": 5, "image": "roost:dev", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
            });
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Pods,
        &[
            "pod roost-ingest-5c4b-a",
            "container ingest is waiting: CrashLoopBackOff",
            "5 restart(s); last exit 1 (Error)",
            "kubectl logs roost-ingest-5c4b-a -n roost",
        ],
    );
    let report = Fixture::healthy()
        .edit(&path, |l| {
            let pod = &mut l["items"][0];
            pod["status"] = json!({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False",
                "message": "0/1 nodes are available: 1 Insufficient memory."}]});
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Pods,
        &["not scheduled: 0/1 nodes are available: 1 Insufficient memory."],
    );
    let report = Fixture::healthy()
        .edit(&path, |l| {
            let pod = &mut l["items"][1];
            pod["status"]["conditions"][0]["status"] = json!("False");
            pod["status"]["containerStatuses"][0]["ready"] = json!(false);
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Pods,
        &["container api is running but not ready"],
    );
}

#[actix_web::test]
async fn doctor_reports_a_failed_migration_job() {
    let report = Fixture::healthy()
        .edit("/apis/batch/v1/namespaces/roost/jobs", |l| {
            l["items"][0]["status"] = json!({"failed": 4, "conditions": [{
                "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]});
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Migrations,
        &[
            "migration job roost-migrate failed",
            "BackoffLimitExceeded",
            "kubectl logs job/roost-migrate -n roost",
        ],
    );
}

#[actix_web::test]
async fn doctor_reports_monitors_no_prometheus_selects() {
    let path = format!("{MONITORING}/prometheuses");
    // kube-prometheus-stack's default: only monitors labelled with its own release.
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][0]["spec"]["serviceMonitorSelector"] =
                json!({"matchLabels": {"release": "kube-prometheus-stack"}});
        })
        .doctor()
        .await;
    let failures: Vec<_> = report
        .of(Check::Monitoring)
        .filter(|f| f.outcome == Outcome::Fail)
        .collect();
    assert_eq!(failures.len(), 2, "both ServiceMonitors: {report:#?}");
    assert!(
        failures[0]
            .message
            .contains("ServiceMonitor roost-api is not selected by any Prometheus")
    );
    assert!(
        failures[0]
            .message
            .contains("selects ServiceMonitor with labels release=kube-prometheus-stack"),
        "{}",
        failures[0].message
    );
    assert!(
        report
            .of(Check::Monitoring)
            .any(|f| f.outcome == Outcome::Ok && f.message.contains("PodMonitor roost-db"))
    );
    // A null namespace selector: only the Prometheus's own namespace.
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][0]["spec"]["podMonitorNamespaceSelector"] = Value::Null
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Monitoring,
        &[
            "PodMonitor roost-db is not selected",
            "looks in namespaces (none: the selector is null)",
        ],
    );
    let report = Fixture::healthy()
        .edit(&path, |l| l["items"] = json!([]))
        .doctor()
        .await;
    failure(
        &report,
        Check::Monitoring,
        &["no Prometheus object in the cluster"],
    );
}

fn data_settings(database: &str, prefix: &str) -> roost_common::Settings {
    let redis =
        std::env::var("ROOST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let vars = BTreeMap::from([
        ("ROOST_DATABASE_URL", database.to_owned()),
        ("ROOST_REDIS_URL", redis),
        ("ROOST_REDIS_KEY_PREFIX", prefix.to_owned()),
    ]);
    roost_common::Settings::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn doctor_checks_the_schema_redis_and_the_backlog(db: PgPool) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4());
    let settings = data_settings(&database_url(&db).await, &prefix);
    let mut redis = redis::Client::open(std::env::var("ROOST_REDIS_URL").unwrap())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let report = {
        let mut report = Report::default();
        data::check(&settings, 10, &mut report).await;
        report
    };
    println!("{}", report.render());
    assert!(
        report
            .of(Check::Schema)
            .any(|f| f.outcome == Outcome::Ok && f.message.contains("schema version"))
    );
    // The finding follows Redis's real persistence setting.
    let (_, appendonly): (String, String) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut redis)
        .await
        .unwrap();
    let expected = if appendonly == "yes" {
        Outcome::Ok
    } else {
        Outcome::Fail
    };
    assert!(report.of(Check::Redis).all(|f| f.outcome == expected));
    assert_eq!(
        report
            .of(Check::Backlog)
            .filter(|f| f.message.ends_with("is empty"))
            .count(),
        2
    );

    // 20 events waiting in a group nobody consumes: a worker that is down.
    let stream = format!("{prefix}events");
    for i in 0..20 {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("n")
            .arg(i)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("ingest")
        .arg("0")
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut report = Report::default();
    data::check(&settings, 10, &mut report).await;
    let backlog: Vec<_> = report.of(Check::Backlog).collect();
    assert_eq!(backlog[0].outcome, Outcome::Fail, "{report:#?}");
    assert!(
        backlog[0]
            .message
            .contains("20 entries, lag 20, 0 pending, 0 consumer(s): no worker is consuming it"),
        "{}",
        backlog[0].message
    );
    // A consumer that read 5 of them: consuming, but 15 behind (above 10).
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("ingest")
        .arg("w1")
        .arg("COUNT")
        .arg(5)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut report = Report::default();
    data::check(&settings, 10, &mut report).await;
    let backlog: Vec<_> = report.of(Check::Backlog).collect();
    assert_eq!(backlog[0].outcome, Outcome::Warn, "{report:#?}");
    assert!(
        backlog[0]
            .message
            .contains("lag 15, 5 pending, 1 consumer(s): the lag is above 10"),
        "{}",
        backlog[0].message
    );
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn doctor_reports_an_unmigrated_database_and_an_unreachable_redis(db: PgPool) {
    let mut settings = data_settings(&database_url(&db).await, "test:doctor:");
    settings.redis.url = format!("redis://127.0.0.1:{}/0", free_port()).into();
    let mut report = Report::default();
    data::check(&settings, 10, &mut report).await;
    println!("{}", report.render());
    let schema: Vec<_> = report.of(Check::Schema).collect();
    assert_eq!(schema[0].outcome, Outcome::Fail);
    assert!(
        schema[0].message.contains("run `roost-api migrate`"),
        "{}",
        schema[0].message
    );
    let redis: Vec<_> = report.of(Check::Redis).collect();
    assert_eq!(redis[0].outcome, Outcome::Fail);
    assert!(
        redis[0].message.contains("is not reachable"),
        "{}",
        redis[0].message
    );
    assert_eq!(
        report.of(Check::Backlog).count(),
        0,
        "not read without Redis"
    );
}

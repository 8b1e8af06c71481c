//! `roost-api doctor`: the Kubernetes checks against an HTTP-level mock of the API server (a
//! real HTTP server on loopback answering the paths the kube client requests with fixture
//! objects), one test per failure it reports; the data checks against the real test
//! PostgreSQL and Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use roost_api::doctor::cluster::{self, Release};
use roost_api::doctor::{Check, Outcome, Report, data};
use serde_json::{Value, json};
use sqlx::PgPool;

use roost_testkit::{database_url, free_port};

const NS: &str = "roost";

/// The objects the mock API server holds, by request path plus, for lists, `?` and the label
/// selector the doctor must send (so a wrong selector finds nothing). Unknown keys answer 404
/// as the API server does.
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
           "app.kubernetes.io/component": component})
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

/// A change to one fixture object (a case of a table-driven test).
type Edit = fn(&mut Value);

const APPS: &str = "/apis/apps/v1/namespaces/roost";
/// The label selector of every list of the release's objects.
const RELEASE: &str = "?app.kubernetes.io/instance=roost";
const JOBS: &str = "/apis/batch/v1/namespaces/roost/jobs?app.kubernetes.io/instance=roost,app.kubernetes.io/component=migrate";
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
            format!("{APPS}/deployments{RELEASE}"),
            list("Deployment", "apps/v1", vec![api, ingest]),
        );
        let redis = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "roost-redis", "namespace": NS, "generation": 2, "labels": labels("redis")},
            "spec": {"replicas": 1, "serviceName": "roost-redis", "selector": {"matchLabels": labels("redis")},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": {"metadata": {"labels": labels("redis")},
                                  "spec": {"containers": [{"name": "redis", "image": "redis"}],
                                           "volumes": [secret_volume("password", "roost-redis", &["password"])]}}},
            "status": {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                       "currentRevision": "r1", "updateRevision": "r1"}
        });
        put(
            format!("{APPS}/statefulsets{RELEASE}"),
            list("StatefulSet", "apps/v1", vec![redis]),
        );
        for (name, keys) in [
            ("roost-secrets", &["jwt-secret", "admin-token"][..]),
            ("roost-db-app", &["uri", "password", "username"][..]),
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
            format!("{CORE}/pods{RELEASE}"),
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
            JOBS.to_owned(),
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
            format!("{MONITORING}/namespaces/roost/servicemonitors{RELEASE}"),
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
            format!("{MONITORING}/namespaces/roost/podmonitors{RELEASE}"),
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
        let mut fixture = Self(objects);
        // The chart's doctor Role never reads the CA Secret (it holds the CA key).
        fixture.fail(&format!("{CORE}/secrets/roost-db-ca"), 403, "Forbidden");
        fixture
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

    /// The object at `path` is gone: 404 naming it, as the API server answers for a missing
    /// object of a known type (an unknown type gets a 404 without details).
    fn missing(&mut self, path: &str, name: &str) -> &mut Self {
        let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": format!("\"{name}\" not found"), "reason": "NotFound",
                          "details": {"name": name, "kind": "clusters"}, "code": 404});
        self.0.insert(path.to_owned(), (404, body));
        self
    }

    fn put(&mut self, path: &str, value: Value) -> &mut Self {
        self.0.insert(path.to_owned(), (200, value));
        self
    }

    fn remove(&mut self, path: &str) -> &mut Self {
        self.0.remove(path);
        self
    }

    /// Serves the fixture on loopback and runs the doctor's Kubernetes checks against it.
    async fn doctor(&self) -> Report {
        self.doctor_logged().await.0
    }

    /// [`Fixture::doctor`], with every request the doctor made (method and path).
    async fn doctor_logged(&self) -> (Report, Vec<(String, String)>) {
        let objects = Arc::new(self.0.clone());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let server_log = log.clone();
        let server = HttpServer::new(move || {
            let objects = objects.clone();
            let log = server_log.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let objects = objects.clone();
                let log = log.clone();
                async move {
                    log.lock()
                        .unwrap()
                        .push((req.method().to_string(), req.path().to_owned()));
                    // The doctor only reads.
                    if req.method() != actix_web::http::Method::GET {
                        return HttpResponse::MethodNotAllowed().finish();
                    }
                    let selector = url::form_urlencoded::parse(req.query_string().as_bytes())
                        .find(|(k, _)| k == "labelSelector")
                        .map(|(_, v)| format!("?{v}"))
                        .unwrap_or_default();
                    match objects.get(&format!("{}{selector}", req.path())) {
                        Some((status, body)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(*status).unwrap(),
                        )
                        .json(body),
                        // What the API server answers for a path it has no handler for, e.g.
                        // a resource type whose CRD is not installed: plain text, no Status.
                        None => HttpResponse::NotFound()
                            .content_type("text/plain; charset=utf-8")
                            .body("404 page not found\n"),
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
        let requests = log.lock().unwrap().clone();
        (report, requests)
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

/// The one finding of `check` with `outcome` whose message contains `says[0]`; it must
/// contain every other word of `says` too.
fn finding(report: &Report, check: Check, outcome: Outcome, says: &[&str]) {
    let found: Vec<_> = report
        .of(check)
        .filter(|f| f.outcome == outcome && f.message.contains(says[0]))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {outcome:?} of {check:?} saying {:?}: {report:#?}",
        says[0]
    );
    for word in says {
        assert!(
            found[0].message.contains(word),
            "{check:?} should say {word:?}: {}",
            found[0].message
        );
    }
}

/// [`finding`] of a failure, and the only failure of the report.
fn failure(report: &Report, check: Check, says: &[&str]) {
    finding(report, check, Outcome::Fail, says);
    assert_eq!(
        report.count(Outcome::Fail),
        1,
        "only {check:?} fails: {report:#?}"
    );
}

/// (API group, resource, verb, Role or ClusterRole) of a request path, as RBAC sees it.
fn rbac_request(path: &str) -> (String, String, String, String) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("core".to_owned(), rest.to_vec()),
        ["apis", group, _version, rest @ ..] => ((*group).to_owned(), rest.to_vec()),
        _ => panic!("unexpected path {path}"),
    };
    let (scope, resource, name) = match rest.as_slice() {
        ["namespaces", _, resource] => ("Role", *resource, None),
        ["namespaces", _, resource, name] => ("Role", *resource, Some(*name)),
        ["namespaces", name] => ("ClusterRole", "namespaces", Some(*name)),
        [resource] => ("ClusterRole", *resource, None),
        _ => panic!("unexpected path {path}"),
    };
    let verb = if name.is_some() { "get" } else { "list" };
    (
        group,
        resource.to_owned(),
        verb.to_owned(),
        scope.to_owned(),
    )
}

#[actix_web::test]
async fn doctor_makes_only_the_requests_the_chart_grants() {
    let (_, requests) = Fixture::healthy().doctor_logged().await;
    assert!(
        requests.iter().all(|(method, _)| method == "GET"),
        "{requests:?}"
    );
    let made: BTreeSet<_> = requests
        .iter()
        .map(|(_, path)| rbac_request(path))
        .collect();
    let catalogue = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../charts/roost/tests/doctor-requests.txt"
    ))
    .unwrap();
    let granted: BTreeSet<_> = catalogue
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].to_owned(),
            )
        })
        .collect();
    assert_eq!(made, granted, "charts/roost/tests/doctor-requests.txt");
}

#[actix_web::test]
async fn doctor_finds_nothing_wrong_with_a_healthy_release() {
    let report = Fixture::healthy().doctor().await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    assert_eq!(report.count(Outcome::Warn), 0, "{report:#?}");
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
        "3 secret(s) with every key the workloads mount: roost-db-app, roost-redis, roost-secrets",
        "not allowed to read secret(s) roost-db-ca",
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
    // The cause, not just "client error": the connection was refused.
    failure(
        &report,
        Check::Kubernetes,
        &["cannot reach the Kubernetes API", "Connection refused"],
    );
    assert_eq!(report.findings.len(), 1, "nothing else is attempted");
}

#[actix_web::test]
async fn doctor_says_when_its_account_may_not_read_the_release() {
    let report = Fixture::healthy()
        .fail(&format!("{APPS}/deployments{RELEASE}"), 403, "Forbidden")
        .doctor()
        .await;
    failure(
        &report,
        Check::Kubernetes,
        &["not allowed to list deployments", "doctor.rbac.create"],
    );
}

/// Each other request the doctor makes, refused: the check says so (a failure, or a skip or
/// warning where the check is only partial).
#[actix_web::test]
async fn doctor_names_each_request_its_account_may_not_make() {
    let cases: [(String, Check, Outcome, &str); 8] = [
        (
            format!("{APPS}/statefulsets{RELEASE}"),
            Check::Rollouts,
            Outcome::Fail,
            "not allowed to list statefulsets",
        ),
        (
            CLUSTER.to_owned(),
            Check::Database,
            Outcome::Fail,
            "not allowed to read CloudNativePG cluster roost-db",
        ),
        (
            format!("{CORE}/secrets/roost-db-app"),
            Check::Secrets,
            Outcome::Skip,
            "not allowed to read secret(s) roost-db-app, roost-db-ca",
        ),
        (
            format!("{CORE}/pods{RELEASE}"),
            Check::Pods,
            Outcome::Fail,
            "not allowed to list pods",
        ),
        (
            JOBS.to_owned(),
            Check::Migrations,
            Outcome::Fail,
            "not allowed to list jobs",
        ),
        (
            format!("{MONITORING}/namespaces/roost/servicemonitors{RELEASE}"),
            Check::Monitoring,
            Outcome::Fail,
            "not allowed to list ServiceMonitors",
        ),
        (
            format!("{MONITORING}/prometheuses"),
            Check::Monitoring,
            Outcome::Warn,
            "not allowed to list Prometheus objects in all namespaces",
        ),
        (
            format!("{APPS}/deployments{RELEASE}"),
            Check::Kubernetes,
            Outcome::Fail,
            "not allowed to list deployments",
        ),
    ];
    for (path, check, outcome, says) in cases {
        let report = Fixture::healthy()
            .fail(&path, 403, "Forbidden")
            .doctor()
            .await;
        finding(&report, check, outcome, &[says]);
    }
    // The secrets it may read are still checked.
    let report = Fixture::healthy()
        .fail(&format!("{CORE}/secrets/roost-db-app"), 403, "Forbidden")
        .doctor()
        .await;
    finding(&report, Check::Secrets, Outcome::Ok, &["2 secret(s)"]);
    // Expired credentials.
    let report = Fixture::healthy()
        .fail(&format!("{APPS}/deployments{RELEASE}"), 401, "Unauthorized")
        .doctor()
        .await;
    failure(&report, Check::Kubernetes, &["refused the credentials"]);
}

#[actix_web::test]
async fn doctor_says_when_the_release_is_not_in_the_namespace() {
    let report = Fixture::healthy()
        .edit(&format!("{APPS}/deployments{RELEASE}"), |l| {
            l["items"] = json!([])
        })
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
async fn doctor_reports_a_missing_cloudnativepg_cluster_or_operator() {
    // The workloads mount roost-db-app, so the cluster must exist.
    let report = Fixture::healthy()
        .missing(CLUSTER, "roost-db")
        .doctor()
        .await;
    failure(
        &report,
        Check::Database,
        &["no such cluster in namespace roost", "was it deleted"],
    );
    // A 404 without details: the resource type itself is unknown.
    let report = Fixture::healthy().remove(CLUSTER).doctor().await;
    failure(
        &report,
        Check::Database,
        &["is the CloudNativePG operator installed"],
    );
}

#[actix_web::test]
async fn doctor_skips_the_cluster_check_with_an_external_database() {
    let external = |v: &mut Value| {
        for item in v["items"].as_array_mut().unwrap() {
            let volumes = item["spec"]["template"]["spec"]["volumes"]
                .as_array_mut()
                .unwrap();
            volumes.retain(|v| v["secret"]["secretName"] != "roost-db-ca");
            for volume in volumes {
                if volume["secret"]["secretName"] == "roost-db-app" {
                    volume["secret"]["secretName"] = json!("roost-postgres");
                }
            }
        }
    };
    let report = Fixture::healthy()
        .remove(CLUSTER)
        .remove(&format!("{CORE}/secrets/roost-db-app"))
        .edit(&format!("{APPS}/deployments{RELEASE}"), external)
        .put(
            &format!("{CORE}/secrets/roost-postgres"),
            secret("roost-postgres", &["uri"]),
        )
        .doctor()
        .await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    finding(
        &report,
        Check::Database,
        Outcome::Skip,
        &["external database"],
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
async fn doctor_reports_an_incomplete_or_stalled_deployment_rollout() {
    let path = format!("{APPS}/deployments{RELEASE}");
    let cases: [(Edit, &str); 5] = [
        (
            |l| l["items"][0]["status"]["updatedReplicas"] = json!(1),
            "deployment roost-api: rollout not complete: 1 of 2 replica(s) updated",
        ),
        // Every replica updated, one old pod still there: kubectl waits, so does the doctor.
        (
            |l| l["items"][0]["status"]["replicas"] = json!(3),
            "deployment roost-api: rollout not complete: 1 old replica(s) pending termination",
        ),
        (
            |l| l["items"][0]["status"]["availableReplicas"] = json!(1),
            "deployment roost-api: rollout not complete: 1 of 2 updated replica(s) available",
        ),
        (
            |l| l["items"][0]["metadata"]["generation"] = json!(4),
            "deployment roost-api: its latest change is not observed",
        ),
        (
            |l| {
                l["items"][1]["status"]["conditions"] = json!([{
                    "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": "ReplicaSet \"roost-ingest-9f\" has timed out progressing."
                }])
            },
            "deployment roost-ingest: the rollout has stalled (ProgressDeadlineExceeded): ReplicaSet",
        ),
    ];
    for (change, says) in cases {
        let report = Fixture::healthy().edit(&path, change).doctor().await;
        failure(&report, Check::Rollouts, &[says]);
    }
}

#[actix_web::test]
async fn doctor_reports_an_incomplete_statefulset_rollout() {
    let path = format!("{APPS}/statefulsets{RELEASE}");
    let cases: [(Edit, &str); 3] = [
        (
            |l| l["items"][0]["status"]["readyReplicas"] = json!(0),
            "statefulset roost-redis: not rolled out: 0 of 1 replica(s) ready",
        ),
        (
            |l| l["items"][0]["status"]["updatedReplicas"] = json!(0),
            "statefulset roost-redis: rollout not complete: 0 of 1 replica(s) updated",
        ),
        (
            |l| l["items"][0]["status"]["observedGeneration"] = json!(1),
            "statefulset roost-redis: its latest change is not observed",
        ),
    ];
    for (change, says) in cases {
        let report = Fixture::healthy().edit(&path, change).doctor().await;
        failure(&report, Check::Rollouts, &[says]);
    }
    // OnDelete and partitions differ in revision by design: not a failure.
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][0]["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
            l["items"][0]["status"]["updateRevision"] = json!("r2");
        })
        .doctor()
        .await;
    finding(&report, Check::Rollouts, Outcome::Ok, &["OnDelete"]);
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][0]["spec"]["replicas"] = json!(3);
            l["items"][0]["spec"]["updateStrategy"] =
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
            l["items"][0]["status"]["readyReplicas"] = json!(3);
            l["items"][0]["status"]["updatedReplicas"] = json!(0);
            l["items"][0]["status"]["updateRevision"] = json!("r2");
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Rollouts,
        &["rollout not complete: 0 of 1 replica(s) updated (partition 2)"],
    );
    // No status at all yet.
    let report = Fixture::healthy()
        .edit(&format!("{APPS}/deployments{RELEASE}"), |l| {
            l["items"][1].as_object_mut().unwrap().remove("status");
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Rollouts,
        &["deployment roost-ingest: no status yet"],
    );
}

#[actix_web::test]
async fn doctor_says_why_a_pod_is_not_ready() {
    let path = format!("{CORE}/pods{RELEASE}");
    let not_ready = |pod: &mut Value| pod["status"]["conditions"][0]["status"] = json!("False");
    let cases: [(Edit, &[&str]); 5] = [
        (
            |l| {
                let pod = &mut l["items"][2];
                pod["status"]["conditions"][0]["status"] = json!("False");
                pod["status"]["containerStatuses"][0] = json!({
                    "name": "ingest", "ready": false, "restartCount": 5, "image": "roost:dev", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
                });
            },
            &[
                "pod roost-ingest-5c4b-a",
                "container ingest is waiting: CrashLoopBackOff",
                "5 restart(s); last exit 1 (Error)",
                "kubectl logs roost-ingest-5c4b-a -n roost",
            ],
        ),
        (
            |l| {
                l["items"][0]["status"] = json!({"phase": "Pending", "conditions": [{
                    "type": "PodScheduled", "status": "False",
                    "message": "0/1 nodes are available: 1 Insufficient memory."}]});
            },
            &["not scheduled: 0/1 nodes are available: 1 Insufficient memory."],
        ),
        (
            |l| {
                let pod = &mut l["items"][1];
                pod["status"]["conditions"][0]["status"] = json!("False");
                pod["status"]["containerStatuses"][0]["ready"] = json!(false);
            },
            &["container api is running but not ready"],
        ),
        // The API's migrate init container waiting for a CNPG cluster that is still starting.
        (
            |l| {
                let pod = &mut l["items"][1];
                pod["status"]["phase"] = json!("Pending");
                pod["status"]["conditions"][0]["status"] = json!("False");
                pod["status"]["initContainerStatuses"] = json!([{
                    "name": "migrate", "ready": false, "restartCount": 0, "image": "roost:dev", "imageID": "",
                    "state": {"running": {"startedAt": "2026-11-29T10:00:00Z"}}}]);
                pod["status"]["containerStatuses"][0] = json!({
                    "name": "api", "ready": false, "restartCount": 0, "image": "roost:dev", "imageID": "",
                    "state": {"waiting": {"reason": "PodInitializing"}}});
            },
            &["init container migrate has not finished (it waits for PostgreSQL"],
        ),
        (
            |l| {
                let pod = &mut l["items"][3];
                pod["status"]["conditions"][0]["status"] = json!("False");
                pod["status"]["containerStatuses"][0]["ready"] = json!(false);
                pod["status"]["containerStatuses"][0]["state"] =
                    json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}});
            },
            &["pod roost-redis-0: container redis exited with 137 (OOMKilled)"],
        ),
    ];
    for (change, says) in cases {
        let report = Fixture::healthy().edit(&path, change).doctor().await;
        failure(&report, Check::Pods, says);
    }
    // An evicted pod (replaced by its controller) is a warning; a pod being deleted during a
    // rollout is draining on purpose and not reported.
    let report = Fixture::healthy()
        .edit(&path, |l| {
            let items = l["items"].as_array_mut().unwrap();
            let mut evicted = items[0].clone();
            evicted["metadata"]["name"] = json!("roost-api-7d9f-old");
            evicted["status"] = json!({"phase": "Failed", "reason": "Evicted",
                                       "message": "The node was low on resource: memory."});
            let mut draining = items[1].clone();
            draining["metadata"]["name"] = json!("roost-api-7d9f-drain");
            draining["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
            not_ready(&mut draining);
            items.push(evicted);
            items.push(draining);
        })
        .doctor()
        .await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    finding(
        &report,
        Check::Pods,
        Outcome::Warn,
        &["pod roost-api-7d9f-old failed (Evicted: The node was low on resource: memory.)"],
    );
    let report = Fixture::healthy()
        .edit(&path, |l| {
            let items = l["items"].as_array_mut().unwrap();
            let mut draining = items[1].clone();
            draining["metadata"]["name"] = json!("roost-api-7d9f-drain");
            draining["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
            draining["status"]["conditions"][0]["status"] = json!("False");
            items.push(draining);
        })
        .doctor()
        .await;
    finding(
        &report,
        Check::Pods,
        Outcome::Ok,
        &["4 pod(s), every one ready (1 more terminating)"],
    );
}

#[actix_web::test]
async fn doctor_reports_a_failed_or_running_migration_job() {
    for condition in ["Failed", "FailureTarget"] {
        let report = Fixture::healthy()
            .edit(JOBS, |l| {
                l["items"][0]["status"] = json!({"failed": 4, "conditions": [{
                    "type": condition, "status": "True", "reason": "BackoffLimitExceeded",
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
    let report = Fixture::healthy()
        .edit(JOBS, |l| l["items"][0]["status"] = json!({"active": 1}))
        .doctor()
        .await;
    finding(
        &report,
        Check::Migrations,
        Outcome::Warn,
        &["migration job roost-migrate is still running"],
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
    for words in [
        "ServiceMonitor roost-api is not selected by any Prometheus",
        "selects ServiceMonitor with labels release=kube-prometheus-stack",
        "serviceMonitor.labels",
    ] {
        assert!(
            failures[0].message.contains(words),
            "{}",
            failures[0].message
        );
    }
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
            "prometheusSpec.podMonitorNamespaceSelector: {}",
        ],
    );
    let report = Fixture::healthy()
        .edit(&path, |l| l["items"] = json!([]))
        .doctor()
        .await;
    // Another agent may read ServiceMonitors: a warning.
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    finding(
        &report,
        Check::Monitoring,
        Outcome::Warn,
        &["no Prometheus object in the cluster"],
    );
}

#[actix_web::test]
async fn doctor_skips_what_the_release_does_not_have() {
    // Init-container migrations: no Job.
    let report = Fixture::healthy()
        .edit(JOBS, |l| l["items"] = json!([]))
        .doctor()
        .await;
    finding(
        &report,
        Check::Migrations,
        Outcome::Skip,
        &["no migration Job"],
    );
    // No Prometheus Operator: its resource types are unknown (a plain-text 404).
    let report = Fixture::healthy()
        .remove(&format!(
            "{MONITORING}/namespaces/roost/servicemonitors{RELEASE}"
        ))
        .remove(&format!(
            "{MONITORING}/namespaces/roost/podmonitors{RELEASE}"
        ))
        .doctor()
        .await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    finding(
        &report,
        Check::Monitoring,
        Outcome::Skip,
        &["no ServiceMonitor or PodMonitor"],
    );
}

#[actix_web::test]
async fn doctor_applies_prometheus_namespace_selectors() {
    let path = format!("{MONITORING}/prometheuses");
    let by_team = |l: &mut Value| {
        l["items"][0]["spec"]["serviceMonitorNamespaceSelector"] =
            json!({"matchLabels": {"team": "roost"}});
    };
    // The namespace carries the label: selected.
    let report = Fixture::healthy()
        .edit(&path, by_team)
        .edit("/api/v1/namespaces/roost", |n| {
            n["metadata"]["labels"]["team"] = json!("roost")
        })
        .doctor()
        .await;
    assert_eq!(report.count(Outcome::Fail), 0, "{report:#?}");
    // It does not: both ServiceMonitors unselected, with the namespace advice.
    let report = Fixture::healthy().edit(&path, by_team).doctor().await;
    let failures: Vec<_> = report
        .of(Check::Monitoring)
        .filter(|f| f.outcome == Outcome::Fail)
        .collect();
    assert_eq!(failures.len(), 2, "{report:#?}");
    assert!(
        failures[0]
            .message
            .contains("looks in namespaces with labels team=roost"),
        "{}",
        failures[0].message
    );
    assert!(
        failures[0]
            .message
            .contains("or label namespace roost to match)")
    );
    // The namespace may not be read: said so.
    let report = Fixture::healthy()
        .edit(&path, by_team)
        .fail("/api/v1/namespaces/roost", 403, "Forbidden")
        .doctor()
        .await;
    let unselected = report
        .of(Check::Monitoring)
        .find(|f| f.outcome == Outcome::Fail)
        .unwrap();
    assert!(
        unselected.message.contains("its labels could not be read"),
        "{}",
        unselected.message
    );
    // A selector the doctor cannot read.
    let report = Fixture::healthy()
        .edit(&path, |l| {
            l["items"][0]["spec"]["podMonitorSelector"] =
                json!({"matchExpressions": [{"key": "a", "operator": "Sometimes", "values": ["b"]}]});
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Monitoring,
        &[
            "PodMonitor roost-db is not selected",
            "unreadable label selector",
        ],
    );
}

#[actix_web::test]
async fn doctor_reports_a_pod_not_ready_for_no_container_reason() {
    let report = Fixture::healthy()
        .edit(&format!("{CORE}/pods{RELEASE}"), |l| {
            let pod = &mut l["items"][0];
            pod["status"]["conditions"][0]["status"] = json!("False");
            pod["status"]["reason"] = json!("NodeLost");
            pod["status"]["phase"] = json!("Unknown");
            pod["status"]
                .as_object_mut()
                .unwrap()
                .remove("containerStatuses");
        })
        .doctor()
        .await;
    failure(
        &report,
        Check::Pods,
        &["pod roost-api-7d9f-a: not ready (phase Unknown (NodeLost))"],
    );
}

fn data_settings(database: &str, prefix: &str) -> roost_common::Settings {
    let mut settings = roost_common::Settings::for_tests();
    settings.database.url = database.to_owned().into();
    settings.redis.key_prefix = prefix.to_owned();
    settings
}

async fn data_report(settings: &roost_common::Settings, limits: data::Limits) -> Report {
    let mut report = Report::default();
    data::check(settings, limits, &mut report).await;
    println!("{}", report.render());
    report
}

#[sqlx::test(migrations = "../migrations")]
async fn doctor_checks_the_schema_redis_and_the_backlog(db: PgPool) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4());
    let settings = data_settings(&database_url(&db).await, &prefix);
    let limits = data::Limits {
        max_lag: 10,
        consumer_idle: std::time::Duration::from_millis(500),
    };
    let mut redis = roost_testkit::redis_connection().await;
    let report = data_report(&settings, limits).await;
    finding(&report, Check::Schema, Outcome::Ok, &["schema version"]);
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
    finding(&report, Check::Redis, expected, &["AOF"]);
    assert_eq!(report.of(Check::Redis).count(), 1);
    assert_eq!(
        report
            .of(Check::Backlog)
            .filter(|f| f.message.ends_with("is empty"))
            .count(),
        2
    );

    // 20 events and no consumer group: the worker never started.
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
    let report = data_report(&settings, limits).await;
    finding(
        &report,
        Check::Backlog,
        Outcome::Fail,
        &["holds 20 entries but has no consumer group `ingest`"],
    );
    // The group exists, nobody reads it: a worker that is down.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("ingest")
        .arg("0")
        .query_async(&mut redis)
        .await
        .unwrap();
    let report = data_report(&settings, limits).await;
    finding(
        &report,
        Check::Backlog,
        Outcome::Fail,
        &["20 entries, lag 20, 0 pending, 0 active consumer(s): no worker has read it"],
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
    let report = data_report(&settings, limits).await;
    finding(
        &report,
        Check::Backlog,
        Outcome::Warn,
        &["lag 15, 5 pending, 1 active consumer(s): the lag is above 10"],
    );
    // That consumer dies with its 5 entries pending: Redis still lists it, idle.
    tokio::time::sleep(limits.consumer_idle + std::time::Duration::from_millis(100)).await;
    let report = data_report(&settings, limits).await;
    finding(
        &report,
        Check::Backlog,
        Outcome::Fail,
        &["0 active consumer(s)", "1 consumer(s) known, all idle"],
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
    let report = data_report(&settings, data::Limits::default()).await;
    finding(
        &report,
        Check::Schema,
        Outcome::Fail,
        &["run `roost-api migrate`"],
    );
    finding(&report, Check::Redis, Outcome::Fail, &["is not reachable"]);
    assert_eq!(
        report.of(Check::Backlog).count(),
        0,
        "not read without Redis"
    );
}

#[tokio::test]
async fn doctor_tells_an_unreachable_database_from_a_missing_schema() {
    let mut settings = data_settings(
        &format!(
            "postgres://roost:secret-password@127.0.0.1:{}/roost",
            free_port()
        ),
        "test:doctor:",
    );
    settings.redis.url = "not a redis url".to_owned().into();
    let report = data_report(&settings, data::Limits::default()).await;
    finding(
        &report,
        Check::Schema,
        Outcome::Fail,
        &["127.0.0.1:", "not reachable"],
    );
    assert!(
        !report.render().contains("secret-password"),
        "no credential in the report"
    );
    assert!(!report.render().contains("migrate"), "{}", report.render());
    finding(
        &report,
        Check::Redis,
        Outcome::Fail,
        &["not a valid Redis URL"],
    );
}

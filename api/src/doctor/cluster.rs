//! The doctor's Kubernetes checks: what the API server says about one release of
//! `charts/roost` (objects labelled `app.kubernetes.io/instance=<release>`). Read-only: `get`
//! and `list` only, as granted by the chart's `doctor.rbac.create` Role.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::core::{Selector, SelectorExt};
use serde_json::Value;

use super::{Check, Outcome, Report};

/// The release to examine.
#[derive(Debug, Clone)]
pub struct Release {
    /// Namespace it is installed in.
    pub namespace: String,
    /// The Helm release name.
    pub name: String,
    /// The chart's full name (`roost.fullname` in `_helpers.tpl`): object names start with it.
    pub fullname: String,
}

impl Release {
    /// The release `name` in `namespace`, with the full name the chart derives from it (the
    /// release name when it contains `roost`, else `<name>-roost`; at most 63 characters).
    pub fn new(namespace: &str, name: &str) -> Self {
        let mut fullname = if name.contains("roost") {
            name.to_owned()
        } else {
            format!("{name}-roost")
        };
        fullname.truncate(63);
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            fullname: fullname.trim_end_matches('-').to_owned(),
        }
    }

    fn selector(&self) -> ListParams {
        ListParams::default().labels(&format!("app.kubernetes.io/instance={}", self.name))
    }
}

/// Says in words why a request failed: rights, absence, or the connection.
fn explain(error: &kube::Error, what: &str) -> String {
    match error {
        kube::Error::Api(status) if status.code == 403 => format!(
            "not allowed to {what} ({}): give the doctor's account read access (the chart's \
             `doctor.rbac.create`), or run it with a kubeconfig that has it",
            status.message
        ),
        kube::Error::Api(status) if status.code == 401 => format!(
            "the Kubernetes API refused the credentials while trying to {what}: log in again \
             or check the kubeconfig"
        ),
        kube::Error::Api(status) => format!(
            "could not {what}: {} ({} {})",
            status.message, status.code, status.reason
        ),
        other => format!("could not {what}: {other}"),
    }
}

fn not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Runs every Kubernetes check against `client` and adds the findings to `report`.
pub async fn check(client: &kube::Client, release: &Release, report: &mut Report) {
    let ns = release.namespace.as_str();
    let deployments = match Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&release.selector())
        .await
    {
        Ok(list) => list.items,
        Err(error @ (kube::Error::Api(_) | kube::Error::SerdeError(_))) => {
            report.add(
                Check::Kubernetes,
                Outcome::Fail,
                explain(&error, &format!("list deployments in namespace {ns}")),
            );
            return;
        }
        Err(error) => {
            report.add(
                Check::Kubernetes,
                Outcome::Fail,
                format!("cannot reach the Kubernetes API: {error}"),
            );
            return;
        }
    };
    if deployments.is_empty() {
        report.add(
            Check::Kubernetes,
            Outcome::Fail,
            format!(
                "no Deployment of release {} in namespace {ns}: is it installed there? \
                 (`helm list -n {ns}`; pass --release and --namespace)",
                release.name
            ),
        );
        return;
    }
    report.add(
        Check::Kubernetes,
        Outcome::Ok,
        format!(
            "release {} in namespace {ns}: {} Deployment(s)",
            release.name,
            deployments.len()
        ),
    );
    let statefulsets = match Api::<StatefulSet>::namespaced(client.clone(), ns)
        .list(&release.selector())
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            report.add(
                Check::Rollouts,
                Outcome::Fail,
                explain(&error, "list statefulsets"),
            );
            Vec::new()
        }
    };
    database(client, release, report).await;
    secrets(client, release, &deployments, &statefulsets, report).await;
    rollouts(&deployments, &statefulsets, report);
    pods(client, release, report).await;
    migrations(client, release, report).await;
    monitoring(client, release, report).await;
}

/// The CloudNativePG `Cluster` `<fullname>-db`: healthy phase, every instance ready, a primary.
async fn database(client: &kube::Client, release: &Release, report: &mut Report) {
    let name = format!("{}-db", release.fullname);
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &release.namespace,
        &resource("postgresql.cnpg.io", "v1", "Cluster", "clusters"),
    );
    let cluster = match api.get(&name).await {
        Ok(cluster) => cluster,
        Err(error) if not_found(&error) => {
            report.add(
                Check::Database,
                Outcome::Skip,
                format!(
                    "no CloudNativePG Cluster {name}: the release uses an external database \
                     (checked by `schema` from inside the api pod)"
                ),
            );
            return;
        }
        Err(error) => {
            report.add(
                Check::Database,
                Outcome::Fail,
                explain(&error, &format!("read CloudNativePG cluster {name}")),
            );
            return;
        }
    };
    let status = &cluster.data["status"];
    let phase = status["phase"].as_str().unwrap_or("(no phase yet)");
    let wanted = cluster.data["spec"]["instances"].as_u64().unwrap_or(1);
    let ready = status["readyInstances"].as_u64().unwrap_or(0);
    let primary = status["currentPrimary"].as_str().unwrap_or("");
    // CloudNativePG's phase for a cluster that needs nothing (its `PhaseHealthy`).
    let healthy = phase == "Cluster in healthy state";
    let shape = format!(
        "{ready}/{wanted} instances ready, primary {}",
        if primary.is_empty() { "none" } else { primary }
    );
    if healthy && ready >= wanted && !primary.is_empty() {
        report.add(
            Check::Database,
            Outcome::Ok,
            format!("CloudNativePG cluster {name} is healthy: {shape}"),
        );
    } else {
        report.add(
            Check::Database,
            Outcome::Fail,
            format!(
                "CloudNativePG cluster {name} is not healthy: phase \"{phase}\", {shape} \
                 (`kubectl cnpg status {name} -n {}`, or its events)",
                release.namespace
            ),
        );
    }
}

/// One Secret key a workload needs: (secret, key or None for the whole Secret).
type Need = (String, Option<String>);

/// The Secrets and keys a pod template mounts or references (optional ones excluded).
fn secret_needs(spec: &PodSpec) -> BTreeSet<Need> {
    let mut needs = BTreeSet::new();
    let mut add = |name: Option<&String>, keys: Option<Vec<String>>, optional: Option<bool>| {
        let Some(name) = name else { return };
        if optional == Some(true) {
            return;
        }
        match keys {
            Some(keys) if !keys.is_empty() => {
                for key in keys {
                    needs.insert((name.clone(), Some(key)));
                }
            }
            _ => {
                needs.insert((name.clone(), None));
            }
        }
    };
    for volume in spec.volumes.iter().flatten() {
        if let Some(s) = &volume.secret {
            let keys = s
                .items
                .as_ref()
                .map(|items| items.iter().map(|i| i.key.clone()).collect());
            add(s.secret_name.as_ref(), keys, s.optional);
        }
        for source in volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
        {
            if let Some(s) = &source.secret {
                let keys = s
                    .items
                    .as_ref()
                    .map(|items| items.iter().map(|i| i.key.clone()).collect());
                add(Some(&s.name), keys, s.optional);
            }
        }
    }
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for container in containers {
        for env in container.env.iter().flatten() {
            if let Some(r) = env
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                add(Some(&r.name), Some(vec![r.key.clone()]), r.optional);
            }
        }
        for from in container.env_from.iter().flatten() {
            if let Some(r) = &from.secret_ref {
                add(Some(&r.name), None, r.optional);
            }
        }
    }
    needs
}

/// Every Secret and key the release's workloads need exists (a missing one keeps pods in
/// `ContainerCreating` or `CreateContainerConfigError`).
async fn secrets(
    client: &kube::Client,
    release: &Release,
    deployments: &[Deployment],
    statefulsets: &[StatefulSet],
    report: &mut Report,
) {
    // secret -> key (None: the Secret itself) -> the workloads that need it
    let mut needed: BTreeMap<String, BTreeMap<Option<String>, BTreeSet<String>>> = BTreeMap::new();
    let templates = deployments
        .iter()
        .map(|d| {
            (
                format!("deployment {}", d.metadata.name.as_deref().unwrap_or("?")),
                d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
            )
        })
        .chain(statefulsets.iter().map(|s| {
            (
                format!("statefulset {}", s.metadata.name.as_deref().unwrap_or("?")),
                s.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
            )
        }));
    for (workload, spec) in templates {
        for (secret, key) in spec.map(secret_needs).unwrap_or_default() {
            needed
                .entry(secret)
                .or_default()
                .entry(key)
                .or_default()
                .insert(workload.clone());
        }
    }
    let api = Api::<Secret>::namespaced(client.clone(), &release.namespace);
    let mut problems = 0;
    for (name, keys) in &needed {
        let users = |key: &Option<String>| {
            keys.get(key)
                .map(|w| w.iter().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        };
        let all_users = keys
            .values()
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ");
        let secret = match api.get(name).await {
            Ok(secret) => secret,
            Err(error) if not_found(&error) => {
                problems += 1;
                report.add(
                    Check::Secrets,
                    Outcome::Fail,
                    format!("secret {name} does not exist (needed by {all_users})"),
                );
                continue;
            }
            Err(error) => {
                problems += 1;
                report.add(
                    Check::Secrets,
                    Outcome::Fail,
                    explain(&error, &format!("read secret {name}")),
                );
                continue;
            }
        };
        let present: BTreeSet<&String> = secret
            .data
            .iter()
            .flat_map(|d| d.keys())
            .chain(secret.string_data.iter().flat_map(|d| d.keys()))
            .collect();
        for key in keys.keys().flatten() {
            if !present.contains(key) {
                problems += 1;
                let known = present
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                report.add(
                    Check::Secrets,
                    Outcome::Fail,
                    format!(
                        "secret {name} has no key `{key}` (needed by {}; it has: {})",
                        users(&Some(key.clone())),
                        if known.is_empty() { "no keys" } else { &known }
                    ),
                );
            } else if secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .is_some_and(|v| v.0.is_empty())
            {
                problems += 1;
                report.add(
                    Check::Secrets,
                    Outcome::Fail,
                    format!(
                        "key `{key}` of secret {name} is empty (needed by {})",
                        users(&Some(key.clone()))
                    ),
                );
            }
        }
    }
    if problems == 0 {
        report.add(
            Check::Secrets,
            Outcome::Ok,
            format!(
                "{} secret(s) with every key the workloads mount: {}",
                needed.len(),
                needed.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
}

/// Deployments and StatefulSets: the newest revision rolled out to every replica.
fn rollouts(deployments: &[Deployment], statefulsets: &[StatefulSet], report: &mut Report) {
    for d in deployments {
        let name = d.metadata.name.as_deref().unwrap_or("?");
        let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = d.status.clone().unwrap_or_default();
        let stalled = status.conditions.iter().flatten().find(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        let updated = status.updated_replicas.unwrap_or(0);
        let available = status.available_replicas.unwrap_or(0);
        let observed = status.observed_generation >= d.metadata.generation;
        if let Some(condition) = stalled {
            report.add(
                Check::Rollouts,
                Outcome::Fail,
                format!(
                    "rollout of deployment {name} has stalled (ProgressDeadlineExceeded): {}; \
                     see the pods below, or `helm rollback`",
                    condition.message.as_deref().unwrap_or("no message")
                ),
            );
        } else if !observed || updated < wanted || available < wanted {
            report.add(
                Check::Rollouts,
                Outcome::Fail,
                format!(
                    "rollout of deployment {name} is not complete: {updated} of {wanted} \
                     replica(s) updated, {available} available"
                ),
            );
        } else {
            report.add(
                Check::Rollouts,
                Outcome::Ok,
                format!("deployment {name}: {available}/{wanted} replica(s) updated and available"),
            );
        }
    }
    for s in statefulsets {
        let name = s.metadata.name.as_deref().unwrap_or("?");
        let wanted = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = s.status.clone().unwrap_or_default();
        let ready = status.ready_replicas.unwrap_or(0);
        let current =
            status.update_revision.is_none() || status.current_revision == status.update_revision;
        if ready < wanted || !current {
            report.add(
                Check::Rollouts,
                Outcome::Fail,
                format!(
                    "statefulset {name} is not rolled out: {ready} of {wanted} replica(s) ready{}",
                    if current {
                        ""
                    } else {
                        ", an update is in progress"
                    }
                ),
            );
        } else {
            report.add(
                Check::Rollouts,
                Outcome::Ok,
                format!("statefulset {name}: {ready}/{wanted} replica(s) ready"),
            );
        }
    }
}

/// Why a pod is not ready, from its container statuses (init containers first).
fn pod_problem(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Succeeded") {
        return None;
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if ready {
        return None;
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .map(|c| (true, c))
        .chain(
            status
                .container_statuses
                .iter()
                .flatten()
                .map(|c| (false, c)),
        );
    for (init, c) in containers {
        let kind = if init { "init container" } else { "container" };
        let state = c.state.as_ref();
        if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
            if init && waiting.reason.as_deref() == Some("PodInitializing") {
                continue;
            }
            let last = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| {
                    format!(
                        "; last exit {}{}",
                        t.exit_code,
                        t.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Some(format!(
                "{kind} {} is waiting: {}{}, {} restart(s){last}",
                c.name,
                waiting.reason.as_deref().unwrap_or("no reason"),
                waiting
                    .message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default(),
                c.restart_count
            ));
        }
        if let Some(t) = state.and_then(|s| s.terminated.as_ref())
            && (!init || t.exit_code != 0)
        {
            return Some(format!(
                "{kind} {} exited with {}{}",
                c.name,
                t.exit_code,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        if !init && !c.ready {
            return Some(format!(
                "container {} is running but not ready (its readiness probe fails: /readyz \
                 names the dependency)",
                c.name
            ));
        }
    }
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    Some(match unscheduled {
        Some(c) => format!(
            "not scheduled: {}",
            c.message.as_deref().unwrap_or("no message")
        ),
        None => format!(
            "not ready (phase {})",
            status.phase.as_deref().unwrap_or("unknown")
        ),
    })
}

async fn pods(client: &kube::Client, release: &Release, report: &mut Report) {
    let pods = match Api::<Pod>::namespaced(client.clone(), &release.namespace)
        .list(&release.selector())
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            report.add(Check::Pods, Outcome::Fail, explain(&error, "list pods"));
            return;
        }
    };
    let mut running = 0;
    let mut problems = 0;
    for pod in &pods {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded") {
            continue;
        }
        running += 1;
        if let Some(problem) = pod_problem(pod) {
            problems += 1;
            report.add(
                Check::Pods,
                Outcome::Fail,
                format!(
                    "pod {name}: {problem} (`kubectl logs {name} -n {} --all-containers`)",
                    release.namespace
                ),
            );
        }
    }
    if problems == 0 {
        report.add(
            Check::Pods,
            Outcome::Ok,
            format!("{running} pod(s), every one ready"),
        );
    }
}

/// The migration Job (`migrations.mode=hook`): failed, running or done.
async fn migrations(client: &kube::Client, release: &Release, report: &mut Report) {
    let params = ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/component=migrate",
        release.name
    ));
    let jobs = match Api::<Job>::namespaced(client.clone(), &release.namespace)
        .list(&params)
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            report.add(
                Check::Migrations,
                Outcome::Fail,
                explain(&error, "list jobs"),
            );
            return;
        }
    };
    if jobs.is_empty() {
        report.add(
            Check::Migrations,
            Outcome::Skip,
            "no migration Job (init-container mode, or the hook Job was deleted after it \
             succeeded); the pods only start on a migrated schema",
        );
        return;
    }
    for job in &jobs {
        let name = job.metadata.name.as_deref().unwrap_or("?");
        let conditions: Vec<_> = job
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .filter(|c| c.status == "True")
            .collect();
        if let Some(failed) = conditions.iter().find(|c| c.type_ == "Failed") {
            report.add(
                Check::Migrations,
                Outcome::Fail,
                format!(
                    "migration job {name} failed: {} ({}); `kubectl logs job/{name} -n {}` \
                     says why, fix it and run `helm upgrade` again",
                    failed.message.as_deref().unwrap_or("no message"),
                    failed.reason.as_deref().unwrap_or("no reason"),
                    release.namespace
                ),
            );
        } else if conditions.iter().any(|c| c.type_ == "Complete") {
            report.add(
                Check::Migrations,
                Outcome::Ok,
                format!("migration job {name} completed"),
            );
        } else {
            report.add(
                Check::Migrations,
                Outcome::Warn,
                format!("migration job {name} is still running"),
            );
        }
    }
}

/// A monitor kind and the Prometheus fields that select it.
struct MonitorKind {
    resource: ApiResource,
    kind: &'static str,
    selector: &'static str,
    namespace_selector: &'static str,
}

/// ServiceMonitors and PodMonitors of the release, each selected by some Prometheus (its
/// label selector and namespace selector; prometheus-operator's rules: a null selector
/// matches nothing, a null namespace selector only the Prometheus's own namespace).
async fn monitoring(client: &kube::Client, release: &Release, report: &mut Report) {
    let kinds = [
        MonitorKind {
            resource: resource(
                "monitoring.coreos.com",
                "v1",
                "ServiceMonitor",
                "servicemonitors",
            ),
            kind: "ServiceMonitor",
            selector: "serviceMonitorSelector",
            namespace_selector: "serviceMonitorNamespaceSelector",
        },
        MonitorKind {
            resource: resource("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"),
            kind: "PodMonitor",
            selector: "podMonitorSelector",
            namespace_selector: "podMonitorNamespaceSelector",
        },
    ];
    let mut monitors = Vec::new();
    for kind in &kinds {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &release.namespace, &kind.resource);
        match api.list(&release.selector()).await {
            Ok(list) => monitors.extend(list.items.into_iter().map(|m| (kind, m))),
            Err(error) if not_found(&error) => {}
            Err(error) => {
                report.add(
                    Check::Monitoring,
                    Outcome::Fail,
                    explain(&error, &format!("list {}s", kind.kind)),
                );
                return;
            }
        }
    }
    if monitors.is_empty() {
        report.add(
            Check::Monitoring,
            Outcome::Skip,
            "no ServiceMonitor or PodMonitor in the release (serviceMonitor.enabled is false, \
             or the Prometheus Operator CRDs are not installed)",
        );
        return;
    }
    let prometheus_api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("monitoring.coreos.com", "v1", "Prometheus", "prometheuses"),
    );
    let prometheuses = match prometheus_api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(error) => {
            report.add(
                Check::Monitoring,
                Outcome::Warn,
                format!(
                    "{}; whether Prometheus scrapes the release is not checked",
                    explain(&error, "list Prometheus objects in all namespaces")
                ),
            );
            return;
        }
    };
    if prometheuses.is_empty() {
        report.add(
            Check::Monitoring,
            Outcome::Fail,
            "no Prometheus object in the cluster: nothing scrapes the release's monitors \
             (install kube-prometheus-stack: k8s/bootstrap.sh)",
        );
        return;
    }
    let namespace_labels = namespace_labels(client, &release.namespace).await;
    for (kind, monitor) in &monitors {
        let name = monitor.metadata.name.as_deref().unwrap_or("?");
        let labels = monitor.metadata.labels.clone().unwrap_or_default();
        let mut selected_by = None;
        let mut reasons = Vec::new();
        for prometheus in &prometheuses {
            let p_ns = prometheus.metadata.namespace.as_deref().unwrap_or("?");
            let p_name = format!(
                "{p_ns}/{}",
                prometheus.metadata.name.as_deref().unwrap_or("?")
            );
            let spec = &prometheus.data["spec"];
            let namespace_ok = match selector(&spec[kind.namespace_selector]) {
                Ok(None) => p_ns == release.namespace,
                Ok(Some(sel)) => sel.matches(&namespace_labels),
                Err(e) => {
                    reasons.push(format!("{p_name}: {e}"));
                    continue;
                }
            };
            let labels_ok = match selector(&spec[kind.selector]) {
                Ok(None) => false,
                Ok(Some(sel)) => sel.matches(&labels),
                Err(e) => {
                    reasons.push(format!("{p_name}: {e}"));
                    continue;
                }
            };
            if namespace_ok && labels_ok {
                selected_by = Some(p_name);
                break;
            }
            reasons.push(if !labels_ok {
                format!(
                    "{p_name} selects {} {}",
                    kind.kind,
                    describe_selector(&spec[kind.selector])
                )
            } else {
                format!(
                    "{p_name} looks in namespaces {}",
                    describe_selector(&spec[kind.namespace_selector])
                )
            });
        }
        match selected_by {
            Some(p) => report.add(
                Check::Monitoring,
                Outcome::Ok,
                format!("{} {name} is selected by Prometheus {p}", kind.kind),
            ),
            None => report.add(
                Check::Monitoring,
                Outcome::Fail,
                format!(
                    "{} {name} is not selected by any Prometheus, so it is never scraped: {} \
                     (add the labels with `serviceMonitor.labels`, or let Prometheus select \
                     every monitor: kube-prometheus-stack's `*SelectorNilUsesHelmValues: false`)",
                    kind.kind,
                    reasons.join("; ")
                ),
            ),
        }
    }
}

/// A namespace's labels; without the right to read it, the one label Kubernetes sets on
/// every namespace (`kubernetes.io/metadata.name`).
async fn namespace_labels(client: &kube::Client, namespace: &str) -> BTreeMap<String, String> {
    match Api::<Namespace>::all(client.clone()).get(namespace).await {
        Ok(ns) => ns.metadata.labels.unwrap_or_default(),
        Err(_) => BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            namespace.to_owned(),
        )]),
    }
}

/// A label selector from a Prometheus spec field: None when the field is null or absent.
fn selector(value: &Value) -> Result<Option<Selector>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let selector: LabelSelector = serde_json::from_value(value.clone())
        .map_err(|e| format!("unreadable label selector: {e}"))?;
    Selector::try_from(selector)
        .map(Some)
        .map_err(|e| format!("unreadable label selector: {e}"))
}

fn describe_selector(value: &Value) -> String {
    match selector(value) {
        Ok(None) => "(none: the selector is null)".to_owned(),
        Ok(Some(sel)) if sel.selects_all() => "(all)".to_owned(),
        Ok(Some(sel)) => format!("with labels {sel}"),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_follow_the_chart() {
        assert_eq!(Release::new("ns", "roost").fullname, "roost");
        assert_eq!(Release::new("ns", "prod").fullname, "prod-roost");
        let long = "a".repeat(70);
        assert_eq!(Release::new("ns", &long).fullname.len(), 63);
    }
}

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
    /// release name when it contains `roost`, else `<name>-roost`; cut to 63 characters, then
    /// one trailing `-` dropped, as `roost.fullname` does).
    pub fn new(namespace: &str, name: &str) -> Self {
        let full = if name.contains("roost") {
            name.to_owned()
        } else {
            format!("{name}-roost")
        };
        let cut: String = full.chars().take(63).collect();
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            fullname: cut.strip_suffix('-').unwrap_or(&cut).to_owned(),
        }
    }

    fn selector(&self) -> ListParams {
        ListParams::default().labels(&format!("app.kubernetes.io/instance={}", self.name))
    }
}

/// An error and its causes, outermost first (kube's and hyper's errors keep the useful part,
/// e.g. "connection refused" or a certificate problem, in their sources).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Says in words why a request failed: rights, credentials, absence, or the connection.
fn explain(error: &kube::Error, what: &str) -> String {
    match error {
        kube::Error::Api(status) if status.is_forbidden() => format!(
            "not allowed to {what} ({}): give the doctor's account read access (the chart's \
             `doctor.rbac.create`), or run it with a kubeconfig that has it",
            status.message
        ),
        kube::Error::Api(status) if status.code == 401 => format!(
            "the Kubernetes API refused the credentials (an expired token or certificate) while \
             trying to {what}"
        ),
        kube::Error::Api(status) => format!(
            "could not {what}: {} ({} {})",
            status.message, status.code, status.reason
        ),
        kube::Error::Auth(_) => format!(
            "could not get credentials for the Kubernetes API to {what}: {}",
            chain(error)
        ),
        kube::Error::SerdeError(_) => format!(
            "the Kubernetes API gave an answer this doctor cannot read while trying to {what}: {}",
            chain(error)
        ),
        other => format!(
            "cannot reach the Kubernetes API to {what}: {}",
            chain(other)
        ),
    }
}

fn forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_forbidden())
}

/// Any 404. For an unknown resource type (its CRD not installed) the API server answers a
/// plain-text `404 page not found`, which kube turns into a Status with only the code set, so
/// the code is what counts.
fn not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// A 404 for a missing object names it in its details; one for an unknown resource type (the
/// CRD is not installed) does not.
fn missing_resource_type(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 404
            && status.details.as_ref().is_none_or(|d| d.name.is_empty()))
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The workloads' pod templates, named for messages (`deployment roost-api`).
fn templates<'a>(
    deployments: &'a [Deployment],
    statefulsets: &'a [StatefulSet],
) -> impl Iterator<Item = (String, Option<&'a PodSpec>)> {
    let deployments = deployments.iter().map(|d| {
        (
            format!("deployment {}", d.metadata.name.as_deref().unwrap_or("?")),
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        )
    });
    let statefulsets = statefulsets.iter().map(|s| {
        (
            format!("statefulset {}", s.metadata.name.as_deref().unwrap_or("?")),
            s.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        )
    });
    deployments.chain(statefulsets)
}

/// Runs every Kubernetes check against `client` and adds the findings to `report`.
pub async fn check(client: &kube::Client, release: &Release, report: &mut Report) {
    let ns = release.namespace.as_str();
    let deployments = match Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&release.selector())
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            report.add(
                Check::Kubernetes,
                Outcome::Fail,
                explain(&error, &format!("list deployments in namespace {ns}")),
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
    let needed = secrets_needed(&deployments, &statefulsets);
    let cnpg_secrets = [
        format!("{}-db-app", release.fullname),
        format!("{}-db-ca", release.fullname),
    ];
    let uses_cnpg = cnpg_secrets.iter().any(|name| needed.contains_key(name));
    database(client, release, uses_cnpg, report).await;
    secrets(client, release, &needed, report).await;
    rollouts(&deployments, &statefulsets, report);
    pods(client, release, report).await;
    migrations(client, release, report).await;
    monitoring(client, release, report).await;
}

/// The CloudNativePG `Cluster` `<fullname>-db`: healthy phase, every instance ready, a primary.
/// `uses_cnpg`: the workloads mount its Secrets, so it must exist.
async fn database(client: &kube::Client, release: &Release, uses_cnpg: bool, report: &mut Report) {
    let name = format!("{}-db", release.fullname);
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &release.namespace,
        &resource("postgresql.cnpg.io", "v1", "Cluster", "clusters"),
    );
    let cluster = match api.get(&name).await {
        Ok(cluster) => cluster,
        Err(error) if not_found(&error) && !uses_cnpg => {
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
        Err(error) if missing_resource_type(&error) => {
            report.add(
                Check::Database,
                Outcome::Fail,
                format!(
                    "the workloads use the Secrets of CloudNativePG cluster {name}, but the \
                     cluster's resource type does not exist: is the CloudNativePG operator \
                     installed? (k8s/bootstrap.sh)"
                ),
            );
            return;
        }
        Err(error) if not_found(&error) => {
            report.add(
                Check::Database,
                Outcome::Fail,
                format!(
                    "the workloads use the Secrets of CloudNativePG cluster {name}, but there is \
                     no such cluster in namespace {}: was it deleted? (`kubectl get \
                     clusters.postgresql.cnpg.io -n {}`)",
                    release.namespace, release.namespace
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

/// Secret -> key (None: the Secret itself) -> the workloads that need it.
type Needed = BTreeMap<String, BTreeMap<Option<String>, BTreeSet<String>>>;

/// What the workloads' pod templates mount or reference, by Secret.
fn secrets_needed(deployments: &[Deployment], statefulsets: &[StatefulSet]) -> Needed {
    let mut needed = Needed::new();
    for (workload, spec) in templates(deployments, statefulsets) {
        for (secret, key) in spec.map(secret_needs).unwrap_or_default() {
            needed
                .entry(secret)
                .or_default()
                .entry(key)
                .or_default()
                .insert(workload.clone());
        }
    }
    needed
}

/// Every Secret and key the release's workloads need exists (a missing one keeps pods in
/// `ContainerCreating` or `CreateContainerConfigError`).
async fn secrets(client: &kube::Client, release: &Release, needed: &Needed, report: &mut Report) {
    let api = Api::<Secret>::namespaced(client.clone(), &release.namespace);
    let mut problems = 0;
    let mut unread = Vec::new();
    for (name, keys) in needed {
        let users = |key: Option<&String>| {
            let workloads: BTreeSet<&String> = match key {
                Some(key) => keys.get(&Some(key.clone())).into_iter().flatten().collect(),
                None => keys.values().flatten().collect(),
            };
            workloads
                .into_iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let secret = match api.get(name).await {
            Ok(secret) => secret,
            Err(error) if not_found(&error) => {
                problems += 1;
                report.add(
                    Check::Secrets,
                    Outcome::Fail,
                    format!("secret {name} does not exist (needed by {})", users(None)),
                );
                continue;
            }
            Err(error) if forbidden(&error) => {
                unread.push(name.as_str());
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
        let data = secret.data.unwrap_or_default();
        for key in keys.keys().flatten() {
            match data.get(key) {
                None => {
                    problems += 1;
                    let known = data
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ");
                    report.add(
                        Check::Secrets,
                        Outcome::Fail,
                        format!(
                            "secret {name} has no key `{key}` (needed by {}; it has: {})",
                            users(Some(key)),
                            if known.is_empty() { "no keys" } else { &known }
                        ),
                    );
                }
                Some(value) if value.0.is_empty() => {
                    problems += 1;
                    report.add(
                        Check::Secrets,
                        Outcome::Fail,
                        format!(
                            "key `{key}` of secret {name} is empty (needed by {})",
                            users(Some(key))
                        ),
                    );
                }
                Some(_) => {}
            }
        }
    }
    if !unread.is_empty() {
        // The chart's doctor Role reads its own Secrets by name, never the CNPG CA's (which
        // holds the CA key): a pod missing one of those shows under `pods` instead.
        report.add(
            Check::Secrets,
            Outcome::Skip,
            format!(
                "not allowed to read secret(s) {}: their keys are not checked (a pod missing one \
                 waits in CreateContainerConfigError or ContainerCreating, reported under pods)",
                unread.join(", ")
            ),
        );
    }
    if problems == 0 && unread.len() < needed.len() {
        let checked: Vec<&str> = needed
            .keys()
            .map(String::as_str)
            .filter(|name| !unread.contains(name))
            .collect();
        report.add(
            Check::Secrets,
            Outcome::Ok,
            format!(
                "{} secret(s) with every key the workloads mount: {}",
                checked.len(),
                checked.join(", ")
            ),
        );
    }
}

/// Deployments and StatefulSets rolled out, by the rules of `kubectl rollout status`.
fn rollouts(deployments: &[Deployment], statefulsets: &[StatefulSet], report: &mut Report) {
    for d in deployments {
        let name = d.metadata.name.as_deref().unwrap_or("?");
        let (outcome, message) = deployment_rollout(d);
        report.add(
            Check::Rollouts,
            outcome,
            format!("deployment {name}: {message}"),
        );
    }
    for s in statefulsets {
        let name = s.metadata.name.as_deref().unwrap_or("?");
        let (outcome, message) = statefulset_rollout(s);
        report.add(
            Check::Rollouts,
            outcome,
            format!("statefulset {name}: {message}"),
        );
    }
}

const NO_STATUS: &str = "no status yet: the controller has not seen it";
const NOT_OBSERVED: &str =
    "its latest change is not observed by the controller yet (rollout not started)";

/// kubectl's `DeploymentStatusViewer`: spec observed; not past its progress deadline; every
/// replica updated; no old replica left; every updated replica available.
fn deployment_rollout(d: &Deployment) -> (Outcome, String) {
    let Some(status) = d.status.as_ref() else {
        return (Outcome::Fail, NO_STATUS.to_owned());
    };
    if status.observed_generation < d.metadata.generation {
        return (Outcome::Fail, NOT_OBSERVED.to_owned());
    }
    let stalled = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(condition) = stalled {
        return (
            Outcome::Fail,
            format!(
                "the rollout has stalled (ProgressDeadlineExceeded): {}; see the pods below, or \
                 `helm rollback`",
                condition.message.as_deref().unwrap_or("no message")
            ),
        );
    }
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let replicas = status.replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        (
            Outcome::Fail,
            format!("rollout not complete: {updated} of {wanted} replica(s) updated"),
        )
    } else if replicas > updated {
        (
            Outcome::Fail,
            format!(
                "rollout not complete: {} old replica(s) pending termination",
                replicas - updated
            ),
        )
    } else if available < updated {
        (
            Outcome::Fail,
            format!("rollout not complete: {available} of {updated} updated replica(s) available"),
        )
    } else {
        (
            Outcome::Ok,
            format!("{available}/{wanted} replica(s) updated and available"),
        )
    }
}

/// kubectl's `StatefulSetStatusViewer`: spec observed; every replica ready; the replicas at or
/// above the partition (0 unless set; the API server fills it in) updated. `OnDelete` sets
/// roll out only when their pods are deleted: readiness alone is judged.
fn statefulset_rollout(s: &StatefulSet) -> (Outcome, String) {
    let Some(status) = s.status.as_ref() else {
        return (Outcome::Fail, NO_STATUS.to_owned());
    };
    if status.observed_generation.unwrap_or(0) == 0
        || s.metadata.generation > status.observed_generation
    {
        return (Outcome::Fail, NOT_OBSERVED.to_owned());
    }
    let spec = s.spec.as_ref();
    let wanted = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < wanted {
        return (
            Outcome::Fail,
            format!("not rolled out: {ready} of {wanted} replica(s) ready"),
        );
    }
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        return (
            Outcome::Ok,
            format!("{ready}/{wanted} replica(s) ready (OnDelete: pods update when deleted)"),
        );
    }
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    if updated < wanted - partition {
        let note = if partition > 0 {
            format!(" (partition {partition})")
        } else {
            String::new()
        };
        return (
            Outcome::Fail,
            format!(
                "rollout not complete: {updated} of {} replica(s) updated{note}",
                wanted - partition
            ),
        );
    }
    (Outcome::Ok, format!("{ready}/{wanted} replica(s) ready"))
}

/// Why a running pod is not ready, from its conditions and container statuses (init
/// containers first); None when it is ready.
fn pod_problem(pod: &Pod) -> Option<String> {
    let Some(status) = pod.status.as_ref() else {
        return Some("no status yet".to_owned());
    };
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if ready {
        return None;
    }
    // Native sidecars (init containers that keep running) are judged like containers.
    let sidecars: BTreeSet<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    for c in status.init_container_statuses.iter().flatten() {
        let state = c.state.as_ref();
        if sidecars.contains(c.name.as_str()) {
            if let Some(problem) = container_problem("sidecar", c) {
                return Some(problem);
            }
            continue;
        }
        if state.and_then(|s| s.running.as_ref()).is_some() {
            return Some(format!(
                "init container {} has not finished{}",
                c.name,
                if c.name == "migrate" {
                    " (it waits for PostgreSQL, then applies the migrations)"
                } else {
                    ""
                }
            ));
        }
        if let Some(problem) = container_problem("init container", c) {
            return Some(problem);
        }
    }
    for c in status.container_statuses.iter().flatten() {
        if let Some(problem) = container_problem("container", c) {
            return Some(problem);
        }
        if !c.ready {
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
            "not ready (phase {}{})",
            status.phase.as_deref().unwrap_or("unknown"),
            in_parentheses(status.reason.as_deref())
        ),
    })
}

/// ` (text)`, or nothing.
fn in_parentheses(text: Option<&str>) -> String {
    text.map(|t| format!(" ({t})")).unwrap_or_default()
}

/// A container that waits (with its reason, restarts and last exit) or exited unsuccessfully.
fn container_problem(
    kind: &str,
    c: &k8s_openapi::api::core::v1::ContainerStatus,
) -> Option<String> {
    let state = c.state.as_ref()?;
    if let Some(waiting) = &state.waiting {
        if waiting.reason.as_deref() == Some("PodInitializing") {
            return None;
        }
        let last = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| {
                format!(
                    "; last exit {}{}",
                    t.exit_code,
                    in_parentheses(t.reason.as_deref())
                )
            })
            .unwrap_or_default();
        return Some(format!(
            "{kind} {} is waiting: {}{}, {} restart(s){last}",
            c.name,
            waiting.reason.as_deref().unwrap_or("no reason"),
            in_parentheses(waiting.message.as_deref()),
            c.restart_count
        ));
    }
    let terminated = state.terminated.as_ref()?;
    (terminated.exit_code != 0).then(|| {
        format!(
            "{kind} {} exited with {}{}",
            c.name,
            terminated.exit_code,
            in_parentheses(terminated.reason.as_deref())
        )
    })
}

/// The release's long-running pods: each ready, or why not. Pods being deleted (a rollout
/// drains them on purpose) and the pods of Jobs (migrations, `helm test`: see `migrations`)
/// are left out; a failed pod (e.g. evicted) is a warning, its controller has replaced it.
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
    let mut checked = 0;
    let mut problems = 0;
    let mut terminating = 0;
    let hint = |name: &str| {
        format!(
            "`kubectl logs {name} -n {} --all-containers`",
            release.namespace
        )
    };
    for pod in &pods {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        let component = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/component"))
            .map(String::as_str);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(component, Some("migrate" | "test")) || phase == Some("Succeeded") {
            continue;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            terminating += 1;
            continue;
        }
        checked += 1;
        if phase == Some("Failed") {
            problems += 1;
            let status = pod.status.as_ref();
            report.add(
                Check::Pods,
                Outcome::Warn,
                format!(
                    "pod {name} failed ({}: {}); its controller has replaced it, delete it when \
                     done reading it ({})",
                    status
                        .and_then(|s| s.reason.as_deref())
                        .unwrap_or("no reason"),
                    status
                        .and_then(|s| s.message.as_deref())
                        .unwrap_or("no message"),
                    hint(name)
                ),
            );
        } else if let Some(problem) = pod_problem(pod) {
            problems += 1;
            report.add(
                Check::Pods,
                Outcome::Fail,
                format!("pod {name}: {problem} ({})", hint(name)),
            );
        }
    }
    if problems == 0 {
        report.add(
            Check::Pods,
            Outcome::Ok,
            format!(
                "{checked} pod(s), every one ready{}",
                if terminating > 0 {
                    format!(" ({terminating} more terminating)")
                } else {
                    String::new()
                }
            ),
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
            "no migration Job (init-container mode; or Helm deleted the hook Job after it \
             succeeded, or Kubernetes an hour after it finished); the pods only start on a \
             migrated schema",
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
        // `FailureTarget` (Kubernetes 1.31+): failed, its pods still terminating.
        if let Some(failed) = conditions
            .iter()
            .find(|c| c.type_ == "Failed" || c.type_ == "FailureTarget")
        {
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
        // Something other than the Prometheus Operator may read ServiceMonitors (Grafana
        // Alloy, VictoriaMetrics): a warning, not a failure.
        report.add(
            Check::Monitoring,
            Outcome::Warn,
            "no Prometheus object in the cluster: unless another agent reads ServiceMonitors, \
             nothing scrapes the release's monitors (install kube-prometheus-stack: \
             k8s/bootstrap.sh)",
        );
        return;
    }
    let (namespace_labels, labels_read) = namespace_labels(client, &release.namespace).await;
    for (kind, monitor) in &monitors {
        let name = monitor.metadata.name.as_deref().unwrap_or("?");
        let labels = monitor.metadata.labels.clone().unwrap_or_default();
        let mut selected_by = None;
        let mut reasons = Vec::new();
        let mut namespace_failures = 0;
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
            if labels_ok {
                namespace_failures += 1;
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
        let Some(p) = selected_by else {
            let advice = if namespace_failures == reasons.len() {
                format!(
                    "let Prometheus look in every namespace (kube-prometheus-stack's \
                     `prometheusSpec.{}: {{}}`), or label namespace {} to match{}",
                    kind.namespace_selector,
                    release.namespace,
                    if labels_read {
                        ""
                    } else {
                        " (its labels could not be read: only kubernetes.io/metadata.name was \
                         assumed)"
                    }
                )
            } else {
                "add the labels with `serviceMonitor.labels`, or let Prometheus select every \
                 monitor (kube-prometheus-stack's `*SelectorNilUsesHelmValues: false`)"
                    .to_owned()
            };
            report.add(
                Check::Monitoring,
                Outcome::Fail,
                format!(
                    "{} {name} is not selected by any Prometheus, so it is never scraped: {} \
                     ({advice})",
                    kind.kind,
                    reasons.join("; ")
                ),
            );
            continue;
        };
        report.add(
            Check::Monitoring,
            Outcome::Ok,
            format!("{} {name} is selected by Prometheus {p}", kind.kind),
        );
    }
}

/// A namespace's labels and whether they could be read; without the right to read it, the
/// one label Kubernetes sets on every namespace (`kubernetes.io/metadata.name`).
async fn namespace_labels(
    client: &kube::Client,
    namespace: &str,
) -> (BTreeMap<String, String>, bool) {
    match Api::<Namespace>::all(client.clone()).get(namespace).await {
        Ok(ns) => (ns.metadata.labels.unwrap_or_default(), true),
        Err(_) => (
            BTreeMap::from([(
                "kubernetes.io/metadata.name".to_owned(),
                namespace.to_owned(),
            )]),
            false,
        ),
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
        assert_eq!(Release::new("ns", &long).fullname, "a".repeat(63));
        // Cut at 63, then one trailing dash dropped (`trunc 63 | trimSuffix "-"`).
        let dashed = format!("{}--x", "a".repeat(61));
        assert_eq!(
            Release::new("ns", &dashed).fullname,
            format!("{}-", "a".repeat(61))
        );
        // Characters, not bytes: no panic inside a multi-byte character.
        assert_eq!(
            Release::new("ns", &"é".repeat(70)).fullname.chars().count(),
            63
        );
    }
}

//! The local cluster's pods: a fixed set, served as real `v1.Pod` JSON.
//!
//! A "pod" here is a name, annotations, containers and a working directory
//! under the data dir; each exec runs as a host process in that directory.
//! It is not an isolation boundary — the local cluster is a stand-in for the
//! Kubernetes API on a laptop or in CI, not a container runtime.

use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStateRunning, ContainerStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};



pub use shared::k8s::{APP_ANNOTATION, ENV_ANNOTATION};

/// One pod of the local cluster.
#[derive(Debug, Clone)]
pub struct LocalPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// A stable UID (derived from namespace and name).
    pub uid: String,
    /// Annotations, GitLab's among them.
    pub annotations: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Container names, in spec order.
    pub containers: Vec<String>,
    /// The pod's working directory: HOME and cwd of its execs.
    pub dir: PathBuf,
    /// Extra environment variables every exec in this pod gets (the
    /// containers' `env`).
    pub env: Vec<(String, String)>,
    /// When the pod "started".
    pub created: k8s_openapi::jiff::Timestamp,
    /// Set to `true` when the pod is deleted: its execs end.
    pub gone: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl LocalPod {
    /// The pod as the Kubernetes API shows it: phase Running, every container
    /// ready.
    pub fn to_k8s(&self) -> Pod {
        let started = Time(self.created);
        Pod {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                uid: Some(self.uid.clone()),
                annotations: Some(self.annotations.clone()),
                labels: Some(self.labels.clone()),
                creation_timestamp: Some(started.clone()),
                resource_version: Some("1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: self
                    .containers
                    .iter()
                    .map(|name| Container {
                        name: name.clone(),
                        image: Some("porthole.local/host-shell:latest".into()),
                        ..Container::default()
                    })
                    .collect(),
                node_name: Some("porthole-local".into()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                host_ip: Some("127.0.0.1".into()),
                pod_ip: Some("127.0.0.1".into()),
                start_time: Some(started.clone()),
                container_statuses: Some(
                    self.containers
                        .iter()
                        .map(|name| ContainerStatus {
                            name: name.clone(),
                            ready: true,
                            started: Some(true),
                            restart_count: 0,
                            image: "porthole.local/host-shell:latest".into(),
                            image_id: String::new(),
                            state: Some(ContainerState {
                                running: Some(ContainerStateRunning { started_at: Some(started.clone()) }),
                                ..ContainerState::default()
                            }),
                            ..ContainerStatus::default()
                        })
                        .collect(),
                ),
                ..PodStatus::default()
            }),
        }
    }
}

/// A `meta.k8s.io/v1` Table of pods, as the API server answers
/// `Accept: application/json;as=Table;…` (what `kubectl get` asks for): the
/// columns kubectl shows for pods, each row with the pod's metadata as a
/// `PartialObjectMetadata` (kubectl reads the namespace from it for `-A`).
pub fn pod_table(pods: &[LocalPod], now: k8s_openapi::jiff::Timestamp) -> serde_json::Value {
    let column = |name: &str, format: &str, description: &str| {
        serde_json::json!({"name": name, "type": "string", "format": format, "description": description, "priority": 0})
    };
    let rows: Vec<serde_json::Value> = pods
        .iter()
        .map(|pod| {
            let k8s = pod.to_k8s();
            let n = pod.containers.len();
            serde_json::json!({
                "cells": [pod.name, format!("{n}/{n}"), "Running", "0", shared::k8s::human_age(now.duration_since(pod.created).as_secs())],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": k8s.metadata},
            })
        })
        .collect();
    serde_json::json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [
            column("Name", "name", "Name must be unique within a namespace."),
            column("Ready", "", "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "", "The aggregate status of the containers in this pod."),
            column("Restarts", "", "The number of times the containers in this pod have been restarted."),
            column("Age", "", "CreationTimestamp is a timestamp representing the server time when this object was created."),
        ],
        "rows": rows,
    })
}

/// One equality-based selector requirement: `key=value`, `key==value` or
/// `key!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Label key or field path.
    pub key: String,
    /// The value compared with.
    pub value: String,
    /// `!=`.
    pub negated: bool,
}

impl Requirement {
    /// Whether a (possibly absent) value satisfies the requirement.
    pub fn matches(&self, actual: Option<&str>) -> bool {
        (actual == Some(self.value.as_str())) != self.negated
    }
}

/// Parses a comma-separated, equality-based selector (`app=shop,tier!=db`).
/// Set-based forms (`in`, `notin`, `!key`) are an error here.
pub fn parse_selector(selector: &str) -> Result<Vec<Requirement>, String> {
    selector
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value, negated) = if let Some((k, v)) = part.split_once("!=") {
                (k, v, true)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, v, false)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, v, false)
            } else {
                return Err(format!("{part:?}: only key=value, key==value and key!=value are supported"));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || key.contains(' ') || value.contains(' ') {
                return Err(format!("{part:?}"));
            }
            Ok(Requirement { key: key.to_string(), value: value.to_string(), negated })
        })
        .collect()
}

/// The demo pods: two pods of `demo/shop`'s `production` environment (the
/// first with containers `web` and `worker`) and one unrelated pod, all in
/// namespace [`DEMO_NAMESPACE`].
pub fn demo_pods(pods_dir: &Path) -> Vec<LocalPod> {
    let gitlab = |env: &str| {
        BTreeMap::from([(APP_ANNOTATION.to_string(), "demo-shop".to_string()), (ENV_ANNOTATION.to_string(), env.to_string())])
    };
    let pod = |name: &str, annotations: BTreeMap<String, String>, containers: &[&str], app: &str| LocalPod {
        namespace: DEMO_NAMESPACE.into(),
        name: name.into(),
        uid: uid_for(DEMO_NAMESPACE, name),
        annotations,
        labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        containers: containers.iter().map(|c| c.to_string()).collect(),
        dir: pods_dir.join(DEMO_NAMESPACE).join(name),
        env: vec![],
        created: k8s_openapi::jiff::Timestamp::now(),
        gone: std::sync::Arc::new(tokio::sync::watch::Sender::new(false)),
    };
    vec![
        pod("shop-web-7c9d5b8f4-q2x7z", gitlab("production"), &["web", "worker"], "shop"),
        pod("shop-web-7c9d5b8f4-m8k3p", gitlab("production"), &["web", "worker"], "shop"),
        pod("metrics-agent-x8k2p", BTreeMap::new(), &["agent"], "metrics"),
    ]
}

/// The namespace of the demo pods.
pub const DEMO_NAMESPACE: &str = "shop-production";

/// A UUID-shaped, stable UID for a pod.
fn uid_for(namespace: &str, name: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (namespace, name).hash(&mut h);
    let a = h.finish();
    name.hash(&mut h);
    let b = h.finish();
    format!("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_json_has_what_gitlab_reads() {
        let pods = demo_pods(Path::new("/tmp/pods"));
        let json = serde_json::to_value(pods[0].to_k8s()).unwrap();
        assert_eq!(json["metadata"]["annotations"][APP_ANNOTATION], "demo-shop");
        assert_eq!(json["metadata"]["annotations"][ENV_ANNOTATION], "production");
        assert_eq!(json["status"]["phase"], "Running");
        assert_eq!(json["spec"]["containers"][0]["name"], "web");
        assert!(json["metadata"]["creationTimestamp"].as_str().unwrap().ends_with('Z'));
        assert_ne!(pods[0].uid, pods[1].uid);
    }

    #[test]
    fn selectors() {
        let r = parse_selector("app=shop, tier!=db,env==prod").unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].matches(Some("shop")) && !r[0].matches(Some("web")) && !r[0].matches(None));
        assert!(r[1].matches(None) && r[1].matches(Some("web")) && !r[1].matches(Some("db")));
        assert_eq!(parse_selector("").unwrap(), vec![]);
        for bad in ["app in (a,b)", "!app", "=x", "a b=c"] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn table_has_kubectls_pod_columns() {
        let pods = demo_pods(Path::new("/tmp/pods"));
        let table = pod_table(&pods[..1], pods[0].created);
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["columnDefinitions"][0]["name"], "Name");
        assert_eq!(table["rows"][0]["cells"], serde_json::json!(["shop-web-7c9d5b8f4-q2x7z", "2/2", "Running", "0", "0s"]));
        assert_eq!(table["rows"][0]["object"]["metadata"]["namespace"], DEMO_NAMESPACE);
    }
}

//! Which pods are an environment's terminals, read from the cluster's
//! Kubernetes API with the kube crate (GitLab `terminals_for_pod`,
//! `filter_by_project_environment`).
//!
//! A pod qualifies when its annotations `app.gitlab.com/app` and
//! `app.gitlab.com/env` equal the project's path slug and the environment's
//! slug, its phase is Running and it lists containers; each container is one
//! terminal, in the API's order.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

/// A cluster as the app knows it: API URL, bearer token, CA (PEM).
#[derive(Clone)]
pub struct Cluster {
    /// `https://host:port` of the Kubernetes API.
    pub api_url: String,
    /// A service account token with `get`, `list` on pods and `get`, `create`
    /// on `pods/exec`.
    pub token: String,
    /// The CA that signed the API server's certificate; empty = system roots.
    pub ca_pem: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("api_url", &self.api_url).finish_non_exhaustive()
    }
}

pub use shared::api::TerminalJson;

pub use shared::k8s::{APP_ANNOTATION, ENV_ANNOTATION};

/// A kube client for `cluster`.
pub fn client(cluster: &Cluster) -> Result<kube::Client, String> {
    let uri: http::Uri = cluster.api_url.parse().map_err(|e| format!("cluster API URL: {e}"))?;
    let mut config = kube::Config::new(uri);
    if !cluster.ca_pem.trim().is_empty() {
        use rustls_pki_types::pem::PemObject;
        let ders = rustls_pki_types::CertificateDer::pem_slice_iter(cluster.ca_pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cluster CA: {e}"))?;
        config.root_cert = Some(ders);
    }
    config.auth_info.token = Some(cluster.token.clone().into());
    config.connect_timeout = Some(std::time::Duration::from_secs(10));
    config.read_timeout = Some(std::time::Duration::from_secs(15));
    kube::Client::try_from(config).map_err(|e| format!("cluster client: {e}"))
}

/// The environment's terminals, in order.
pub async fn terminals(cluster: &Cluster, namespace: &str, project_slug: &str, env_slug: &str) -> Result<Vec<TerminalJson>, String> {
    let pods: Api<Pod> = Api::namespaced(client(cluster)?, namespace);
    let list = pods.list(&ListParams::default()).await.map_err(|e| {
        let message = describe_error(&e, namespace);
        tracing::warn!(api_url = cluster.api_url, namespace, error = %e, "listing pods failed");
        message
    })?;
    Ok(filter_terminals(&list.items, project_slug, env_slug))
}

/// Words for the page about a failed cluster request.
pub fn describe_error(error: &kube::Error, namespace: &str) -> String {
    if let kube::Error::Api(status) = error {
        return match status.code {
            401 => "the cluster rejected Porthole's credentials (401 Unauthorized): check the cluster's token".into(),
            403 => format!(
                "the cluster forbids listing pods in namespace {namespace} (403 Forbidden): the token needs get and list on pods, and get and create on pods/exec"
            ),
            code => format!("the cluster answered {code}: {}", status.message),
        };
    }
    // The interesting part is usually at the bottom of the source chain.
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        source = e.source();
    }
    let lower = chain.to_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        format!("TLS failure talking to the cluster (check its CA certificate): {chain}")
    } else if lower.contains("connect") || lower.contains("refused") || lower.contains("timed out") || lower.contains("dns") {
        format!("the cluster is unreachable: {chain}")
    } else {
        format!("the cluster request failed: {chain}")
    }
}

/// The pure part of [`terminals`].
pub fn filter_terminals(pods: &[Pod], project_slug: &str, env_slug: &str) -> Vec<TerminalJson> {
    let mut out = Vec::new();
    for pod in pods {
        let annotations = pod.metadata.annotations.as_ref();
        let annotated = |key: &str, want: &str| annotations.and_then(|a| a.get(key)).is_some_and(|v| v == want);
        if !annotated(APP_ANNOTATION, project_slug) || !annotated(ENV_ANNOTATION, env_slug) {
            continue;
        }
        if pod.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running") {
            continue;
        }
        let Some(name) = &pod.metadata.name else { continue };
        for container in pod.spec.iter().flat_map(|s| &s.containers) {
            out.push(TerminalJson {
                pod: name.clone(),
                container: container.name.clone(),
                created_at: pod.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, app: &str, env: &str, phase: &str, containers: &[&str]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "annotations": {APP_ANNOTATION: app, ENV_ANNOTATION: env}},
            "spec": {"containers": containers.iter().map(|c| serde_json::json!({"name": c})).collect::<Vec<_>>()},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn only_running_annotated_pods_one_terminal_per_container() {
        let pods = [
            pod("other-app", "other", "production", "Running", &["x"]),
            pod("staging", "demo-shop", "staging", "Running", &["x"]),
            pod("pending", "demo-shop", "production", "Pending", &["x"]),
            pod("web-1", "demo-shop", "production", "Running", &["web", "worker"]),
            pod("web-2", "demo-shop", "production", "Running", &["web"]),
        ];
        let names: Vec<(String, String)> =
            filter_terminals(&pods, "demo-shop", "production").into_iter().map(|t| (t.pod, t.container)).collect();
        let want = [("web-1", "web"), ("web-1", "worker"), ("web-2", "web")];
        assert_eq!(names, want.map(|(p, c)| (p.to_string(), c.to_string())));
    }
}

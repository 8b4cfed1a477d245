//! The local cluster: a stand-in for the Kubernetes API server, faithful for
//! the parts Porthole uses, so that real clients (kubectl, the `kubernetes`
//! Python client, our own relay and app) work against it.
//!
//! It serves HTTPS with its own CA ([`crate::tls::LocalCa`]) and requires a
//! bearer token, like a real API server, and writes a kubeconfig for itself
//! to `<data-dir>/local-cluster/kubeconfig`. Endpoints:
//!
//! - `GET /version`; discovery: `GET /api`, `/apis`, `/api/v1`
//! - `GET /api/v1/pods`, `GET /api/v1/namespaces/{ns}/pods` — `v1.PodList`,
//!   or a `meta.k8s.io/v1` Table when asked (`kubectl get`)
//! - `GET`, `DELETE /api/v1/namespaces/{ns}/pods/{pod}` — `v1.Pod`; deleting
//!   a pod ends its execs (exit code 137)
//! - `GET /api/v1/namespaces/{ns}/pods/{pod}/exec` — WebSocket exec ([`exec`])
//!
//! Errors are `metav1.Status` JSON with the HTTP status, as the API server
//! answers them.

mod exec;
pub mod pods;
mod state;
mod status;

use crate::secrets::{constant_time_eq, load_or_create, random_hex, write_private};
use crate::shutdown::Shutdown;
use crate::tls::{LocalCa, serve_tls, server_config};
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use state::ClusterState;
use status::status_response;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::List;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use pods::LocalPod;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;


/// Where and how a local cluster runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its folder: CA, certificate, tokens, kubeconfig
    /// (`<data-dir>/local-cluster`).
    pub dir: PathBuf,
    /// Where pods' folders are (`<sandbox>/pods`) and whom execs run as.
    pub sandbox: crate::sandbox::Sandbox,
    /// Where its HTTPS API listens; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How long an exec's processes get after SIGHUP before SIGKILL.
    pub kill_grace: std::time::Duration,
}

/// A running local cluster.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    /// Where its HTTPS API listens.
    pub addr: SocketAddr,
    /// The CA that signed its serving certificate (PEM).
    pub ca_pem: String,
    /// The bearer token it requires: all rights.
    pub token: String,
    /// A second token that may read pods but not exec into them (`get`/`list`
    /// on pods, nothing on pods/exec): what a misconfigured Role looks like.
    pub viewer_token: String,
    /// The kubeconfig it wrote for itself.
    pub kubeconfig: PathBuf,
    live_execs: Arc<tokio::sync::watch::Sender<usize>>,
}

impl LocalCluster {
    /// Waits (at most `limit`) until every exec has ended — after shutdown,
    /// each hangs up its process session.
    pub async fn execs_ended(&self, limit: Duration) {
        let mut live = self.live_execs.subscribe();
        let _ = tokio::time::timeout(limit, live.wait_for(|n| *n == 0)).await;
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn api_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Starts the cluster: loads or creates its CA, certificate and token
    /// in `options.dir`, binds `options.listen`, writes the kubeconfig and
    /// serves until `shutdown`.
    pub async fn start(options: Options, shutdown: Shutdown) -> anyhow::Result<LocalCluster> {
        let Options { dir, sandbox, listen, kill_grace } = options;
        std::fs::create_dir_all(&dir)?;
        let ca = LocalCa::load_or_create(&dir)?;
        let token = load_or_create(&dir.join("token"), || random_hex(24))?;
        let viewer_token = load_or_create(&dir.join("viewer-token"), || random_hex(24))?;
        let pods = pods::demo_pods(&sandbox.dir.join("pods"));
        for pod in &pods {
            sandbox.workspace(&pod.dir)?;
        }
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (live_execs, _) = tokio::sync::watch::channel(0);
        let live_execs = Arc::new(live_execs);
        let cluster = LocalCluster {
            addr,
            ca_pem: ca.ca_pem.clone(),
            token: token.clone(),
            viewer_token: viewer_token.clone(),
            kubeconfig: dir.join("kubeconfig"),
            live_execs: live_execs.clone(),
        };
        write_private(&cluster.kubeconfig, cluster.kubeconfig_yaml().as_bytes())?;

        let state = Arc::new(ClusterState {
            pods: std::sync::RwLock::new(pods),
            token,
            viewer_token,
            kill_grace,
            sandbox,
            shutdown: shutdown.clone(),
            live_execs: live_execs.clone(),
        });
        let tls = server_config(&ca.cert_pem, &ca.key_pem)?;
        tokio::spawn(serve_tls(listener, tls, router(state), shutdown.clone()));
        tracing::info!(url = %cluster.api_url(), kubeconfig = %cluster.kubeconfig.display(), "local cluster listening");
        Ok(cluster)
    }

    /// A kubeconfig with one cluster, user and context, all named `porthole-local`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: porthole-local\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: porthole-local\n  user:\n    token: {token}\ncontexts:\n- name: porthole-local\n  context:\n    cluster: porthole-local\n    user: porthole-local\n    namespace: {ns}\ncurrent-context: porthole-local\n",
            server = self.api_url(),
            ca = STANDARD.encode(&self.ca_pem),
            token = self.token,
            ns = pods::DEMO_NAMESPACE,
        )
    }
}


fn router(state: Arc<ClusterState>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/api/v1", get(api_resources))
        .route("/api/v1/pods", get(list_all_pods))
        .route("/api/v1/namespaces/{namespace}/pods", get(list_pods))
        .route("/api/v1/namespaces/{namespace}/pods/{pod}", get(get_pod).delete(delete_pod))
        .route("/api/v1/namespaces/{namespace}/pods/{pod}/exec", get(exec::exec).post(exec::exec))
        .fallback(|| async { status_response(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// Who presented which token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClusterRole {
    /// Everything.
    Admin,
    /// get and list on pods; no exec, no delete.
    Viewer,
}

/// `Authorization: Bearer <token>` or 401 (compared in constant time); the
/// viewer token gets 403 for anything but reading pods.
async fn require_token(State(state): State<Arc<ClusterState>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let role = if constant_time_eq(presented.as_bytes(), state.token.as_bytes()) {
        ClusterRole::Admin
    } else if constant_time_eq(presented.as_bytes(), state.viewer_token.as_bytes()) {
        ClusterRole::Viewer
    } else {
        return status_response(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    };
    let path = request.uri().path();
    if role == ClusterRole::Viewer && (request.method() != http::Method::GET || path.ends_with("/exec")) {
        let verb = if path.ends_with("/exec") { "create" } else { "delete" };
        let resource = if path.ends_with("/exec") { "pods/exec" } else { "pods" };
        return status_response(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("User \"system:serviceaccount:porthole:viewer\" cannot {verb} resource \"{resource}\" in API group \"\""),
        );
    }
    next.run(request).await
}

async fn version() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-porthole", "platform": "linux/amd64",
    }))
}

/// `GET /api`: the legacy group's versions.
async fn api_versions() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }))
}

/// `GET /apis`: no groups besides the legacy one.
async fn api_groups() -> impl IntoResponse {
    axum::Json(serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
}

/// `GET /api/v1`: the resources served here.
async fn api_resources() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
             "verbs": ["delete", "get", "list"], "shortNames": ["po"], "categories": ["all"]},
            {"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]},
        ],
    }))
}

/// A pod list: a Table when the client asks for one, else `v1.PodList`.
fn pod_list(headers: &http::HeaderMap, pods: Vec<LocalPod>) -> Response {
    let wants_table = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').next().is_some_and(|first| first.contains("as=Table")));
    if wants_table {
        return axum::Json(pods::pod_table(&pods, k8s_openapi::jiff::Timestamp::now())).into_response();
    }
    let items: Vec<Pod> = pods.iter().map(LocalPod::to_k8s).collect();
    axum::Json(List { items, metadata: ListMeta { resource_version: Some("1".into()), ..ListMeta::default() } }).into_response()
}

async fn list_all_pods(State(state): State<Arc<ClusterState>>, RawQuery(query): RawQuery, headers: http::HeaderMap) -> Response {
    list(&state, None, query.as_deref(), &headers)
}

async fn list_pods(
    State(state): State<Arc<ClusterState>>,
    Path(namespace): Path<String>,
    RawQuery(query): RawQuery,
    headers: http::HeaderMap,
) -> Response {
    list(&state, Some(&namespace), query.as_deref(), &headers)
}

/// Pods of a namespace (or all), filtered by `labelSelector` and
/// `fieldSelector` (equality-based: `k=v`, `k==v`, `k!=v`, comma-separated;
/// fields `metadata.name`, `metadata.namespace`, `status.phase`). A selector
/// it cannot read is a 400, as the API server answers.
fn list(state: &ClusterState, namespace: Option<&str>, query: Option<&str>, headers: &http::HeaderMap) -> Response {
    let mut labels = Vec::new();
    let mut fields = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let target = match key.as_ref() {
            "labelSelector" => &mut labels,
            "fieldSelector" => &mut fields,
            _ => continue,
        };
        match pods::parse_selector(&value) {
            Ok(requirements) => target.extend(requirements),
            Err(e) => return status_response(StatusCode::BAD_REQUEST, "BadRequest", format!("unable to parse requirement: {e}")),
        }
    }
    if let Some(unknown) = fields.iter().find(|r| !["metadata.name", "metadata.namespace", "status.phase"].contains(&r.key.as_str())) {
        return status_response(StatusCode::BAD_REQUEST, "BadRequest", format!("field label not supported: {}", unknown.key));
    }
    let selected = state.pods(|p| {
        namespace.is_none_or(|ns| p.namespace == ns)
            && labels.iter().all(|r| r.matches(p.labels.get(&r.key).map(String::as_str)))
            && fields.iter().all(|r| {
                let value = match r.key.as_str() {
                    "metadata.name" => p.name.as_str(),
                    "metadata.namespace" => p.namespace.as_str(),
                    _ => "Running",
                };
                r.matches(Some(value))
            })
    });
    pod_list(headers, selected)
}

async fn get_pod(State(state): State<Arc<ClusterState>>, Path((namespace, name)): Path<(String, String)>) -> Response {
    match state.pod(&namespace, &name) {
        Some(pod) => axum::Json(pod.to_k8s()).into_response(),
        None => status_response(StatusCode::NOT_FOUND, "NotFound", format!("pods \"{name}\" not found")),
    }
}

/// `DELETE`: answers the pod as it was, with its deletion timestamp.
async fn delete_pod(State(state): State<Arc<ClusterState>>, Path((namespace, name)): Path<(String, String)>) -> Response {
    match state.delete(&namespace, &name) {
        Some(pod) => {
            tracing::info!(namespace, pod = name, "pod deleted");
            let mut k8s = pod.to_k8s();
            k8s.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()));
            axum::Json(k8s).into_response()
        }
        None => status_response(StatusCode::NOT_FOUND, "NotFound", format!("pods \"{name}\" not found")),
    }
}

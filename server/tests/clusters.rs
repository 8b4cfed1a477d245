//! Environments on clusters: discovery, pod and container choice, pods that
//! go away, and cluster errors shown in words.

mod common;

use common::*;
use server::app::discovery::Cluster;
use std::time::Duration;

const ENV_TERMINALS: &str = "/demo/shop/-/environments/1/terminals.json";
const SECOND_POD: &str = "shop-web-7c9d5b8f4-m8k3p";

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = http_get(url).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn terminals_are_the_running_annotated_pods_containers() {
    let porthole = start().await;
    let (status, json) = get_json(&format!("{}{ENV_TERMINALS}", porthole.url())).await;
    assert_eq!(status, 200);
    let pairs: Vec<(String, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["pod"].as_str().unwrap().to_string(), t["container"].as_str().unwrap().to_string()))
        .collect();
    let want = [
        ("shop-web-7c9d5b8f4-q2x7z", "web"),
        ("shop-web-7c9d5b8f4-q2x7z", "worker"),
        (SECOND_POD, "web"),
        (SECOND_POD, "worker"),
    ];
    assert_eq!(pairs, want.map(|(p, c)| (p.to_string(), c.to_string())));
    assert!(json[0]["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_terminal_url_can_name_the_pod_and_container() {
    let porthole = start().await;
    let url = format!("{}?pod={SECOND_POD}&container=worker", porthole.ws_url(ENV_WS));
    let mut client = Client::connect(&url, "v1.porthole").await;
    client.expect_prompt().await;
    match &client.controls[0] {
        shared::porthole::ServerMessage::Connected { pod, container, .. } => {
            assert_eq!((pod.as_deref(), container.as_deref()), (Some(SECOND_POD), Some("worker")));
        }
        other => panic!("{other:?}"),
    }
    client.run("echo in-$PORTHOLE_CONTAINER-$HOSTNAME", &format!("in-worker-{SECOND_POD}\r\n")).await;

    // A pod that is not (or no longer) a terminal of the environment: 404 from authorize.
    let url = format!("{}?pod=no-such-pod&container=web", porthole.ws_url(ENV_WS));
    let err = Client::try_connect(&url, "v1.porthole").await.err().expect("refused");
    assert!(err.to_string().contains("404"), "{err}");
}

async fn delete_pod(porthole: &TestPorthole, name: &str) {
    let cluster = &porthole.porthole.cluster.as_ref().unwrap();
    let client = server::app::discovery::client(&Cluster {
        api_url: cluster.api_url(),
        token: cluster.token.clone(),
        ca_pem: cluster.ca_pem.clone(),
    })
    .unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "shop-production");
    pods.delete(name, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn a_deleted_pod_ends_its_session_with_pod_terminated() {
    let porthole = start().await;
    let url = format!("{}?pod={SECOND_POD}&container=web", porthole.ws_url(ENV_WS));
    let mut client = Client::connect(&url, "v1.porthole").await;
    client.expect_prompt().await;
    delete_pod(&porthole, SECOND_POD).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), client.expect_close()).await.expect("closed within 5 s");
    assert_eq!(closed, (4007, "pod terminated".to_string()));
    // The environment's other pod still serves terminals.
    let (_, json) = get_json(&format!("{}{ENV_TERMINALS}", porthole.url())).await;
    assert!(json.as_array().unwrap().iter().all(|t| t["pod"] != SECOND_POD));
    let mut other = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    other.expect_prompt().await;
}

#[tokio::test]
async fn a_process_killed_by_sigkill_in_a_living_pod_is_an_exit_status() {
    // The same upstream signal as a deleted pod (exit 137), but the pod is
    // still there: the user sees the exit status, not "pod terminated".
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.send_input(b"kill -9 $$\r").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4000, "the process exited with exit status 137 (killed by signal 9)"));
}

/// A porthole with one more project whose environments use `clusters`.
async fn start_with_clusters(clusters: &str, environments: &str) -> TestPorthole {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("porthole.toml");
    std::fs::write(&path, format!("{clusters}\n[[projects]]\nid = 2\npath = \"acme/shop\"\n{environments}")).unwrap();
    let porthole = start_configured(|c| c.config_file = Some(path.clone())).await;
    drop(dir);
    porthole
}

fn environment(id: u64, cluster: &str, namespace: &str) -> String {
    format!("[[projects.environments]]\nid = {id}\nname = \"env{id}\"\nslug = \"production\"\ncluster = \"{cluster}\"\nnamespace = \"{namespace}\"\n")
}

/// `terminals.json` of an `acme/shop` environment, as `root` (an admin: the
/// demo users are not members of acme/shop).
async fn terminals_as_root(porthole: &TestPorthole, env: u64) -> (u16, serde_json::Value) {
    let root = client_with_cookie(&sign_in(&porthole.url(), "root").await);
    let response = root.get(format!("{}/acme/shop/-/environments/{env}/terminals.json", porthole.url())).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn terminals_message(porthole: &TestPorthole, env: u64) -> (u16, String) {
    let (status, json) = terminals_as_root(porthole, env).await;
    (status, json["message"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn cluster_errors_are_explained() {
    let other_ca = server::tls::LocalCa::generate().unwrap().ca_pem.replace('\n', "\\n");
    // The local cluster's API URL is only known once it runs: the bad
    // clusters point at another porthole's with wrong credentials, or at a
    // closed port.
    let probe = start().await;
    let api = probe.porthole.cluster.as_ref().unwrap().api_url();
    let ca = probe.porthole.cluster.as_ref().unwrap().ca_pem.replace('\n', "\\n");
    let clusters = format!(
        "[[clusters]]\nname = \"bad-token\"\napi_url = \"{api}\"\ntoken = \"wrong\"\nca_pem = \"{ca}\"\n\
         [[clusters]]\nname = \"bad-ca\"\napi_url = \"{api}\"\ntoken = \"wrong\"\nca_pem = \"{other_ca}\"\n\
         [[clusters]]\nname = \"closed\"\napi_url = \"https://127.0.0.1:1\"\ntoken = \"t\"\n"
    );
    let envs = [environment(11, "bad-token", "shop-production"), environment(12, "bad-ca", "x"), environment(13, "closed", "x"), environment(14, "local", "empty")]
        .concat();
    let porthole = start_with_clusters(&clusters, &envs).await;

    let (status, message) = terminals_message(&porthole, 11).await;
    assert_eq!(status, 502);
    assert!(message.contains("401 Unauthorized"), "{message}");
    let (status, message) = terminals_message(&porthole, 12).await;
    assert_eq!(status, 502);
    assert!(message.starts_with("TLS failure"), "{message}");
    let (status, message) = terminals_message(&porthole, 13).await;
    assert_eq!(status, 502);
    assert!(message.starts_with("the cluster is unreachable"), "{message}");
    // No matching pods: an empty list, and authorize says so.
    let (status, json) = terminals_as_root(&porthole, 14).await;
    assert_eq!((status, json), (200, serde_json::json!([])));
    let root = sign_in(&porthole.url(), "root").await;
    let url = porthole.ws_url("/acme/shop/-/environments/14/terminal.ws");
    let err = Client::try_connect_with(&url, "v1.porthole", &[("cookie", &root)]).await.err().unwrap();
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn a_cluster_imported_from_a_kubeconfig_serves_terminals() {
    // Another porthole's local cluster, reached through the kubeconfig it wrote.
    let other = start().await;
    let kubeconfig = other.porthole.cluster.as_ref().unwrap().kubeconfig.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("porthole.toml");
    std::fs::write(
        &path,
        format!(
            "demo = false\n[[clusters]]\nname = \"imported\"\nkubeconfig = \"{kubeconfig}\"\ncontext = \"porthole-local\"\n\
             [[projects]]\nid = 1\npath = \"demo/shop\"\n{}",
            environment(1, "imported", "shop-production")
        ),
    )
    .unwrap();
    let porthole = start_configured(|c| c.config_file = Some(path.clone())).await;
    let (status, json) = get_json(&format!("{}{ENV_TERMINALS}", porthole.url())).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json.as_array().unwrap().len(), 4, "{json}");
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.run("echo imported-$((40+2))", "imported-42\r\n").await;
}

#[tokio::test]
async fn a_token_without_exec_rights_is_explained_on_connect() {
    let probe = start().await;
    let api = probe.porthole.cluster.as_ref().unwrap().api_url();
    let ca = probe.porthole.cluster.as_ref().unwrap().ca_pem.replace('\n', "\\n");
    let viewer = &probe.porthole.cluster.as_ref().unwrap().viewer_token;
    let clusters = format!("[[clusters]]\nname = \"viewer\"\napi_url = \"{api}\"\ntoken = \"{viewer}\"\nca_pem = \"{ca}\"\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("porthole.toml");
    std::fs::write(
        &path,
        format!("demo = false\n{clusters}[[projects]]\nid = 1\npath = \"demo/shop\"\n{}", environment(1, "viewer", "shop-production")),
    )
    .unwrap();
    let porthole = start_configured(|c| c.config_file = Some(path.clone())).await;
    // Listing works: the page shows the pods…
    let (status, json) = get_json(&format!("{}{ENV_TERMINALS}", porthole.url())).await;
    assert_eq!((status, json.as_array().map(Vec::len)), (200, Some(4)));
    // …and the exec is refused in words.
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!(code, 4002);
    assert_eq!(reason, "the cluster forbids exec into this pod (403 Forbidden): the credentials need get and create on pods/exec");
}

#[tokio::test]
async fn the_max_session_time_setting_reaches_the_channel_and_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("porthole.toml");
    std::fs::write(&path, "terminal_max_session_time = 2\n").unwrap();
    let porthole = start_configured(|c| c.config_file = Some(path.clone())).await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    assert!(matches!(client.controls[0], shared::porthole::ServerMessage::Connected { expires_at: Some(_), .. }));
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4006, "Session expired: the maximum session time is 2 seconds"));
}

/// A projected service account volume as the kubelet writes one: `token`,
/// `ca.crt` and `namespace` are links through `..data` to a timestamped
/// folder, and a rotation makes a new folder and renames a new `..data`
/// link over the old one.
fn project_service_account(dir: &std::path::Path, generation: u32, token: &str, ca_pem: &str) {
    use std::os::unix::fs::symlink;
    let folder = format!("..2026_12_07_{generation:02}");
    std::fs::create_dir(dir.join(&folder)).unwrap();
    for (name, content) in [("token", token), ("ca.crt", ca_pem), ("namespace", "porthole")] {
        std::fs::write(dir.join(&folder).join(name), content).unwrap();
    }
    symlink(&folder, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for name in ["token", "ca.crt", "namespace"] {
        if std::fs::symlink_metadata(dir.join(name)).is_err() {
            symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
    }
}

#[tokio::test]
async fn in_cluster_credentials_come_from_the_pod_and_a_rotated_token_is_read_again() {
    // The cluster Porthole "runs in" is another porthole's local cluster;
    // the porthole under test is the real binary, run as deploy/kubernetes
    // runs it (no demo, no local cluster of its own), given the two service
    // variables a kubelet sets and a service account directory whose first
    // token the cluster does not accept.
    let host = start().await;
    let cluster = &host.porthole.cluster.as_ref().unwrap();
    let port = url::Url::parse(&cluster.api_url()).unwrap().port().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let service_account = dir.path().join("serviceaccount");
    std::fs::create_dir(&service_account).unwrap();
    project_service_account(&service_account, 1, "an-expired-token", &cluster.ca_pem);
    let config = dir.path().join("porthole.toml");
    std::fs::write(
        &config,
        format!(
            "demo = false\n[[clusters]]\nname = \"here\"\nin_cluster = true\nservice_account_dir = \"{}\"\n[[projects]]\nid = 1\npath = \"demo/shop\"\n{}",
            service_account.display(),
            environment(1, "here", "shop-production")
        ),
    )
    .unwrap();
    let env = [("KUBERNETES_SERVICE_HOST", "127.0.0.1"), ("KUBERNETES_SERVICE_PORT", port.as_str())];
    let args = ["--config", config.to_str().unwrap(), "--no-local-cluster", "--initial-root-password", DEMO_PASSWORD];
    let porthole = common::binary::Binary::start_with_env(&args, "warn", &env);
    let cookie = sign_in(&porthole.http_url(), "root").await;
    let root = client_with_cookie(&cookie);
    let terminals = || async {
        let response = root.get(format!("{}{ENV_TERMINALS}", porthole.http_url())).send().await.unwrap();
        (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
    };
    let (status, json) = terminals().await;
    assert_eq!(status, 502, "{json}");
    assert!(json["message"].as_str().unwrap().contains("401 Unauthorized"), "{json}");

    // The kubelet rotates the token: the next request uses the new one,
    // without a restart.
    project_service_account(&service_account, 2, &format!("{}\n", cluster.token), &cluster.ca_pem);
    let (status, json) = terminals().await;
    assert_eq!((status, json.as_array().map(Vec::len)), (200, Some(4)), "{json}");
    let url = format!("{}{ENV_WS}", porthole.url);
    let mut client = Client::try_connect_with(&url, "v1.porthole", &[("cookie", &cookie)]).await.unwrap();
    client.expect_prompt().await;
    client.run("echo in-cluster-$((40+2))", "in-cluster-42\r\n").await;

    // The file's credentials are not the API's: pointing the cluster
    // elsewhere (which would send the pod's token there) is refused, and
    // nothing can go on the local cluster, which is off.
    let api = porthole.http_url();
    let clusters: serde_json::Value = root.get(format!("{api}/api/v4/admin/clusters")).send().await.unwrap().json().await.unwrap();
    let id = clusters.as_array().unwrap().iter().find(|c| c["name"] == "here").expect("the file's cluster")["id"].as_u64().unwrap();
    let moved = serde_json::json!({"platform_kubernetes_attributes": {"api_url": "https://127.0.0.1:1"}});
    let put = root.put(format!("{api}/api/v4/admin/clusters/{id}")).json(&moved).send().await.unwrap();
    assert_eq!(put.status().as_u16(), 409);
    assert_eq!(root.delete(format!("{api}/api/v4/admin/clusters/{id}")).send().await.unwrap().status().as_u16(), 409);
    let on_local = serde_json::json!({"name": "dev", "cluster": "local", "namespace": "dev"});
    let created = root.post(format!("{api}/api/v4/projects/1/environments")).json(&on_local).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 400);
    // Terminals still work after those refusals.
    let (status, _) = terminals().await;
    assert_eq!(status, 200);

    // A token file gone: a 502 in words, never the database's old token.
    std::fs::remove_file(service_account.join("token")).unwrap();
    let (status, json) = terminals().await;
    assert_eq!(status, 502, "{json}");
    assert_eq!(json["message"], "the token of cluster \"here\" cannot be read from its file");
}

//! The admin side of the app: application settings, users, projects,
//! members, clusters, environments and the audit log, through the
//! GitLab-named `/api/v4` endpoints, on a real porthole.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::api::{ApplicationSettings, AuditEvent, AuditOutcome, MemberJson, ProjectJson};
use shared::porthole::ServerMessage;
use std::time::Duration;

async fn as_user(porthole: &TestPorthole, user: &str) -> reqwest::Client {
    client_with_cookie(&sign_in(&porthole.url(), user).await)
}

async fn status_of(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn only_admins_read_and_change_application_settings() {
    let porthole = start().await;
    let url = format!("{}/api/v4/application/settings", porthole.url());
    let change = json!({"terminal_max_session_time": 120});
    for user in ["maintainer", "developer"] {
        let client = as_user(&porthole, user).await;
        let (status, body) = status_of(client.put(&url).json(&change)).await;
        assert_eq!(status, 403, "{user}: {body}");
        assert!(body["message"].as_str().unwrap().contains("administrators"), "{body}");
        assert_eq!(status_of(client.get(&url)).await.0, 403);
    }
    assert_eq!(status_of(reqwest::Client::new().put(&url).json(&change)).await.0, 401, "signed out");
    let root = as_user(&porthole, "root").await;
    let settings: ApplicationSettings = root.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(settings.terminal_max_session_time, 0, "no limit by default");
    let (status, body) = status_of(root.put(&url).json(&change)).await;
    assert_eq!((status, body["terminal_max_session_time"].as_u64()), (200, Some(120)));
    let (status, body) = status_of(root.put(&url).json(&json!({"terminal_max_session_time": -1}))).await;
    assert_eq!(status, 400, "not a number of seconds");
    assert!(body["message"].as_str().is_some(), "a JSON message: {body}");
    let (status, body) = status_of(root.put(&url).body("{not json").header("content-type", "application/json")).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("the body is not valid JSON: key must be a string at line 1 column 2")));
    let (status, body) = status_of(root.put(&url).json(&json!([]))).await;
    assert_eq!(status, 400);
    assert!(!body["message"].as_str().unwrap().contains("SettingsUpdate"), "no type names: {body}");
    let (status, body) = status_of(root.put(&url).body("{}")).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("send the body as JSON, with Content-Type: application/json")));
    // A megabyte of nesting is refused at its first bracket; a body over
    // 8 MiB is refused before it is parsed.
    let nested = "[".repeat(1 << 20);
    let (status, body) = status_of(root.put(&url).body(nested).header("content-type", "application/json")).await;
    assert_eq!(status, 400, "{body}");
    let huge = format!("{{\"terminal_max_session_time\": 1, \"pad\": \"{}\"}}", "x".repeat(9 << 20));
    let (status, body) = status_of(root.put(&url).body(huge).header("content-type", "application/json")).await;
    assert_eq!((status, body["message"].as_str()), (413, Some("the body is too large (at most 8 MiB)")));
    assert_eq!(status_of(root.put(&url).json(&json!({"terminal_max_session_time": 99_999_999}))).await.0, 400);
    // A cross-site page cannot change it, even with the admin's cookie.
    let (status, _) = status_of(root.put(&url).header("origin", "https://evil.example").json(&json!({"terminal_max_session_time": 1}))).await;
    assert_eq!(status, 403);
    let settings: ApplicationSettings = root.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(settings.terminal_max_session_time, 120);
}

#[tokio::test]
async fn the_max_session_time_setting_ends_sessions_on_time() {
    let porthole = start_configured(|c| c.reauthorize_interval = Duration::from_millis(300)).await;
    let root = as_user(&porthole, "root").await;
    let settings = format!("{}/api/v4/application/settings", porthole.url());
    let put = |seconds: u64| root.put(&settings).json(&json!({ "terminal_max_session_time": seconds })).send();
    assert_eq!(put(3).await.unwrap().status().as_u16(), 200);
    let started = std::time::Instant::now();
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let (code, reason) = client.expect_close().await;
    let elapsed = started.elapsed();
    assert_eq!((code, reason.as_str()), (4006, "Session expired: the maximum session time is 3 seconds"));
    assert!(elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_secs(4), "{elapsed:?}");

    // Lowering the setting ends a session past the new limit at the next re-check.
    assert_eq!(put(0).await.unwrap().status().as_u16(), 200);
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let deadline = std::time::Instant::now() + DEADLINE;
    while std::time::Instant::now() < deadline && client.controls.is_empty() {
        client.read_one().await;
    }
    client.run("echo past-$((1+1))", "past-2\r\n").await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the session must be older than the new limit
    assert_eq!(put(1).await.unwrap().status().as_u16(), 200);
    let closed = tokio::time::timeout(Duration::from_secs(3), client.expect_close()).await.expect("closed within one re-check");
    assert_eq!(closed, (4006, "Session expired: the maximum session time is 1 seconds".to_string()));
}

#[tokio::test]
async fn the_idle_timeout_setting_closes_quiet_sessions() {
    let porthole = start().await;
    let root = as_user(&porthole, "root").await;
    let settings = format!("{}/api/v4/application/settings", porthole.url());
    let current: ApplicationSettings = root.get(&settings).send().await.unwrap().json().await.unwrap();
    assert_eq!(current.terminal_idle_timeout, 0, "never by default");
    let (status, body) = status_of(root.put(&settings).json(&json!({ "terminal_idle_timeout": 99_999_999 }))).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("terminal_idle_timeout"), "{body}");
    let (status, body) = status_of(root.put(&settings).json(&json!({ "terminal_idle_timeout": 2 }))).await;
    assert_eq!((status, body["terminal_idle_timeout"].as_u64()), (200, Some(2)));
    // The authorize answer carries it to the relay, which ends the quiet session.
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4012, "closed after 2 seconds without activity"));
    assert!(client.controls.iter().any(|m| matches!(m, ServerMessage::Idle { .. })), "warned first: {:?}", client.controls);
}

#[tokio::test]
async fn the_audit_log_records_opened_refused_and_ended_sessions() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.send_input(b"echo audited; exit 3\r").await;
    let (code, _) = client.expect_close().await;
    assert_eq!(code, 4000);
    // The developer may not open it: a refusal.
    let developer = sign_in(&porthole.url(), "developer").await;
    let refused = Client::try_connect_with(&porthole.ws_url(ENV_WS), "v1.porthole", &[("cookie", &developer)]).await;
    assert!(refused.err().expect("refused").to_string().contains("403"));

    // The page asks terminals.json first: that refusal is the one a person
    // meets, and it is recorded too.
    let terminals = format!("{}/demo/shop/-/environments/1/terminals.json", porthole.url());
    assert_eq!(status_of(client_with_cookie(&developer).get(&terminals)).await.0, 403);

    let root = as_user(&porthole, "root").await;
    let url = format!("{}/api/v4/audit_events", porthole.url());
    let mut events: Vec<AuditEvent> = Vec::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    // The relay reports the end in the background.
    while !events.iter().any(|e| e.outcome == AuditOutcome::Ended) {
        assert!(std::time::Instant::now() < deadline, "no ended session in {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        events = root.get(&url).send().await.unwrap().json().await.unwrap();
    }
    let ended = events.iter().find(|e| e.outcome == AuditOutcome::Ended).unwrap();
    assert_eq!(ended.username.as_deref(), Some("maintainer"));
    assert_eq!((ended.project.as_str(), ended.target.as_str()), ("demo/shop", "environment production"));
    assert_eq!((ended.pod.as_deref(), ended.container.as_deref()), (Some("shop-web-7c9d5b8f4-q2x7z"), Some("web")));
    assert_eq!((ended.exit_code, ended.close_code), (Some(3), Some(4000)));
    assert!(ended.bytes_in >= "echo audited; exit 3\r".len() as u64, "{ended:?}");
    assert!(ended.bytes_out as usize >= client.output.len() && ended.bytes_out > 0, "{ended:?}");
    assert!(ended.ended_at.unwrap() >= ended.started_at);
    assert_eq!(ended.reason.as_deref(), Some("the process exited with exit status 3"));
    let refusals: Vec<_> = events.iter().filter(|e| e.outcome == AuditOutcome::Refused).collect();
    assert_eq!(refusals.len(), 2, "the WebSocket's and terminals.json's: {events:?}");
    for refusal in refusals {
        assert_eq!(refusal.username.as_deref(), Some("developer"));
        assert_eq!(refusal.target, "environment production");
        assert_eq!(refusal.reason.as_deref(), Some("You need the Maintainer role on demo/shop to open this terminal"));
    }
    // Re-authorizations and signed-out requests add no entries: one
    // session, two refusals.
    let signed_out = Client::try_connect_with(&porthole.ws_url(ENV_WS), "v1.porthole", &[("cookie", "nobody=1")]).await;
    assert!(signed_out.err().expect("refused").to_string().contains("401"));
    let events: Vec<AuditEvent> = root.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    // GitLab's paging: two a page, newest first.
    let page = root.get(format!("{url}?per_page=2&page=2")).send().await.unwrap();
    assert_eq!((page.headers()["x-page"].to_str().unwrap(), page.headers()["x-next-page"].to_str().unwrap()), ("2", ""));
    let second: Vec<AuditEvent> = page.json().await.unwrap();
    assert_eq!(second, events[2..]);
    let first = root.get(format!("{url}?per_page=2")).send().await.unwrap();
    assert_eq!(first.headers()["x-next-page"], "2");
    // Only admins read it.
    assert_eq!(status_of(porthole.http().get(&url)).await.0, 403);
    // Nobody but the relay reports ends.
    let forged = porthole
        .http()
        .post(format!("{}/api/v4/internal/terminal_sessions/{}", porthole.url(), ended.id))
        .json(&json!({"bytes_in": 0, "bytes_out": 0, "close_code": 4000, "reason": "x", "exit_code": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
}

#[tokio::test]
async fn admins_manage_users_projects_members_clusters_and_environments() {
    let porthole = start().await;
    let base = porthole.url();
    let root = as_user(&porthole, "root").await;
    let maintainer = porthole.http();

    // Users.
    let new_user = json!({"username": "alice", "password": "alice-password"});
    assert_eq!(status_of(maintainer.post(format!("{base}/api/v4/users")).json(&new_user)).await.0, 403);
    assert_eq!(status_of(root.post(format!("{base}/api/v4/users")).json(&new_user)).await.0, 201);
    assert_eq!(status_of(root.post(format!("{base}/api/v4/users")).json(&new_user)).await.0, 409);
    let (status, body) = status_of(root.post(format!("{base}/api/v4/users")).json(&json!({"username": "bob", "password": "short"}))).await;
    assert_eq!(status, 400, "{body}");
    let alice = client_with_cookie(&sign_in_with(&base, "alice", "alice-password").await);

    // Projects: alice sees none yet.
    let project = json!({"path_with_namespace": "acme/app"});
    assert_eq!(status_of(maintainer.post(format!("{base}/api/v4/projects")).json(&project)).await.0, 403);
    let (status, created) = status_of(root.post(format!("{base}/api/v4/projects")).json(&project)).await;
    assert_eq!(status, 201);
    let id = created["id"].as_u64().unwrap();
    assert_eq!(status_of(root.post(format!("{base}/api/v4/projects")).json(&project)).await.0, 409);
    assert_eq!(status_of(root.post(format!("{base}/api/v4/projects")).json(&json!({"path_with_namespace": "solo"}))).await.0, 400);
    let visible: Vec<ProjectJson> = alice.get(format!("{base}/api/v4/projects")).send().await.unwrap().json().await.unwrap();
    assert!(visible.is_empty(), "{visible:?}");

    // A cluster: the local cluster's API under another name, with its token and CA.
    let cluster = &porthole.porthole.cluster.as_ref().unwrap();
    let add = json!({"name": "copy", "platform_kubernetes_attributes": {"api_url": cluster.api_url(), "token": cluster.token, "ca_cert": cluster.ca_pem}});
    assert_eq!(status_of(maintainer.post(format!("{base}/api/v4/admin/clusters/add")).json(&add)).await.0, 403);
    assert_eq!(status_of(root.post(format!("{base}/api/v4/admin/clusters/add")).json(&add)).await.0, 201);
    let bad_ca = json!({"name": "x", "platform_kubernetes_attributes": {"api_url": "https://127.0.0.1:1", "token": "t", "ca_cert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}});
    assert_eq!(status_of(root.post(format!("{base}/api/v4/admin/clusters/add")).json(&bad_ca)).await.0, 400);
    let (_, clusters) = status_of(root.get(format!("{base}/api/v4/admin/clusters"))).await;
    assert_eq!(clusters[0]["name"], "copy");
    assert!(!clusters.to_string().contains(&cluster.token), "tokens are never shown");

    // An environment on it.
    let env = json!({"name": "Staging", "cluster": "copy", "namespace": "shop-production"});
    let envs_url = format!("{base}/api/v4/projects/{id}/environments");
    assert_eq!(status_of(root.post(&envs_url).json(&json!({"name": "s", "cluster": "nope", "namespace": "ns"}))).await.0, 400);
    assert_eq!(status_of(root.post(&envs_url).json(&json!({"name": "s", "cluster": "copy", "namespace": "Bad_NS"}))).await.0, 400);
    let (status, created_env) = status_of(root.post(&envs_url).json(&env)).await;
    assert_eq!(status, 201, "{created_env}");
    assert_eq!(created_env["slug"], "staging");
    let terminals = format!("{base}/acme/app/-/environments/{}/terminals.json", created_env["id"]);

    // Members: alice is no member (404), then a Developer (403), then a Maintainer (200).
    let members_url = format!("{base}/api/v4/projects/{id}/members");
    assert_eq!(status_of(alice.get(&terminals)).await.0, 404);
    assert_eq!(status_of(maintainer.post(&members_url).json(&json!({"username": "alice", "access_level": 40}))).await.0, 404, "not a member of acme/app");
    assert_eq!(status_of(root.post(&members_url).json(&json!({"username": "alice", "access_level": 30}))).await.0, 201);
    assert_eq!(status_of(alice.get(&terminals)).await.0, 403);
    assert_eq!(status_of(alice.post(&members_url).json(&json!({"username": "alice", "access_level": 40}))).await.0, 403, "a Developer cannot promote herself");
    assert_eq!(status_of(root.post(&members_url).json(&json!({"username": "alice", "access_level": 40}))).await.0, 201);
    assert_eq!(status_of(root.post(&members_url).json(&json!({"username": "alice", "access_level": 45}))).await.0, 400);
    assert_eq!(status_of(root.post(&members_url).json(&json!({"username": "nobody", "access_level": 30}))).await.0, 404);
    // The stored cluster answers: the pods there belong to demo/shop, so acme/app has none.
    let (status, list) = status_of(alice.get(&terminals)).await;
    assert_eq!((status, list), (200, json!([])));
    let members: Vec<MemberJson> = alice.get(&members_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(members, [MemberJson { username: "alice".into(), access_level: 40 }]);
    let visible: Vec<ProjectJson> = alice.get(format!("{base}/api/v4/projects")).send().await.unwrap().json().await.unwrap();
    assert_eq!(visible, [ProjectJson { id, path_with_namespace: "acme/app".into() }]);
    // Signed out, a project that exists and one that does not look alike.
    for project in [id, 999] {
        let (status, _) = status_of(reqwest::Client::new().get(format!("{base}/api/v4/projects/{project}/members"))).await;
        assert_eq!(status, 401, "project {project}");
    }
    // The cluster moves (the local cluster's port changes at every start
    // unless fixed): its environments follow the update.
    let (_, clusters) = status_of(root.get(format!("{base}/api/v4/admin/clusters"))).await;
    let cluster_url = format!("{base}/api/v4/admin/clusters/{}", clusters[0]["id"]);
    let moved = json!({"platform_kubernetes_attributes": {"api_url": "https://127.0.0.1:1"}});
    assert_eq!(status_of(alice.put(&cluster_url).json(&moved)).await.0, 403);
    assert_eq!(status_of(root.put(&cluster_url).json(&moved)).await.0, 200);
    assert_eq!(status_of(alice.get(&terminals)).await.0, 502, "nothing listens there");
    let back = json!({"platform_kubernetes_attributes": {"api_url": cluster.api_url()}});
    assert_eq!(status_of(root.put(&cluster_url).json(&back)).await.0, 200);
    assert_eq!(status_of(alice.get(&terminals)).await.0, 200, "token and CA kept");
    let (status, body) = status_of(root.delete(&cluster_url)).await;
    assert_eq!(status, 409, "in use: {body}");
    let (status, body) = status_of(root.delete(format!("{base}/api/v4/admin/clusters/not-a-number"))).await;
    assert_eq!((status, body["message"].is_string()), (400, true), "{body}");
    let (status, body) = status_of(root.get(format!("{base}/api/v4/audit_events?page=x"))).await;
    assert_eq!((status, body["message"].is_string()), (400, true), "{body}");
    // Removed again: 404 for her.
    assert_eq!(root.delete(format!("{members_url}/alice")).send().await.unwrap().status().as_u16(), 204);
    assert_eq!(root.delete(format!("{members_url}/alice")).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(status_of(alice.get(&terminals)).await.0, 404);
    // Environment, then cluster, deleted.
    let env_url = format!("{envs_url}/{}", created_env["id"]);
    assert_eq!(root.delete(&env_url).send().await.unwrap().status().as_u16(), 204);
    assert_eq!(root.delete(&env_url).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(root.delete(&cluster_url).send().await.unwrap().status().as_u16(), 204);
    assert_eq!(root.delete(&cluster_url).send().await.unwrap().status().as_u16(), 404);
}

#[tokio::test]
async fn a_non_demo_configuration_gets_its_first_admin_from_explicit_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("porthole.toml");
    std::fs::write(&file, "demo = false\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.config_file = Some(file);
    config.initial_root_password = Some("first-admin-pw".into());
    let porthole = server::Porthole::start(config.clone()).await.unwrap();
    let db = server::app::db::Database::connect(&format!("sqlite://{}", data.path().join("porthole.db").display())).await.unwrap();
    let users = db.users().await.unwrap();
    assert_eq!(users.iter().map(|u| (u.username.as_str(), u.admin)).collect::<Vec<_>>(), [("root", true)], "no demo users");
    sign_in_with(&porthole.url(), "root", "first-admin-pw").await;
    porthole.shutdown().await;
    // A second start with another password does not change it.
    config.initial_root_password = Some("another-password".into());
    let again = server::Porthole::start(config).await.unwrap();
    let root = db.user("root").await.unwrap().unwrap();
    assert!(server::app::users::verify_password("first-admin-pw".into(), root.password_hash).await);
    again.shutdown().await;
}

#[tokio::test]
async fn removing_a_member_ends_their_open_terminal_within_one_poll() {
    let porthole = start_configured(|c| c.reauthorize_interval = Duration::from_millis(300)).await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let root = as_user(&porthole, "root").await;
    let removed = root.delete(format!("{}/api/v4/projects/1/members/maintainer", porthole.url())).send().await.unwrap();
    assert_eq!(removed.status().as_u16(), 204);
    let closed = tokio::time::timeout(Duration::from_secs(3), client.expect_close()).await.expect("closed within one poll");
    assert_eq!(closed, (4004, "your access to this terminal was revoked".to_string()));
}

#[tokio::test]
async fn below_owner_nobody_grants_more_than_their_role_or_touches_an_owner() {
    let porthole = start().await;
    let members = format!("{}/api/v4/projects/1/members", porthole.url());
    let root = as_user(&porthole, "root").await;
    let maintainer = porthole.http();
    let grant = |client: &reqwest::Client, user: &str, level: i64| client.post(&members).json(&json!({"username": user, "access_level": level})).send();
    assert_eq!(grant(&maintainer, "developer", 50).await.unwrap().status().as_u16(), 403, "Owner is above Maintainer");
    assert_eq!(grant(&maintainer, "maintainer", 50).await.unwrap().status().as_u16(), 403, "nor for herself");
    assert_eq!(grant(&maintainer, "developer", 40).await.unwrap().status().as_u16(), 201, "up to her own role");
    assert_eq!(grant(&root, "developer", 50).await.unwrap().status().as_u16(), 201, "admins may");
    assert_eq!(grant(&maintainer, "developer", 10).await.unwrap().status().as_u16(), 403, "an Owner's membership");
    let removed = maintainer.delete(format!("{members}/developer")).send().await.unwrap();
    assert_eq!(removed.status().as_u16(), 403);
    // The Owner may do all of it.
    let owner = as_user(&porthole, "developer").await;
    assert_eq!(grant(&owner, "maintainer", 50).await.unwrap().status().as_u16(), 201);
}

#[tokio::test]
async fn sessions_ended_by_shutdown_are_in_the_audit_log() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let TestPorthole { porthole, data } = porthole;
    // The browser answers the Close while the server shuts down.
    let ((), (code, _)) = tokio::join!(porthole.shutdown(), client.expect_close());
    assert_eq!(code, 4008);
    let db = server::app::db::Database::connect(&format!("sqlite://{}", data.path().join("porthole.db").display())).await.unwrap();
    let events = db.audit_events(10, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].outcome, events[0].close_code), (AuditOutcome::Ended, Some(4008)), "{events:?}");
}

#[tokio::test]
async fn admins_update_and_delete_users_and_projects() {
    let porthole = start().await;
    let base = porthole.url();
    let root = as_user(&porthole, "root").await;
    let users = format!("{base}/api/v4/users");
    assert_eq!(status_of(root.post(&users).json(&json!({"username": "alice", "password": "alice-password"}))).await.0, 201);
    let alice = client_with_cookie(&sign_in_with(&base, "alice", "alice-password").await);

    // A new password, then admin rights; only admins may.
    let change = json!({"password": "new-alice-password"});
    assert_eq!(status_of(porthole.http().put(format!("{users}/alice")).json(&change)).await.0, 403);
    assert_eq!(status_of(root.put(format!("{users}/alice")).json(&json!({"password": "short"}))).await.0, 400);
    let (status, body) = status_of(root.put(format!("{users}/alice")).json(&change)).await;
    assert_eq!((status, body["is_admin"].as_bool()), (200, Some(false)));
    // A new password signs the old sessions out.
    assert_eq!(status_of(alice.get(format!("{base}/api/v4/user"))).await.0, 401);
    let alice = client_with_cookie(&sign_in_with(&base, "alice", "new-alice-password").await);
    let (status, body) = status_of(root.put(format!("{users}/alice")).json(&json!({"admin": true}))).await;
    assert_eq!((status, body["is_admin"].as_bool()), (200, Some(true)));
    assert_eq!(status_of(alice.get(&users)).await.0, 200, "alice is an admin now");
    assert_eq!(status_of(root.put(format!("{users}/nobody")).json(&change)).await.0, 404);

    // No lock-out: nobody takes their own admin rights or deletes themselves.
    assert_eq!(status_of(root.put(format!("{users}/root")).json(&json!({"admin": false}))).await.0, 409);
    assert_eq!(status_of(root.delete(format!("{users}/root"))).await.0, 409);
    // Another admin may; a deleted user's session is signed out.
    assert_eq!(status_of(alice.delete(format!("{users}/developer"))).await.0, 204);
    assert_eq!(status_of(root.delete(format!("{users}/alice"))).await.0, 204);
    assert_eq!(status_of(alice.get(&users)).await.0, 401);
    assert_eq!(status_of(root.delete(format!("{users}/alice"))).await.0, 404);
    // A new alice is not the old one: the old cookie stays signed out.
    assert_eq!(status_of(root.post(&users).json(&json!({"username": "alice", "password": "alice-password"}))).await.0, 201);
    assert_eq!(status_of(alice.get(format!("{base}/api/v4/user"))).await.0, 401);

    // A project goes with its environments and members.
    let terminals = format!("{base}/demo/shop/-/environments/1/terminals.json");
    assert_eq!(status_of(porthole.http().get(&terminals)).await.0, 200);
    assert_eq!(status_of(porthole.http().delete(format!("{base}/api/v4/projects/1"))).await.0, 403);
    assert_eq!(status_of(root.delete(format!("{base}/api/v4/projects/demo%2Fshop"))).await.0, 204);
    assert_eq!(status_of(porthole.http().get(&terminals)).await.0, 404);
    assert_eq!(status_of(root.get(format!("{base}/api/v4/projects/1/environments"))).await.0, 404);
    assert_eq!(status_of(root.delete(format!("{base}/api/v4/projects/1"))).await.0, 404);
    // A new project does not take the old one's id.
    let (_, created) = status_of(root.post(format!("{base}/api/v4/projects")).json(&json!({"path_with_namespace": "demo/shop"}))).await;
    assert_ne!(created["id"], 1);
    let members: Vec<MemberJson> = root.get(format!("{base}/api/v4/projects/demo%2Fshop/members")).send().await.unwrap().json().await.unwrap();
    assert!(members.is_empty(), "the old members do not come back: {members:?}");
}

#[tokio::test]
async fn a_new_session_asked_for_is_audited_as_such() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.close_with(shared::porthole::RESTART_REASON).await;
    let root = as_user(&porthole, "root").await;
    let url = format!("{}/api/v4/audit_events", porthole.url());
    let deadline = std::time::Instant::now() + DEADLINE;
    let ended = loop {
        let events: Vec<AuditEvent> = root.get(&url).send().await.unwrap().json().await.unwrap();
        if let Some(ended) = events.into_iter().find(|e| e.outcome == AuditOutcome::Ended) {
            break ended;
        }
        assert!(std::time::Instant::now() < deadline, "no ended session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ended.reason.as_deref(), Some("the user started a new session"));
}

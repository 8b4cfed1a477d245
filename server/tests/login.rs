//! Users, sign-in and sessions: real argon2 hashes, sessions in SQLite by
//! default and in PostgreSQL when configured (shared by two processes).

mod common;

use common::*;

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in; returns the status, the Location and the session cookie (`name=value`).
async fn sign_in(porthole: &TestPorthole, user: &str, password: &str) -> (u16, String, Option<String>) {
    let response = http()
        .post(format!("{}/users/sign_in", porthole.url()))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), location, cookie)
}

async fn whoami(porthole: &TestPorthole, cookie: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = http().get(format!("{}/api/v4/user", porthole.url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn name_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

#[tokio::test]
async fn demo_users_sign_in_with_a_session_cookie() {
    let porthole = start().await;
    let (status, location, cookie) = sign_in(&porthole, "maintainer", DEMO_PASSWORD).await;
    assert_eq!((status, location.as_str()), (303, "/"));
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.starts_with("_porthole_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    let (status, user) = whoami(&porthole, Some(name_value(&cookie))).await;
    assert_eq!(status, 200);
    assert_eq!(user, serde_json::json!({"username": "maintainer", "is_admin": false}));

    let (_, _, root) = sign_in(&porthole, "root", DEMO_PASSWORD).await;
    assert_eq!(whoami(&porthole, Some(name_value(&root.unwrap()))).await.1["is_admin"], true);

    // No cookie, or a forged one: not signed in.
    assert_eq!(whoami(&porthole, None).await.0, 401);
    assert_eq!(whoami(&porthole, Some("_porthole_session=forged-session-id")).await.0, 401);

    // Signing out ends the session.
    let response = http().post(format!("{}/users/sign_out", porthole.url())).header("cookie", name_value(&cookie)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(whoami(&porthole, Some(name_value(&cookie))).await.0, 401);
}

/// Signs in with `X-Forwarded-For: forwarded_for`; returns the status.
async fn sign_in_from(porthole: &TestPorthole, user: &str, password: &str, forwarded_for: &str) -> u16 {
    let response = http()
        .post(format!("{}/users/sign_in", porthole.url()))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn wrong_passwords_lock_that_account_only() {
    let porthole = start().await;
    for _ in 0..server::app::sign_in_limit::ACCOUNT_FAILURES {
        let (status, location, cookie) = sign_in(&porthole, "developer", "wrong").await;
        assert_eq!((status, location.as_str()), (303, "/users/sign_in?failed=1"));
        assert!(cookie.is_none());
    }
    // Locked now, even with the right password, and told for how long.
    let response = http()
        .post(format!("{}/users/sign_in", porthole.url()))
        .form(&[("username", "developer"), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    // Everyone else from the same address signs in: one person cannot lock
    // out an office behind one proxy.
    let (status, location, cookie) = sign_in(&porthole, "maintainer", DEMO_PASSWORD).await;
    assert_eq!((status, location.as_str()), (303, "/"));
    assert!(cookie.is_some());
    // Unknown users fail like wrong passwords.
    assert_eq!(sign_in(&porthole, "nobody", "x").await.1, "/users/sign_in?failed=1");
}

#[tokio::test]
async fn an_address_is_limited_by_x_forwarded_for_only_from_a_trusted_proxy() {
    use server::app::sign_in_limit::ADDRESS_FAILURES;
    // Behind a trusted proxy, each client has its own address limit.
    let proxied = start_configured(|c| c.trusted_proxies = vec![server::proxy::parse_net("127.0.0.1").unwrap()]).await;
    for i in 0..ADDRESS_FAILURES {
        assert_eq!(sign_in_from(&proxied, &format!("guess{i}"), "x", "198.51.100.1").await, 303);
    }
    assert_eq!(sign_in_from(&proxied, "maintainer", DEMO_PASSWORD, "198.51.100.1").await, 429);
    assert_eq!(sign_in_from(&proxied, "maintainer", DEMO_PASSWORD, "198.51.100.2").await, 303);
    // From an untrusted peer the header is anyone's words: the peer counts.
    let direct = start().await;
    for i in 0..ADDRESS_FAILURES {
        assert_eq!(sign_in_from(&direct, &format!("guess{i}"), "x", &format!("203.0.113.{i}")).await, 303);
    }
    assert_eq!(sign_in_from(&direct, "maintainer", DEMO_PASSWORD, "203.0.113.200").await, 429);
}

#[tokio::test]
async fn a_sign_in_from_another_site_is_refused() {
    let porthole = start().await;
    let response = http()
        .post(format!("{}/users/sign_in", porthole.url()))
        .header("origin", "https://evil.example")
        .form(&[("username", "maintainer"), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn sessions_in_postgresql_are_shared_by_two_app_processes() {
    // The machine's PostgreSQL (trust auth); CI starts it (.ci/run).
    let url = std::env::var("PORTHOLE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let a = start_configured(|c| c.database_url = Some(url.clone())).await;
    let b = start_configured(|c| c.database_url = Some(url.clone())).await;
    let (status, _, cookie) = sign_in(&a, "maintainer", DEMO_PASSWORD).await;
    assert_eq!(status, 303);
    let cookie = cookie.unwrap();
    let (status, user) = whoami(&b, Some(name_value(&cookie))).await;
    assert_eq!((status, user["username"].as_str()), (200, Some("maintainer")));
}

/// Connects to the demo environment's terminal with `cookie`; `Err` holds the HTTP status text.
async fn terminal_as(porthole: &TestPorthole, cookie: &str) -> Result<Client, String> {
    Client::try_connect_with(&porthole.ws_url(ENV_WS), "v1.porthole", &[("cookie", cookie)]).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn only_maintainers_and_admins_open_environment_terminals() {
    let porthole = start().await;
    // role → allowed, or the refusal the relay passes on before dialing anything
    for (user, want) in [("maintainer", None), ("root", None), ("developer", Some("403"))] {
        let cookie = common::sign_in(&porthole.url(), user).await;
        match (terminal_as(&porthole, &cookie).await, want) {
            (Ok(mut client), None) => client.expect_prompt().await,
            (Err(e), Some(status)) => assert!(e.contains(status), "{user}: {e}"),
            (other, want) => panic!("{user}: {:?} but wanted {want:?}", other.map(|_| "connected")),
        }
    }
    // No session, or a forged one: 401.
    for cookie in ["none=1", "_porthole_session=forged"] {
        let e = terminal_as(&porthole, cookie).await.err().expect("refused");
        assert!(e.contains("401"), "{cookie}: {e}");
    }
    // The page learns why from terminals.json.
    let developer = client_with_cookie(&common::sign_in(&porthole.url(), "developer").await);
    let response = developer.get(format!("{}/demo/shop/-/environments/1/terminals.json", porthole.url())).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["message"], "You need the Maintainer role on demo/shop to open this terminal");
}

#[tokio::test]
async fn a_project_the_user_is_not_a_member_of_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("porthole.toml");
    std::fs::write(
        &path,
        "[[projects]]\nid = 2\npath = \"acme/shop\"\n[[projects.environments]]\nid = 5\nname = \"production\"\ncluster = \"local\"\nnamespace = \"shop-production\"\n",
    )
    .unwrap();
    let porthole = start_configured(|c| c.config_file = Some(path.clone())).await;
    let response = porthole.http().get(format!("{}/acme/shop/-/environments/5/terminals.json", porthole.url())).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

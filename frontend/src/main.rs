//! Porthole's browser app: a Leptos client-side app around xterm.js.
//!
//! - [`route`] maps the URL path to a page (project paths may have nested
//!   groups, so paths are matched from GitLab's `-/` separator);
//! - the landing page lists projects and environments from the app's
//!   `/api/v4` JSON (the `shared` crate's [`shared::api`] types);
//! - [`admin`] is the admin area (`/admin`): settings, users, clusters,
//!   projects with their environments and members, the audit log;
//! - the environment terminal page holds one [`session::TerminalView`]: an
//!   xterm.js terminal ([`xterm`] bindings) connected to the relay over
//!   `v1.porthole` (wire types from the `shared` crate), a status line
//!   ([`status`]) and a Reconnect button; when the app refuses the page
//!   (signed out, not allowed, no such environment or job), only the status
//!   line, with the app's reason. The job terminal page is alike, without
//!   the pod picker. Both are in [`terminal_page`].
#![forbid(unsafe_code)]

mod addons;
mod admin;
mod keybar;
mod prefs;
mod replay;
mod route;
mod session;
mod status;
mod terminal_page;
mod terminal_tools;
mod xterm;

use leptos::prelude::*;
use route::Page;
use serde::de::DeserializeOwned;
use terminal_page::{JobTerminalPage, TerminalPage};
use shared::api::{EnvironmentJson, ErrorJson, ProjectJson, UserJson};
use shared::jobs::{JobJson, NewJob};
use wasm_bindgen::JsCast;

fn main() {
    leptos::mount::mount_to_body(App);
}

/// Who is signed in (`GET /api/v4/user`): an error when no one is.
type UserResource = LocalResource<Result<UserJson, FetchError>>;

#[component]
fn App() -> impl IntoView {
    let path = web_sys::window().and_then(|w| w.location().pathname().ok()).unwrap_or_default();
    let page = Page::from_path(&path);
    // Asked once for the page: the top bar and the landing page both use it.
    let user: UserResource = LocalResource::new(|| get_json("/api/v4/user"));
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Porthole"</a>
            <CurrentUser user=user/>
        </header>
        <main>
            {match page.clone() {
                Page::Landing => view! { <Landing user=user/> }.into_any(),
                Page::SignIn => view! { <SignIn/> }.into_any(),
                Page::Admin => view! { <admin::AdminPage/> }.into_any(),
                Page::Replay { id } => view! { <replay::ReplayPage id=id/> }.into_any(),
                Page::EnvironmentTerminal { project, id } => {
                    let ws_path = page.websocket_path().unwrap_or_default();
                    view! { <TerminalPage project=project id=id ws_path=ws_path/> }.into_any()
                }
                Page::Job { project, id } => view! { <JobPage project=project id=id/> }.into_any(),
                Page::JobTerminal { project, id } => {
                    let ws_path = page.websocket_path().unwrap_or_default();
                    view! { <JobTerminalPage project=project id=id ws_path=ws_path/> }.into_any()
                }
                Page::NotFound => view! { <p class="notice">"Page not found."</p> }.into_any(),
            }}
        </main>
    }
}

/// Who is signed in (with the way to the admin area, for admins), and the
/// way out; or the way in.
#[component]
fn CurrentUser(user: UserResource) -> impl IntoView {
    view! {
        <div class="user" data-testid="current-user">
            {move || match user.get() {
                None => view! { <span></span> }.into_any(),
                Some(Ok(user)) => view! {
                    {user.is_admin.then(|| view! { <a href="/admin" data-testid="admin-link">"Admin"</a> })}
                    <span>{format!("Signed in as {}", user.username)}</span>
                    <form method="post" action="/users/sign_out">
                        <button type="submit">"Sign out"</button>
                    </form>
                }
                .into_any(),
                Some(Err(_)) => view! { <a href="/users/sign_in">"Sign in"</a> }.into_any(),
            }}
        </div>
    }
}

/// The sign-in form; it posts to `/users/sign_in` as GitLab's does.
#[component]
fn SignIn() -> impl IntoView {
    let failed = web_sys::window().and_then(|w| w.location().search().ok()).is_some_and(|s| s.contains("failed=1"));
    view! {
        <section class="landing sign-in">
            <h1>"Sign in"</h1>
            {failed.then(|| view! { <p class="notice error" data-testid="sign-in-error">"Invalid username or password."</p> })}
            <form method="post" action="/users/sign_in">
                <label>"Username" <input name="username" autocomplete="username" required=true/></label>
                <label>"Password" <input name="password" type="password" autocomplete="current-password" required=true/></label>
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </section>
    }
}

/// Why a fetch failed: the app's refusal (4xx, a sentence for the person)
/// or a failure (anything else).
#[derive(Debug, Clone, PartialEq)]
struct FetchError {
    refusal: bool,
    message: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for FetchError {
    fn from(message: String) -> FetchError {
        FetchError { refusal: false, message }
    }
}

impl From<&str> for FetchError {
    fn from(message: &str) -> FetchError {
        FetchError { refusal: false, message: message.to_string() }
    }
}

/// GETs `url`; returns the JSON answer.
async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, FetchError> {
    send_json("GET", url, None).await
}

/// The JSON at `url`, as a resource: GET again on `refetch`.
fn fetched<T: DeserializeOwned + 'static>(url: String) -> LocalResource<Result<T, FetchError>> {
    LocalResource::new(move || {
        let url = url.clone();
        async move { get_json(&url).await }
    })
}

/// Sends a `method` request (`POST`, `PUT`, `DELETE`, …) to `url`, with
/// `body` as JSON if there is one; returns the JSON answer (`()` for a
/// `204 No Content`, as `DELETE` answers).
async fn send_json<T: DeserializeOwned>(method: &str, url: &str, body: Option<&serde_json::Value>) -> Result<T, FetchError> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&wasm_bindgen::JsValue::from_str(&body.to_string()));
        let headers = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
        headers.set("Content-Type", "application/json").map_err(|e| format!("{e:?}"))?;
        init.set_headers(&headers);
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| format!("{e:?}"))?;
    fetch_json(url, request).await
}

/// Sends `request` and reads the JSON answer, or the app's refusal.
async fn fetch_json<T: DeserializeOwned>(url: &str, request: web_sys::Request) -> Result<T, FetchError> {
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_request(&request)).await.map_err(|e| format!("{e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    let text = wasm_bindgen_futures::JsFuture::from(response.text().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        // The app explains refusals as `{"message": "…"}`.
        return Err(match serde_json::from_str::<ErrorJson>(&text) {
            Ok(e) => FetchError { refusal: response.status() < 500, message: e.message },
            Err(_) => format!("{url}: {} {}", response.status(), response.status_text()).into(),
        });
    }
    // 204 has no body: read it as JSON `null`, which is `()` (or `None`).
    let text = if response.status() == 204 { "null" } else { &text };
    serde_json::from_str(text).map_err(|e| format!("{url}: {e}").into())
}

/// Whether the person agrees to `question` (the browser's `confirm`); no
/// when there is no window to ask in.
pub(crate) fn confirmed(question: &str) -> bool {
    web_sys::window().is_some_and(|w| w.confirm_with_message(question).unwrap_or(false))
}

fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// The demo job: a short script; then its terminal stays open.
const DEMO_JOB_SCRIPT: &str = "echo 'Building demo/shop...'; sleep 1; echo 'Running tests... ok'; \
echo 'Done. The job terminal stays open for the session timeout.'";

/// Starts the demo job and opens its page.
#[component]
fn RunDemoJob(project: String) -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let run = move |_| {
        let url = format!("/api/v4/projects/{}/jobs", encode(&project));
        leptos::task::spawn_local(async move {
            let body = serde_json::json!(NewJob { name: "demo-job".into(), script: DEMO_JOB_SCRIPT.into(), prepare_seconds: 0 });
            match send_json::<JobJson>("POST", &url, Some(&body)).await {
                Ok(job) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&job.web_path);
                    }
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <p class="jobs">
            <button data-testid="run-demo-job" on:click=run>"Run demo job"</button>
            {move || error.get().map(|e| view! { <span class="notice error">{e}</span> })}
        </p>
    }
}

/// A job: its state, its log, and its terminal while it runs.
#[component]
fn JobPage(project: String, id: u64) -> impl IntoView {
    let url = format!("/api/v4/projects/{}/jobs/{id}", encode(&project));
    let (job, set_job) = signal(None::<Result<JobJson, FetchError>>);
    let poll = move || {
        let url = url.clone();
        leptos::task::spawn_local(async move { set_job.set(Some(get_json::<JobJson>(&url).await)) });
    };
    poll();
    let handle = set_interval_with_handle(poll, std::time::Duration::from_secs(1)).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    view! {
        <section class="landing">
            {move || match job.get() {
                None => view! { <p class="notice">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                Some(Ok(job)) => view! {
                    <h1>{format!("{} · job #{} · {}", project, job.id, job.name)}</h1>
                    <p>"Status: " <span data-testid="job-status">{job.status.as_str()}</span></p>
                    {job.has_terminal.then(|| view! {
                        <a class="button" data-testid="job-terminal-link" href=job.terminal_path.clone()>"Open terminal"</a>
                    })}
                    {(!job.trace.is_empty()).then(|| view! { <pre class="trace">{job.trace.clone()}</pre> })}
                    <p><a href=job.web_path.clone()>"Permalink"</a></p>
                }.into_any(),
            }}
        </section>
    }
}

async fn projects_with_environments() -> Result<Vec<(ProjectJson, Vec<EnvironmentJson>)>, FetchError> {
    let projects: Vec<ProjectJson> = get_json("/api/v4/projects").await?;
    let mut out = Vec::new();
    for project in projects {
        let envs = get_json(&format!("/api/v4/projects/{}/environments", project.id)).await?;
        out.push((project, envs));
    }
    Ok(out)
}

/// Projects and their environments, each with a link to its terminal; with
/// none, for an admin, the way to the admin area, where projects are made.
#[component]
fn Landing(user: UserResource) -> impl IntoView {
    let projects = LocalResource::new(projects_with_environments);
    // Admins see every project: none means there is none yet, and the admin
    // area is where to create one.
    let is_admin = move || user.get().and_then(Result::ok).is_some_and(|u| u.is_admin);
    view! {
        <section class="landing">
            <h1>"Environments"</h1>
            {move || match projects.get() {
                None => view! { <p class="notice">"Loading…"</p> }.into_any(),
                // Signed out: the app's words and the way in.
                Some(Err(e)) if e.refusal => view! {
                    <p class="notice" data-testid="landing-refused">{e.message} " " <a href="/users/sign_in">"Sign in"</a></p>
                }
                .into_any(),
                Some(Err(e)) => view! { <p class="notice error">{format!("Could not load projects: {e}")}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="notice" data-testid="no-projects">
                        "You are not a member of any project yet."
                        {move || is_admin().then(|| view! {
                            " " <a href="/admin" data-testid="no-projects-admin-link">"Create one in the Admin area."</a>
                        })}
                    </p>
                }
                .into_any(),
                Some(Ok(list)) => list
                    .into_iter()
                    .map(|(project, envs)| {
                        view! {
                            <div class="project">
                                <h2>{project.path_with_namespace.clone()}</h2>
                                <RunDemoJob project=project.path_with_namespace.clone()/>
                                <ul>
                                    {envs
                                        .into_iter()
                                        .map(|env| {
                                            view! {
                                                <li>
                                                    <span class="env-name">{env.name.clone()}</span>
                                                    <a class="button" href=env.terminal_path.clone()>"Open terminal"</a>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </div>
                        }
                    })
                    .collect_view()
                    .into_any(),
            }}
        </section>
    }
}

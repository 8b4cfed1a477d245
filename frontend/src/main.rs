//! Porthole's browser app: a Leptos client-side app around xterm.js.
//!
//! - [`route`] maps the URL path to a page (project paths may have nested
//!   groups, so paths are matched from GitLab's `-/` separator);
//! - the landing page lists projects and environments from the app's
//!   `/api/v4` JSON;
//! - the environment terminal page holds one [`session::TerminalView`]: an
//!   xterm.js terminal ([`xterm`] bindings) connected to the relay over
//!   `v1.porthole` (wire types from the `shared` crate), a status line
//!   ([`status`]) and a Reconnect button.
#![forbid(unsafe_code)]

mod route;
mod session;
mod status;
mod xterm;

use leptos::prelude::*;
use route::Page;
use serde::Deserialize;
use session::{Target, TerminalView};
use status::Status;
use wasm_bindgen::JsCast;

fn main() {
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let path = web_sys::window().and_then(|w| w.location().pathname().ok()).unwrap_or_default();
    let page = Page::from_path(&path);
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Porthole"</a>
        </header>
        <main>
            {match page.clone() {
                Page::Landing => view! { <Landing/> }.into_any(),
                Page::EnvironmentTerminal { project, id } => {
                    let ws_path = page.websocket_path().unwrap_or_default();
                    view! { <TerminalPage project=project id=id ws_path=ws_path/> }.into_any()
                }
                Page::NotFound => view! { <p class="notice">"Page not found."</p> }.into_any(),
            }}
        </main>
    }
}

#[derive(Debug, Clone, Deserialize)]
struct ProjectJson {
    id: u64,
    path_with_namespace: String,
}

#[derive(Debug, Clone, Deserialize)]
struct EnvironmentJson {
    name: String,
    terminal_path: String,
}

async fn get_json<T: for<'de> Deserialize<'de>>(url: &str) -> Result<T, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url)).await.map_err(|e| format!("{e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    let text = wasm_bindgen_futures::JsFuture::from(response.text().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        // The app explains refusals as `{"message": "…"}`.
        #[derive(Deserialize)]
        struct ErrorJson {
            message: String,
        }
        return Err(match serde_json::from_str::<ErrorJson>(&text) {
            Ok(e) => e.message,
            Err(_) => format!("{url}: {} {}", response.status(), response.status_text()),
        });
    }
    serde_json::from_str(&text).map_err(|e| format!("{url}: {e}"))
}

async fn projects_with_environments() -> Result<Vec<(ProjectJson, Vec<EnvironmentJson>)>, String> {
    let projects: Vec<ProjectJson> = get_json("/api/v4/projects").await?;
    let mut out = Vec::new();
    for project in projects {
        let envs = get_json(&format!("/api/v4/projects/{}/environments", project.id)).await?;
        out.push((project, envs));
    }
    Ok(out)
}

/// Projects and their environments, each with a link to its terminal.
#[component]
fn Landing() -> impl IntoView {
    let projects = LocalResource::new(projects_with_environments);
    view! {
        <section class="landing">
            <h1>"Environments"</h1>
            {move || match projects.get() {
                None => view! { <p class="notice">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="notice error">{format!("Could not load projects: {e}")}</p> }.into_any(),
                Some(Ok(list)) => list
                    .into_iter()
                    .map(|(project, envs)| {
                        view! {
                            <div class="project">
                                <h2>{project.path_with_namespace.clone()}</h2>
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

/// One terminal of the environment, from `terminals.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct TerminalJson {
    pod: String,
    container: String,
    created_at: Option<String>,
}

impl TerminalJson {
    fn target(&self) -> Target {
        Target { pod: self.pod.clone(), container: self.container.clone() }
    }

    fn label(&self) -> String {
        let age = self
            .created_at
            .as_deref()
            .map(|t| js_sys::Date::parse(t))
            .filter(|ms| ms.is_finite())
            .map(|ms| format!(" ({})", shared::k8s::human_age(((js_sys::Date::now() - ms) / 1000.0) as i64)))
            .unwrap_or_default();
        format!("{} / {}{age}", self.pod, self.container)
    }
}

/// The pod and container the page's URL names (`?pod=…&container=…`).
fn target_from_location() -> Option<Target> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    Some(Target { pod: params.get("pod")?, container: params.get("container")? })
}

/// Puts the chosen pod and container in the page's URL, so that a reload or
/// a shared link opens the same terminal.
fn show_target_in_location(target: &Target) {
    if let Some(window) = web_sys::window() {
        let path = window.location().pathname().unwrap_or_default();
        let url = format!("{path}?{}", target.to_query());
        let _ = window.history().and_then(|h| h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url)));
    }
}

/// The environment terminal page.
#[component]
fn TerminalPage(project: String, id: u64, ws_path: String) -> impl IntoView {
    let (status, set_status) = signal(Status::Connecting);
    let container = NodeRef::<leptos::html::Div>::new();
    let view_slot: StoredValue<Option<TerminalView>, LocalStorage> = StoredValue::new_local(None);
    let terminals_url = format!("/{project}/-/environments/{id}/terminals.json");
    let terminals = LocalResource::new(move || {
        let url = terminals_url.clone();
        async move { get_json::<Vec<TerminalJson>>(&url).await }
    });
    // What the user picked; `None` until then (the URL's, or the first).
    let (picked, set_picked) = signal(target_from_location());
    let connected_to: StoredValue<Option<Target>> = StoredValue::new(None);

    Effect::new(move |_| {
        let Some(element) = container.get() else { return };
        if view_slot.with_value(Option::is_none) {
            view_slot.set_value(Some(TerminalView::open(&element, ws_path.clone(), set_status)));
        }
        let list = match terminals.get() {
            None => return,
            Some(Err(e)) => return set_status.set(Status::Unavailable(format!("Could not list this environment's pods: {e}"))),
            Some(Ok(list)) if list.is_empty() => {
                return set_status.set(Status::Unavailable("No running pods for this environment".into()));
            }
            Some(Ok(list)) => list,
        };
        let target = match picked.get() {
            None => list[0].target(),
            Some(t) if list.iter().any(|x| x.target() == t) => t,
            Some(t) => {
                return set_status.set(Status::Unavailable(format!(
                    "Pod {}, container {} is not a terminal of this environment (anymore): pick another",
                    t.pod, t.container
                )));
            }
        };
        if connected_to.get_value().as_ref() != Some(&target) {
            connected_to.set_value(Some(target.clone()));
            view_slot.with_value(|slot| {
                if let Some(terminal) = slot {
                    terminal.connect_to(Some(target));
                }
            });
        }
    });
    on_cleanup(move || {
        view_slot.update_value(|slot| {
            if let Some(terminal) = slot.take() {
                terminal.dispose();
            }
        })
    });
    let reconnect = move |_| {
        if connected_to.get_value().is_some() {
            view_slot.with_value(|slot| {
                if let Some(terminal) = slot {
                    terminal.reconnect();
                }
            });
        } else {
            // Nothing connected yet (no pods, or a cluster error): ask again.
            terminals.refetch();
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Some((pod, container)) = value.split_once('/') {
            let target = Target { pod: pod.to_string(), container: container.to_string() };
            show_target_in_location(&target);
            set_picked.set(Some(target));
        }
    };
    let options = move || {
        let current = connected_to.get_value();
        terminals
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                let value = format!("{}/{}", t.pod, t.container);
                let selected = current.as_ref() == Some(&t.target());
                view! { <option value=value selected=selected>{t.label()}</option> }
            })
            .collect_view()
    };

    view! {
        <section class="terminal-page">
            <div class="terminal-header">
                <h1>{format!("{project} · environment {id} · terminal")}</h1>
                <div class="status-bar">
                    <select data-testid="terminal-picker" on:change=on_pick>{options}</select>
                    <span data-testid="status" class=move || status.get().class()>{move || status.get().text()}</span>
                    <button
                        data-testid="reconnect"
                        class=move || if status.get().is_over() { "primary" } else { "" }
                        on:click=reconnect
                    >
                        "Reconnect"
                    </button>
                </div>
            </div>
            <div class="terminal" data-testid="terminal" node_ref=container></div>
        </section>
    }
}

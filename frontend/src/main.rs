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
use session::TerminalView;
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
    if !response.ok() {
        return Err(format!("{url}: {} {}", response.status(), response.status_text()));
    }
    let text = wasm_bindgen_futures::JsFuture::from(response.text().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|e| format!("{url}: {e}"))
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

/// The environment terminal page.
#[component]
fn TerminalPage(project: String, id: u64, ws_path: String) -> impl IntoView {
    let (status, set_status) = signal(Status::Connecting);
    let container = NodeRef::<leptos::html::Div>::new();
    let view_slot: StoredValue<Option<TerminalView>, LocalStorage> = StoredValue::new_local(None);

    Effect::new(move |_| {
        let Some(element) = container.get() else { return };
        if view_slot.with_value(Option::is_some) {
            return;
        }
        let terminal = TerminalView::open(&element, ws_path.clone(), set_status);
        terminal.connect();
        view_slot.set_value(Some(terminal));
    });
    on_cleanup(move || {
        view_slot.update_value(|slot| {
            if let Some(terminal) = slot.take() {
                terminal.dispose();
            }
        })
    });
    let reconnect = move |_| {
        view_slot.with_value(|slot| {
            if let Some(terminal) = slot {
                terminal.connect();
            }
        })
    };

    view! {
        <section class="terminal-page">
            <div class="terminal-header">
                <h1>{format!("{project} · environment {id} · terminal")}</h1>
                <div class="status-bar">
                    <span data-testid="status" class=move || status.get().class()>{move || status.get().text()}</span>
                    <button data-testid="reconnect" class=move || if status.get().is_over() { "primary" } else { "" } on:click=reconnect>"Reconnect"</button>
                </div>
            </div>
            <div class="terminal" data-testid="terminal" node_ref=container></div>
        </section>
    }
}

//! The terminal pages: an environment's (with the pod picker) and a job's.
//! Each asks the app first (the environment's terminals, the job) and
//! shows only the app's words, whom to ask and the way back when refused;
//! otherwise its title, the status bar (status, time connected, a button
//! for a new session) and one [`TerminalView`].

use crate::addons::Controls;
use crate::keybar::KeyBar;
use crate::session::{Target, TerminalView};
use crate::status::Status;
use crate::terminal_tools::{SearchBar, TerminalSlot, TerminalTools};
use crate::{FetchError, confirmed, encode, fetched};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use shared::api::{EnvironmentJson, MemberJson, Role, TerminalJson};
use shared::jobs::JobJson;
use shared::paths::{Suffix, TerminalKind, TerminalTarget};

/// A job's terminal page: no picker, one terminal, once the job API has
/// shown the job (the app's refusal alone if it did not).
#[component]
pub(crate) fn JobTerminalPage(project: String, id: u64, ws_path: String) -> impl IntoView {
    let job = fetched::<JobJson>(format!("/api/v4/projects/{}/jobs/{id}", encode(&project)));
    view! {
        <TerminalFrame project=project.clone() title=format!("{project} · job #{id} · terminal") gate=gate(job)>
            <JobTerminal job=job ws_path=ws_path.clone() project=project.clone()/>
        </TerminalFrame>
    }
}

/// A job's terminal and its status bar.
#[component]
fn JobTerminal(job: LocalResource<Result<JobJson, FetchError>>, ws_path: String, project: String) -> impl IntoView {
    let (status, set_status) = signal(Status::Connecting);
    let container = NodeRef::<leptos::html::Div>::new();
    let view_slot = terminal_slot();
    let controls = Controls::new();
    Effect::new(move |_| {
        let Some(element) = container.get() else { return };
        if view_slot.with_value(Option::is_none) {
            let terminal = TerminalView::open(&element, ws_path.clone(), None, set_status, controls, project.clone());
            terminal.connect_to(None);
            view_slot.set_value(Some(terminal));
        }
    });
    let reconnect = move |()| {
        // Access may have gone since the page opened (the WebSocket's refusal
        // is only "Connection failed"): ask the job API again, whose refusal
        // replaces the terminal with its reason.
        job.refetch();
        view_slot.with_value(|slot| {
            if let Some(terminal) = slot {
                terminal.reconnect();
            }
        })
    };
    view! {
        <StatusBar status=status on_reconnect=Callback::new(reconnect)>
            <TerminalTools terminal=view_slot controls=controls/>
        </StatusBar>
        <TerminalArea terminal=view_slot controls=controls container=container/>
    }
}

/// The terminal with its search bar and, on phones, the key bar.
#[component]
fn TerminalArea(terminal: TerminalSlot, controls: Controls, container: NodeRef<leptos::html::Div>) -> impl IntoView {
    let slot = terminal;
    let send = Callback::new(move |bytes: &'static str| {
        slot.with_value(|view| view.as_ref().map(|v| v.type_key(bytes)));
    });
    view! {
        <SearchBar terminal=slot controls=controls/>
        <KeyBar controls=controls send=send/>
        <div class="terminal" data-testid="terminal" node_ref=container></div>
    }
}

/// How the pod picker shows a terminal: `web-1 / app (3d)`.
fn terminal_label(terminal: &TerminalJson) -> String {
    let age = terminal
        .created_at
        .as_deref()
        .map(|t| js_sys::Date::parse(t))
        .filter(|ms| ms.is_finite())
        .map(|ms| format!(" ({})", shared::k8s::human_age(((js_sys::Date::now() - ms) / 1000.0) as i64)))
        .unwrap_or_default();
    format!("{} / {}{age}", terminal.pod, terminal.container)
}

/// The pod and container the page's URL names (`?pod=…&container=…`).
/// The session this page watches read-only (`?view=<id>`), if any.
fn view_from_location() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(shared::porthole::VIEW_PARAM).filter(|id| !id.is_empty())
}

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

/// The status line, with a countdown while a max session time applies, and
/// a button for a new session when there is one to replace: "Reconnect"
/// (highlighted) once the session is over, "New session" while it runs —
/// which asks first, since it ends the running shell. `children` go first
/// (the pod picker).
#[component]
fn StatusBar(
    #[prop(into)] status: Signal<Status>,
    #[prop(optional)] on_reconnect: Option<Callback<()>>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let now = ticking_clock();
    // When the running session connected (ms), for the time-connected clock.
    let since = RwSignal::new(None::<f64>);
    Effect::new(move |_| match status.get() {
        Status::Connected { .. } => {
            if since.get_untracked().is_none() {
                since.set(Some(js_sys::Date::now()));
            }
        }
        // A blip being resumed is the same session: its clock goes on.
        Status::Reconnecting { .. } => {}
        _ => since.set(None),
    });
    let connected_for = move || {
        let (since, now) = (since.get()?, now.get()?);
        let secs = ((now - since) / 1000.0).max(0.0) as u64;
        Some(format!("{}:{:02}", secs / 60, secs % 60))
    };
    view! {
        <div class="status-bar">
            {children.map(|c| c())}
            <span data-testid="status" class=move || status.get().class() title=move || status.get().text()>
                {move || status.get().text_at(now.get())}
            </span>
            {move || connected_for().map(|t| view! { <span class="clock" data-testid="connected-for" title="time connected">{t}</span> })}
            {on_reconnect.map(|on_reconnect| view! {
                <button
                    data-testid="reconnect"
                    class=move || if status.get().is_over() { "primary" } else { "" }
                    on:click=move |_| {
                        if status.get_untracked().is_over() || confirmed("End this session and start a new one?") {
                            on_reconnect.run(())
                        }
                    }
                >
                    {move || if status.get().is_over() { "Reconnect" } else { "New session" }}
                </button>
            })}
        </div>
    }
}

/// What a terminal page shows instead of its terminal, from the answer to
/// what it asks the app first (the environment's terminals, the job):
/// "Connecting…" until it is in, the app's reason if it refused; `None`
/// once the terminal may open. Other failures are the terminal's to show
/// (with Reconnect).
fn gate<T: Clone + 'static>(first: LocalResource<Result<T, FetchError>>) -> Memo<Option<Status>> {
    Memo::new(move |_| match first.get() {
        None => Some(Status::Connecting),
        Some(Err(e)) if e.refusal => Some(Status::Unavailable(e.message)),
        Some(_) => None,
    })
}

/// A terminal page: the title, then the status line alone while `gate` says
/// something, else `children` (the status bar and the terminal). A refused
/// page has no terminal, nothing to pick and nothing to reconnect; and a
/// terminal that is refused later (on Reconnect) is disposed with its
/// children.
#[component]
fn TerminalFrame(
    project: String,
    #[prop(into)] title: Signal<String>,
    gate: Memo<Option<Status>>,
    children: ChildrenFn,
) -> impl IntoView {
    view! {
        <section class="terminal-page">
            <h1 data-testid="terminal-title">{title}</h1>
            {move || match gate.get() {
                Some(status) => {
                    let refused = status.is_over();
                    let project = project.clone();
                    view! {
                        <StatusBar status=Signal::stored(status)/>
                        {refused.then(|| view! { <WhoToAsk project=project/> })}
                    }
                    .into_any()
                }
                None => children(),
            }}
        </section>
    }
}

/// Under a refusal: the way back, and whom to ask for access — the
/// project's Maintainers and Owners, when the person may see its members.
#[component]
fn WhoToAsk(project: String) -> impl IntoView {
    let members = fetched::<Vec<MemberJson>>(format!("/api/v4/projects/{}/members", encode(&project)));
    let project_name = project.clone();
    let maintainers = move || {
        let names: Vec<String> = match members.get() {
            Some(Ok(list)) => {
                list.into_iter().filter(|m| m.access_level >= Role::Maintainer.access_level()).map(|m| m.username).collect()
            }
            _ => Vec::new(),
        };
        if names.is_empty() { "an administrator".to_string() } else { format!("a Maintainer of {project_name}: {}", names.join(", ")) }
    };
    view! {
        <p class="notice" data-testid="who-to-ask">
            "To get access, ask " {maintainers} " · "
            <a href="/" data-testid="back-to-project">{format!("Back to {project}")}</a>
        </p>
    }
}

/// Where a page keeps its terminal; the terminal is disposed with the page
/// (its socket closed, its listeners removed).
fn terminal_slot() -> TerminalSlot {
    let slot: TerminalSlot = StoredValue::new_local(None);
    on_cleanup(move || {
        slot.update_value(|slot| {
            if let Some(terminal) = slot.take() {
                terminal.dispose();
            }
        })
    });
    slot
}

/// Milliseconds since the epoch, ticking every second while the page lives
/// (for the session countdown).
fn ticking_clock() -> ReadSignal<Option<f64>> {
    let (now, set_now) = signal(Some(js_sys::Date::now()));
    let handle = set_interval_with_handle(move || set_now.set(Some(js_sys::Date::now())), std::time::Duration::from_secs(1)).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    now
}

/// The environment terminal page: the pod picker and the terminal, once
/// the app has listed the environment's terminals (the app's refusal alone
/// if it did not).
#[component]
pub(crate) fn TerminalPage(project: String, id: u64, ws_path: String) -> impl IntoView {
    let path = TerminalTarget::new(project.clone(), TerminalKind::Environment, id).path(Suffix::TerminalsJson);
    let terminals = fetched::<Vec<TerminalJson>>(path);
    // The environment's name, once the app has said it.
    let environments = fetched::<Vec<EnvironmentJson>>(format!("/api/v4/projects/{}/environments", encode(&project)));
    let title = {
        let project = project.clone();
        Signal::derive(move || {
            let name = match environments.get() {
                Some(Ok(list)) => list.into_iter().find(|e| e.id == id).map(|e| e.name),
                _ => None,
            };
            format!("{project} · {} · terminal", name.unwrap_or_else(|| format!("environment {id}")))
        })
    };
    view! {
        <TerminalFrame project=project.clone() title=title gate=gate(terminals)>
            <EnvironmentTerminal terminals=terminals ws_path=ws_path.clone() project=project.clone()/>
        </TerminalFrame>
    }
}

/// An environment's terminal, its status bar and the pod picker.
#[component]
fn EnvironmentTerminal(terminals: LocalResource<Result<Vec<TerminalJson>, FetchError>>, ws_path: String, project: String) -> impl IntoView {
    let (status, set_status) = signal(Status::Connecting);
    let container = NodeRef::<leptos::html::Div>::new();
    let view_slot = terminal_slot();
    let controls = Controls::new();
    // What the user picked; `None` until then (the URL's, or the first).
    let (picked, set_picked) = signal(target_from_location());
    let connected_to: StoredValue<Option<Target>> = StoredValue::new(None);

    Effect::new(move |_| {
        let Some(element) = container.get() else { return };
        if view_slot.with_value(Option::is_none) {
            let view = view_from_location();
            view_slot.set_value(Some(TerminalView::open(&element, ws_path.clone(), view, set_status, controls, project.clone())));
        }
        let list = match terminals.get() {
            None => return,
            Some(Err(e)) => {
                let text = if e.refusal { e.message } else { format!("Could not list this environment's pods: {e}") };
                return set_status.set(Status::Unavailable(text));
            }
            Some(Ok(list)) if list.is_empty() => {
                return set_status.set(Status::Unavailable("No running pods for this environment".into()));
            }
            Some(Ok(list)) => list,
        };
        let target = match picked.get() {
            None => Target::from(&list[0]),
            Some(t) if list.iter().any(|x| Target::from(x) == t) => t,
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
    // Pods come and go: list them again, then connect to the same terminal
    // if it is still there (or say it is gone).
    let reconnect = move |()| {
        connected_to.set_value(None);
        terminals.refetch();
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
                let selected = current.as_ref() == Some(&Target::from(&t));
                view! { <option value=value selected=selected>{terminal_label(&t)}</option> }
            })
            .collect_view()
    };

    // "Share (read-only)": a link for others who may open this terminal.
    let (share_link, set_share_link) = signal(None::<String>);
    let share = move |_| {
        let link = view_slot.with_value(|slot| slot.as_ref().and_then(TerminalView::share_link));
        if let Some(link) = &link {
            crate::addons::write_clipboard(link);
        }
        set_share_link.set(link);
    };
    let viewing = view_from_location().is_some();
    let can_share = move || !viewing && matches!(status.get(), Status::Connected { .. });
    view! {
        <StatusBar status=status on_reconnect=Callback::new(reconnect)>
            <select data-testid="terminal-picker" on:change=on_pick disabled=viewing>{options}</select>
            {move || can_share().then(|| view! {
                <button data-testid="share" title="A link that lets others who may open this terminal watch it" on:click=share>
                    "Share (read-only)"
                </button>
            })}
            <TerminalTools terminal=view_slot controls=controls/>
        </StatusBar>
        {move || share_link.get().map(|link| view! {
            <p class="notice share">
                "Read-only link (copied): "
                <input data-testid="share-link" readonly=true value=link on:focus=|ev| select_target(&ev)/>
            </p>
        })}
        <TerminalArea terminal=view_slot controls=controls container=container/>
    }
}

/// Selects an input's text when it gets focus, for copying by hand.
fn select_target(ev: &leptos::ev::FocusEvent) {
    if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
        input.select();
    }
}

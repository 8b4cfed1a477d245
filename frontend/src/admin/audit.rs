//! The audit log of terminal sessions: who opened what, when, how it
//! ended; newest first, a page at a time.

use super::{Listed, loaded};
use crate::get_json;
use leptos::prelude::*;
use shared::api::{AuditEvent, AuditOutcome};

/// Milliseconds since the epoch as a local date and time,
/// `2025-01-31 14:05:09`.
fn local_date_time(ms: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

/// The audit log: terminal sessions, newest first.
#[component]
pub(super) fn AuditSection() -> impl IntoView {
    // 1-based, as the API's `page`; the resource follows it.
    let page = RwSignal::new(1u64);
    let events: Listed<AuditEvent> = LocalResource::new(move || {
        let url = format!("/api/v4/audit_events?page={}&per_page={AUDIT_PER_PAGE}", page.get());
        async move { get_json(&url).await }
    });
    // Whether an entry follows this page: the one right after it, alone on
    // a page of one.
    let after: Listed<AuditEvent> = LocalResource::new(move || {
        let url = format!("/api/v4/audit_events?page={}&per_page=1", page.get() * u64::from(AUDIT_PER_PAGE) + 1);
        async move { get_json(&url).await }
    });
    let has_older = move || after.get().and_then(Result::ok).is_some_and(|list| !list.is_empty());
    view! {
        <section data-testid="admin-audit">
            <h2>"Audit log"</h2>
            <p class="bar">
                // Sessions go on in other tabs while this page is open.
                <button
                    data-testid="audit-refresh"
                    on:click=move |_| {
                        events.refetch();
                        after.refetch();
                    }
                >
                    "Refresh"
                </button>
                <button data-testid="audit-newer" disabled=move || page.get() == 1 on:click=move |_| page.update(|p| *p -= 1)>
                    "Newer"
                </button>
                <span data-testid="audit-page">{move || format!("Page {}", page.get())}</span>
                <button data-testid="audit-older" disabled=move || !has_older() on:click=move |_| page.update(|p| *p += 1)>"Older"</button>
            </p>
            {loaded(events, |list| view! {
                <table>
                    <thead>
                        <tr>
                            <th>"Time"</th>
                            <th>"User"</th>
                            <th>"Project"</th>
                            <th>"Target"</th>
                            <th>"Pod / container"</th>
                            <th>"Outcome"</th>
                            <th>"Bytes in / out"</th>
                            <th>"Reason"</th>
                            <th>"Exit code"</th>
                            <th>"Recording"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {list.is_empty().then(|| view! { <tr><td colspan="10">"No terminal sessions yet."</td></tr> })}
                        {list.into_iter().map(audit_row).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}

/// Audit log entries a page shows (the API's maximum is 100).
const AUDIT_PER_PAGE: u32 = 50;

/// One session of the audit log, as a table row.
fn audit_row(event: AuditEvent) -> impl IntoView {
    let (outcome, class) = match event.outcome {
        AuditOutcome::Opened => ("Opened", "outcome opened"),
        AuditOutcome::Refused => ("Refused", "outcome refused"),
        AuditOutcome::Ended => ("Ended", "outcome ended"),
    };
    let pod_container = match (event.pod, event.container) {
        (Some(pod), Some(container)) => format!("{pod} / {container}"),
        (Some(pod), None) => pod,
        _ => "—".into(),
    };
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let recording = event.recording.then(|| {
        (format!("/admin/audit/{}/replay", event.id), format!("/api/v4/audit_events/{}/recording?download=true", event.id))
    });
    view! {
        <tr data-testid="audit-row">
            <td class="time">{local_date_time(event.started_at)}</td>
            <td>{dash(event.username)}</td>
            <td>{event.project}</td>
            <td>{event.target}</td>
            <td>{pod_container}</td>
            <td class=class>{outcome}</td>
            <td>{format!("{} / {}", event.bytes_in, event.bytes_out)}</td>
            // The close code, for whoever looks it up (see `shared::close`).
            <td title=event.close_code.map(|c| format!("close code {c}"))>{dash(event.reason)}</td>
            <td>{dash(event.exit_code.map(|c| c.to_string()))}</td>
            <td class="actions">
                {recording.map(|(replay, download)| view! {
                    <a data-testid="replay-link" href=replay>"Replay"</a>
                    " · "
                    <a href=download download="">"Download"</a>
                })}
            </td>
        </tr>
    }
}

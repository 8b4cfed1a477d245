//! The admin area (`/admin`, GitLab's "Admin area"): the web terminal's
//! settings, users, clusters (added, edited, removed), projects with their
//! environments and members, and the audit log of terminal sessions.
//!
//! Everything here is `/api/v4` JSON, the [`shared::api`] types. The server
//! decides who may see it: the page asks for the settings first and, when
//! that is refused (403 for a non-admin, 401 signed out), shows nothing but
//! the server's message.
//!
//! One file per section: [`settings`] (the web terminal's settings and the
//! users), [`clusters`], [`projects`] (with environments and members),
//! [`audit`]. This file holds the page and the form helpers every section
//! uses: a group of forms whose errors a success clears ([`Forms`]), a
//! request that reports into a form ([`send`]), edit and Remove rows.

use crate::{FetchError, get_json, send_json};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use shared::api::{ApplicationSettings, ClusterJson};

mod audit;
mod clusters;
mod projects;
mod settings;

use audit::AuditSection;
use clusters::ClustersSection;
use projects::ProjectsSection;
use settings::{SettingsSection, UsersSection};

/// A list from the API, as [`LocalResource`] holds it.
type Listed<T> = LocalResource<Result<Vec<T>, FetchError>>;

/// The forms of one part of the admin area (a project's, the clusters'),
/// so that no error outlives a change made since: each form (and each row's
/// button) shows its own error beside it, and a success of any of them
/// hides them all.
#[derive(Clone, Copy)]
struct Forms {
    /// How many of the group's requests have succeeded.
    successes: RwSignal<u64>,
}

impl Forms {
    /// A group with no success yet (a lone form's, in a section of one).
    fn new() -> Forms {
        Forms { successes: RwSignal::new(0) }
    }

    /// A form of the group, with no error yet.
    fn form(self) -> Form {
        Form { group: self, error: RwSignal::new(None) }
    }
}

/// One form of a [`Forms`] group and its error: the app's message, with the
/// group's count of successes when it came (it shows until the next one).
#[derive(Clone, Copy)]
struct Form {
    /// The group whose successes hide the error.
    group: Forms,
    /// The message, and the group's successes when it came.
    error: RwSignal<Option<(u64, String)>>,
}

impl Form {
    /// Shows `message` until the form is sent again or another form of the
    /// group succeeds.
    fn fail(self, message: String) {
        // `try_`: a list redrawn meanwhile may have taken the group along.
        let successes = self.group.successes.try_get_untracked().unwrap_or_default();
        self.error.set(Some((successes, message)));
    }

    /// The error to show, if any.
    fn error(self) -> Option<String> {
        let successes = self.group.successes.get();
        self.error.get().filter(|(at, _)| *at == successes).map(|(_, message)| message)
    }
}

/// Sends a form's request: `done` gets the answer, or `form` the app's
/// message. The form's error goes as the request goes out, so an old one
/// does not linger, and a success hides its group's.
fn send<T: DeserializeOwned + 'static>(
    method: &'static str,
    url: String,
    body: Option<serde_json::Value>,
    form: Form,
    done: impl FnOnce(T) + 'static,
) {
    form.error.set(None);
    leptos::task::spawn_local(async move {
        match send_json::<T>(method, &url, body.as_ref()).await {
            Ok(answer) => {
                form.group.successes.update(|n| *n += 1);
                done(answer);
            }
            Err(e) => form.fail(e.to_string()),
        }
    });
}

/// What a resource shows: "Loading…" until it has loaded, then `show` of
/// its value, or its error.
fn loaded<T, V>(resource: LocalResource<Result<T, FetchError>>, show: impl Fn(T) -> V + Send + 'static) -> impl IntoView
where
    T: Clone + 'static,
    V: IntoView + 'static,
{
    move || match resource.get() {
        None => view! { <p class="notice">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
        Some(Ok(value)) => show(value).into_any(),
    }
}

/// A form's error, when there is one.
#[component]
fn FormError(form: Form) -> impl IntoView {
    move || form.error().map(|e| view! { <p class="notice error">{e}</p> })
}

/// A button of `forms` that is a form of its own: a click gives `click` the
/// button's form (to [`send`] with), and the app's refusal shows beside it.
fn action_button(testid: &'static str, label: &'static str, forms: Forms, click: impl Fn(Form) + 'static) -> impl IntoView {
    let form = forms.form();
    view! {
        <button data-testid=testid on:click=move |_| click(form)>{label}</button>
        <FormError form=form/>
    }
}

/// A button that opens and closes a row's edit form ([`edit_row`]);
/// `opened` runs at each click too.
fn edit_toggle(testid: &'static str, label: &'static str, open: RwSignal<bool>, opened: impl Fn() + 'static) -> impl IntoView {
    view! {
        <button
            data-testid=testid
            aria-expanded=move || open.get().to_string()
            on:click=move |_| {
                open.update(|open| *open = !*open);
                opened();
            }
        >
            {label}
        </button>
    }
}

/// The form that edits a table row, in a row of its own below it while
/// `open`: `inputs`, a Save button that submits to `save`, and the form's
/// error.
fn edit_row<V: IntoView + 'static>(
    open: RwSignal<bool>,
    testid: &'static str,
    save: impl Fn(SubmitEvent) + Clone + Send + Sync + 'static,
    form: Form,
    inputs: impl Fn() -> V + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        open.get().then(|| {
            view! {
                <tr class="edit">
                    <td colspan="3">
                        <form data-testid=testid on:submit=save.clone()>
                            {inputs()}
                            <button type="submit" class="primary">"Save"</button>
                        </form>
                        <FormError form=form/>
                    </td>
                </tr>
            }
        })
    }
}

/// A row's Remove button (`DELETE url`, then `removed`), with the app's
/// refusal beside it (a cluster an environment still uses, …).
fn remove_button(testid: &'static str, url: String, forms: Forms, removed: impl Fn() + Copy + 'static) -> impl IntoView {
    action_button(testid, "Remove", forms, move |form| send("DELETE", url.clone(), None, form, move |()| removed()))
}

/// The admin area. Loading the settings doubles as the admin check: whoever
/// is refused them sees only why.
#[component]
pub fn AdminPage() -> impl IntoView {
    let settings = LocalResource::new(|| get_json::<ApplicationSettings>("/api/v4/application/settings"));
    view! {
        <div class="admin">
            {move || match settings.get() {
                None => view! { <p class="notice">"Loading…"</p> }.into_any(),
                Some(Err(e)) if e.refusal => {
                    view! { <p class="notice error" data-testid="admin-refused">{e.message}</p> }.into_any()
                }
                Some(Err(e)) => view! { <p class="notice error">{format!("Could not load the admin area: {e}")}</p> }.into_any(),
                Some(Ok(settings)) => view! { <AdminSections settings=settings/> }.into_any(),
            }}
        </div>
    }
}

/// The admin area's sections, for an admin. The clusters are loaded here:
/// the clusters section adds to them and every environment form picks one.
#[component]
fn AdminSections(settings: ApplicationSettings) -> impl IntoView {
    let clusters: Listed<ClusterJson> = LocalResource::new(|| get_json("/api/v4/admin/clusters"));
    view! {
        <h1>"Admin area"</h1>
        <SettingsSection settings=settings/>
        <UsersSection/>
        <ClustersSection clusters=clusters/>
        <ProjectsSection clusters=clusters/>
        <AuditSection/>
    }
}

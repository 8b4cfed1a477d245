//! The admin area (`/admin`, GitLab's "Admin area"): the web terminal's
//! settings, users, clusters (added, edited, removed), projects with their
//! environments and members, and the audit log of terminal sessions.
//!
//! Everything here is `/api/v4` JSON, the [`shared::api`] types. The server
//! decides who may see it: the page asks for the settings first and, when
//! that is refused (403 for a non-admin, 401 signed out), shows nothing but
//! the server's message.

use crate::{FetchError, encode, fetched, get_json, send_json};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::json;
use shared::api::{
    ApplicationSettings, AuditEvent, AuditOutcome, ClusterJson, EnvironmentJson, MemberJson, NewCluster, NewEnvironment,
    NewProject, NewUser, PlatformKubernetes, PlatformKubernetesAttributes, PlatformKubernetesUpdate, ProjectJson,
    SettingsUpdate, UpdateCluster, UpdateUser, UserJson,
};

/// A list from the API, as [`LocalResource`] holds it.
type Listed<T> = LocalResource<Result<Vec<T>, FetchError>>;

/// GitLab's access levels and their role names, lowest first.
const ROLES: [(i64, &str); 5] = [(10, "Guest"), (20, "Reporter"), (30, "Developer"), (40, "Maintainer"), (50, "Owner")];

/// The role name of a GitLab access level (the level itself for one GitLab
/// has no name for).
fn role_name(access_level: i64) -> String {
    ROLES
        .iter()
        .find(|(level, _)| *level == access_level)
        .map_or_else(|| format!("Access level {access_level}"), |(_, name)| name.to_string())
}

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

/// Whether the person agrees to `question` (the browser's `confirm`); no
/// when there is no window to ask in.
fn confirmed(question: &str) -> bool {
    web_sys::window().is_some_and(|w| w.confirm_with_message(question).unwrap_or(false))
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

/// Settings › Web terminal: the maximum session time.
#[component]
fn SettingsSection(settings: ApplicationSettings) -> impl IntoView {
    let max_time = RwSignal::new(settings.terminal_max_session_time.to_string());
    let (saved, set_saved) = signal(false);
    let form = Forms::new().form();
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        set_saved.set(false);
        let Ok(seconds) = max_time.get_untracked().trim().parse::<u64>() else {
            return form.fail("The maximum session time is a whole number of seconds.".into());
        };
        let update = SettingsUpdate { terminal_max_session_time: Some(seconds) };
        send("PUT", "/api/v4/application/settings".into(), Some(json!(update)), form, move |now: ApplicationSettings| {
            // Show what the server kept, which is what sessions will get.
            max_time.set(now.terminal_max_session_time.to_string());
            set_saved.set(true);
        });
    };
    view! {
        <section data-testid="admin-settings">
            <h2>"Settings › Web terminal"</h2>
            <form on:submit=save>
                <label>
                    "Maximum session time (seconds, 0 = no limit)"
                    <input
                        type="number"
                        name="terminal_max_session_time"
                        min="0"
                        step="1"
                        required=true
                        bind:value=max_time
                        // "Saved." is about the value saved, not one being typed.
                        on:input=move |_| set_saved.set(false)
                    />
                </label>
                <button type="submit" class="primary">"Save changes"</button>
            </form>
            {move || saved.get().then(|| view! { <p class="notice" data-testid="settings-saved">"Saved."</p> })}
            <FormError form=form/>
        </section>
    }
}

/// Users: who they are, whether they are admins, each with the buttons
/// that change that, set a password or remove the user; and a form for a
/// new one. The form and the rows' buttons are one group.
#[component]
fn UsersSection() -> impl IntoView {
    let users: Listed<UserJson> = LocalResource::new(|| get_json("/api/v4/users"));
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let admin = RwSignal::new(false);
    let forms = Forms::new();
    let form = forms.form();
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let user = NewUser { username: username.get_untracked(), password: password.get_untracked(), admin: admin.get_untracked() };
        send("POST", "/api/v4/users".into(), Some(json!(user)), form, move |_: UserJson| {
            username.set(String::new());
            password.set(String::new());
            admin.set(false);
            users.refetch();
        });
    };
    view! {
        <section data-testid="admin-users">
            <h2>"Users"</h2>
            {loaded(users, move |list| view! {
                <table>
                    <thead><tr><th>"Username"</th><th>"Admin"</th><th></th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|user| view! { <UserRow user=user users=users forms=forms/> }).collect_view()}
                    </tbody>
                </table>
            })}
            <form on:submit=add>
                <label>"Username" <input name="username" autocomplete="off" required=true bind:value=username/></label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="new-password" required=true bind:value=password/>
                </label>
                <label class="check"><input name="admin" type="checkbox" bind:checked=admin/> "Admin"</label>
                <button type="submit">"Add user"</button>
            </form>
            <FormError form=form/>
        </section>
    }
}

/// The toggle-admin button of a user who `is_admin`: its label, and what it
/// sends (the other flag; the password stays).
fn admin_toggle(is_admin: bool) -> (&'static str, UpdateUser) {
    let label = if is_admin { "Remove admin" } else { "Make admin" };
    (label, UpdateUser { password: None, admin: Some(!is_admin) })
}

/// One user: a row with Make/Remove admin, Set password (which opens the
/// password form in a row below) and Remove. The app refuses an admin's
/// taking their own admin flag or removing themselves: that shows beside
/// the button.
#[component]
fn UserRow(user: UserJson, users: Listed<UserJson>, forms: Forms) -> impl IntoView {
    let url = format!("/api/v4/users/{}", encode(&user.username));
    let setting_password = RwSignal::new(false);
    let password = RwSignal::new(String::new());
    // "Password changed." is about the last password saved: it goes when
    // the form opens again.
    let (changed, set_changed) = signal(false);
    let form = forms.form();
    let save = {
        let url = url.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let update = UpdateUser { password: Some(password.get_untracked()), admin: None };
            // The list shows no passwords: nothing in it to load again.
            send("PUT", url.clone(), Some(json!(update)), form, move |_: UserJson| {
                password.set(String::new());
                setting_password.set(false);
                set_changed.set(true);
            });
        }
    };
    let (toggle_label, toggle_update) = admin_toggle(user.is_admin);
    let toggle_url = url.clone();
    let toggle_admin = move |form| send("PUT", toggle_url.clone(), Some(json!(toggle_update)), form, move |_: UserJson| users.refetch());
    view! {
        <tr data-testid="user-row" data-username=user.username.clone()>
            <td>{user.username.clone()}</td>
            <td>{if user.is_admin { "yes" } else { "no" }}</td>
            <td class="actions">
                <div class="bar">
                    {action_button("toggle-admin", toggle_label, forms, toggle_admin)}
                    {edit_toggle("set-password-toggle", "Set password", setting_password, move || set_changed.set(false))}
                    {remove_button("remove-user", url, forms, move || users.refetch())}
                    {move || changed.get().then(|| view! { <p class="notice" data-testid="password-changed">"Password changed."</p> })}
                </div>
            </td>
        </tr>
        {edit_row(setting_password, "set-password", save, form, move || view! {
            <label>
                "New password"
                <input name="new_password" type="password" autocomplete="new-password" required=true bind:value=password/>
            </label>
        })}
    }
}

/// Kubernetes clusters (the built-in `local` one is not listed), each with
/// Edit and Remove; and a form for a new one. The token is write-only: the
/// server never shows it.
#[component]
fn ClustersSection(clusters: Listed<ClusterJson>) -> impl IntoView {
    let forms = Forms::new();
    let name = RwSignal::new(String::new());
    let api_url = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let ca_cert = RwSignal::new(String::new());
    let form = forms.form();
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let cluster = NewCluster {
            name: name.get_untracked(),
            platform_kubernetes_attributes: PlatformKubernetesAttributes {
                api_url: api_url.get_untracked(),
                token: token.get_untracked(),
                ca_cert: ca_cert.get_untracked(),
            },
        };
        send("POST", "/api/v4/admin/clusters/add".into(), Some(json!(cluster)), form, move |_: ClusterJson| {
            for field in [name, api_url, token, ca_cert] {
                field.set(String::new());
            }
            clusters.refetch();
        });
    };
    view! {
        <section data-testid="admin-clusters">
            <h2>"Kubernetes clusters"</h2>
            {loaded(clusters, move |list| view! {
                <table>
                    <thead><tr><th>"Name"</th><th>"API URL"</th><th></th></tr></thead>
                    <tbody>
                        {list
                            .into_iter()
                            .map(|cluster| view! { <ClusterRow cluster=cluster clusters=clusters forms=forms/> })
                            .collect_view()}
                    </tbody>
                </table>
            })}
            <form on:submit=add>
                <label>"Name" <input name="name" autocomplete="off" required=true bind:value=name/></label>
                {connection_inputs(api_url, token, ca_cert, true)}
                <button type="submit">"Add cluster"</button>
            </form>
            <FormError form=form/>
        </section>
    }
}

/// A cluster's connection, as the new-cluster and the edit forms ask for
/// it; the token is `required` for a new cluster, else empty keeps it.
fn connection_inputs(api_url: RwSignal<String>, token: RwSignal<String>, ca_cert: RwSignal<String>, required: bool) -> impl IntoView {
    view! {
        <label>
            "API URL"
            <input name="api_url" placeholder="https://host:6443" autocomplete="off" required=true bind:value=api_url/>
        </label>
        <label>
            {if required { "Token" } else { "Token (empty = unchanged)" }}
            <input name="token" type="password" autocomplete="off" required=required bind:value=token/>
        </label>
        <label class="wide">
            "CA certificate (PEM; empty = the system's roots)"
            <textarea name="ca_cert" rows="4" bind:value=ca_cert></textarea>
        </label>
    }
}

/// What the edit form of a cluster connected as `was` sends: only what
/// changed, and the token only when one was typed (it is never shown, so
/// the form cannot hold the old one).
fn cluster_update(was: &PlatformKubernetes, api_url: String, token: String, ca_cert: String) -> UpdateCluster {
    UpdateCluster {
        platform_kubernetes_attributes: PlatformKubernetesUpdate {
            api_url: (api_url != was.api_url).then_some(api_url),
            token: (!token.is_empty()).then_some(token),
            ca_cert: (ca_cert != was.ca_cert).then_some(ca_cert),
        },
    }
}

/// One cluster: a row with Edit (which opens the edit form in a row below)
/// and Remove (which the app refuses while an environment uses the cluster).
#[component]
fn ClusterRow(cluster: ClusterJson, clusters: Listed<ClusterJson>, forms: Forms) -> impl IntoView {
    let url = format!("/api/v4/admin/clusters/{}", cluster.id);
    let editing = RwSignal::new(false);
    let was = cluster.platform_kubernetes;
    let api_url = RwSignal::new(was.api_url.clone());
    let token = RwSignal::new(String::new());
    let ca_cert = RwSignal::new(was.ca_cert.clone());
    let form = forms.form();
    let save = {
        let (url, was) = (url.clone(), was.clone());
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let update = cluster_update(&was, api_url.get_untracked(), token.get_untracked(), ca_cert.get_untracked());
            send("PUT", url.clone(), Some(json!(update)), form, move |_: ClusterJson| clusters.refetch());
        }
    };
    view! {
        <tr data-testid="cluster-row">
            <td>{cluster.name}</td>
            <td>{was.api_url}</td>
            <td class="actions">
                {edit_toggle("edit-cluster-toggle", "Edit", editing, || {})}
                {remove_button("remove-cluster", url, forms, move || clusters.refetch())}
            </td>
        </tr>
        {edit_row(editing, "edit-cluster", save, form, move || connection_inputs(api_url, token, ca_cert, false))}
    }
}

/// Projects, each with its environments and members; and a form for a new
/// project (first, as the list below it may be long). The form and the
/// projects' Remove buttons are one group: they change the list.
#[component]
fn ProjectsSection(clusters: Listed<ClusterJson>) -> impl IntoView {
    let projects: Listed<ProjectJson> = LocalResource::new(|| get_json("/api/v4/projects"));
    let path = RwSignal::new(String::new());
    let forms = Forms::new();
    let form = forms.form();
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let project = NewProject { path_with_namespace: path.get_untracked() };
        send("POST", "/api/v4/projects".into(), Some(json!(project)), form, move |_: ProjectJson| {
            path.set(String::new());
            projects.refetch();
        });
    };
    view! {
        <section data-testid="admin-projects">
            <h2>"Projects"</h2>
            <form on:submit=add>
                <label>
                    "Project"
                    <input name="path_with_namespace" placeholder="namespace/project" autocomplete="off" required=true bind:value=path/>
                </label>
                <button type="submit">"Add project"</button>
            </form>
            <FormError form=form/>
            {loaded(projects, move |list| {
                list
                    .into_iter()
                    .map(|project| view! { <ProjectAdmin project=project projects=projects clusters=clusters list_forms=forms/> })
                    .collect_view()
            })}
        </section>
    }
}

/// One project, with a Remove button (of `list_forms`, the list's group;
/// it asks first, as the project's environments and members go with it);
/// then its environments and its members, whose forms are a group of their
/// own (a change to either hides the errors of both).
#[component]
fn ProjectAdmin(project: ProjectJson, projects: Listed<ProjectJson>, clusters: Listed<ClusterJson>, list_forms: Forms) -> impl IntoView {
    let path = project.path_with_namespace;
    let url = format!("/api/v4/projects/{}", project.id);
    let question = format!("Remove project {path} with its environments and members?");
    let remove = move |form| {
        if confirmed(&question) {
            send("DELETE", url.clone(), None, form, move |()| projects.refetch());
        }
    };
    let forms = Forms::new();
    view! {
        <div class="project" data-testid="admin-project" data-project=path.clone()>
            <div class="bar">
                <h3>{path.clone()}</h3>
                {action_button("remove-project", "Remove project", list_forms, remove)}
            </div>
            <ProjectEnvironments project=project.id clusters=clusters forms=forms/>
            <ProjectMembers project=project.id forms=forms/>
        </div>
    }
}

/// A project's environments, each with a link to its terminal and a Remove
/// button; and a form for a new one, on a cluster picked from `local` and
/// the added ones.
#[component]
fn ProjectEnvironments(project: u64, clusters: Listed<ClusterJson>, forms: Forms) -> impl IntoView {
    let url = format!("/api/v4/projects/{project}/environments");
    let environments: Listed<EnvironmentJson> = fetched(url.clone());
    let name = RwSignal::new(String::new());
    let namespace = RwSignal::new(String::new());
    // The select is read when the form is sent, not bound to a signal: its
    // options are redrawn when a cluster is added, and what is sent must be
    // what the select shows.
    let cluster = NodeRef::<leptos::html::Select>::new();
    let form = forms.form();
    let add = {
        let url = url.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let environment = NewEnvironment {
                name: name.get_untracked(),
                cluster: cluster.get_untracked().map(|s| s.value()).unwrap_or_default(),
                namespace: namespace.get_untracked(),
            };
            send("POST", url.clone(), Some(json!(environment)), form, move |_: EnvironmentJson| {
                name.set(String::new());
                namespace.set(String::new());
                environments.refetch();
            });
        }
    };
    let cluster_options = move || {
        let added = clusters.get().and_then(Result::ok).unwrap_or_default();
        std::iter::once("local".to_string())
            .chain(added.into_iter().map(|c| c.name))
            .map(|name| view! { <option value=name.clone()>{name.clone()}</option> })
            .collect_view()
    };
    view! {
        <h4>"Environments"</h4>
        {loaded(environments, move |list| view! {
            <table>
                <thead><tr><th>"Name"</th><th>"Cluster"</th><th>"Namespace"</th><th>"Terminal"</th><th></th></tr></thead>
                <tbody>
                    {list.is_empty().then(|| view! { <tr><td colspan="5">"No environments yet."</td></tr> })}
                    {list
                        .into_iter()
                        .map(|env| view! {
                            <tr data-testid="environment-row">
                                <td>{env.name}</td>
                                <td>{env.cluster}</td>
                                <td>{env.namespace}</td>
                                <td><a href=env.terminal_path>"Open terminal"</a></td>
                                <td class="actions">
                                    {remove_button("remove-environment", format!("{url}/{}", env.id), forms, move || environments.refetch())}
                                </td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        })}
        <form on:submit=add>
            <label>"Name" <input name="name" placeholder="production" autocomplete="off" required=true bind:value=name/></label>
            <label>"Cluster" <select name="cluster" node_ref=cluster>{cluster_options}</select></label>
            <label>
                "Namespace"
                <input name="namespace" placeholder="default" autocomplete="off" required=true bind:value=namespace/>
            </label>
            <button type="submit">"Add environment"</button>
        </form>
        <FormError form=form/>
    }
}

/// A project's members and their roles, each with a Remove button; and a
/// form that adds a member or changes one's role.
#[component]
fn ProjectMembers(project: u64, forms: Forms) -> impl IntoView {
    let url = format!("/api/v4/projects/{project}/members");
    let members: Listed<MemberJson> = fetched(url.clone());
    let username = RwSignal::new(String::new());
    // Read when the form is sent, as the cluster select is.
    let role = NodeRef::<leptos::html::Select>::new();
    let form = forms.form();
    let add = {
        let url = url.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let Some(access_level) = role.get_untracked().and_then(|s| s.value().parse().ok()) else { return };
            let member = MemberJson { username: username.get_untracked(), access_level };
            send("POST", url.clone(), Some(json!(member)), form, move |_: MemberJson| {
                username.set(String::new());
                members.refetch();
            });
        }
    };
    view! {
        <h4>"Members"</h4>
        {loaded(members, move |list| view! {
            <table>
                <thead><tr><th>"Username"</th><th>"Role"</th><th></th></tr></thead>
                <tbody>
                    {list.is_empty().then(|| view! { <tr><td colspan="3">"No members yet."</td></tr> })}
                    {list
                        .into_iter()
                        .map(|member| {
                            let remove_url = format!("{url}/{}", encode(&member.username));
                            view! {
                                <tr data-testid="member-row">
                                    <td>{member.username}</td>
                                    <td>{role_name(member.access_level)}</td>
                                    <td class="actions">
                                        {remove_button("remove-member", remove_url, forms, move || members.refetch())}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        })}
        <form on:submit=add>
            <label>"Username" <input name="username" autocomplete="off" required=true bind:value=username/></label>
            <label>
                "Role"
                <select name="access_level" node_ref=role>
                    {ROLES.iter().map(|(level, name)| view! { <option value=level.to_string()>{*name}</option> }).collect_view()}
                </select>
            </label>
            <button type="submit">"Add member"</button>
        </form>
        <FormError form=form/>
    }
}

/// The audit log: terminal sessions, newest first.
#[component]
fn AuditSection() -> impl IntoView {
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
                        </tr>
                    </thead>
                    <tbody>
                        {list.is_empty().then(|| view! { <tr><td colspan="9">"No terminal sessions yet."</td></tr> })}
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
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert_eq!(role_name(10), "Guest");
        assert_eq!(role_name(30), "Developer");
        assert_eq!(role_name(40), "Maintainer");
        assert_eq!(role_name(50), "Owner");
        assert_eq!(role_name(35), "Access level 35");
        assert!(ROLES.windows(2).all(|w| w[0].0 < w[1].0), "lowest first");
    }

    #[test]
    fn admin_toggle_sends_the_other_flag_only() {
        assert_eq!(admin_toggle(false), ("Make admin", UpdateUser { password: None, admin: Some(true) }));
        assert_eq!(admin_toggle(true), ("Remove admin", UpdateUser { password: None, admin: Some(false) }));
    }

    #[test]
    fn cluster_update_sends_only_what_changed() {
        let was = PlatformKubernetes { api_url: "https://k:6443".into(), ca_cert: "PEM".into() };
        let unchanged = cluster_update(&was, was.api_url.clone(), String::new(), was.ca_cert.clone());
        assert_eq!(unchanged, UpdateCluster::default());
        let all = cluster_update(&was, "https://k2:6443".into(), "t0k".into(), String::new());
        assert_eq!(
            all.platform_kubernetes_attributes,
            PlatformKubernetesUpdate {
                api_url: Some("https://k2:6443".into()),
                token: Some("t0k".into()),
                // Emptied: the system's roots from now on.
                ca_cert: Some(String::new()),
            }
        );
    }
}

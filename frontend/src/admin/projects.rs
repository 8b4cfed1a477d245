//! Projects: add, remove, and for each its environments (name, cluster,
//! namespace) and members (username, role).

use super::{FormError, Forms, Listed, action_button, loaded, remove_button, send};
use crate::confirmed;
use crate::{encode, fetched, get_json};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use serde_json::json;
use shared::api::{ClusterJson, EnvironmentJson, MemberJson, NewEnvironment, NewProject, ProjectJson, Role};

/// Projects, each with its environments and members; and a form for a new
/// project (first, as the list below it may be long). The form and the
/// projects' Remove buttons are one group: they change the list.
#[component]
pub(super) fn ProjectsSection(clusters: Listed<ClusterJson>) -> impl IntoView {
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
pub(super) fn ProjectAdmin(project: ProjectJson, projects: Listed<ProjectJson>, clusters: Listed<ClusterJson>, list_forms: Forms) -> impl IntoView {
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
pub(super) fn ProjectEnvironments(project: u64, clusters: Listed<ClusterJson>, forms: Forms) -> impl IntoView {
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
pub(super) fn ProjectMembers(project: u64, forms: Forms) -> impl IntoView {
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
                                    <td>{Role::name_of_level(member.access_level)}</td>
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
                    {Role::ALL.iter().map(|role| view! { <option value=role.access_level().to_string()>{role.name()}</option> }).collect_view()}
                </select>
            </label>
            <button type="submit">"Add member"</button>
        </form>
        <FormError form=form/>
    }
}

//! Kubernetes clusters: add (API URL, token, CA), edit what changed, remove.

use super::{Forms, Listed, edit_row, edit_toggle, loaded, remove_button, send, FormError};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use serde_json::json;
use shared::api::{ClusterJson, NewCluster, PlatformKubernetes, PlatformKubernetesAttributes, PlatformKubernetesUpdate, UpdateCluster};

/// Kubernetes clusters (the built-in `local` one is not listed), each with
/// Edit and Remove; and a form for a new one. The token is write-only: the
/// server never shows it.
#[component]
pub(super) fn ClustersSection(clusters: Listed<ClusterJson>) -> impl IntoView {
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
                        // The built-in one, which environments may name too:
                        // shown so that an admin sees where they point.
                        <tr data-testid="cluster-row-local">
                            <td>"local"</td>
                            <td>"the built-in local cluster (its address changes at each start)"</td>
                            <td class="actions">"read-only"</td>
                        </tr>
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
pub(super) fn ClusterRow(cluster: ClusterJson, clusters: Listed<ClusterJson>, forms: Forms) -> impl IntoView {
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

#[cfg(test)]
mod tests {
    use super::*;

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

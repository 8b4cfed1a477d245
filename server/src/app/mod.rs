//! The app, in GitLab Rails' role: projects, environments, clusters, and the
//! authorize endpoint the relay asks before every terminal session.
//!
//! `GET /<project>/-/environments/<id>/terminal.ws/authorize` answers only
//! requests signed by the relay ([`crate::jwt`]), finds the environment's
//! pods through its cluster's Kubernetes API ([`discovery`]) and answers the
//! pod and container the query names (`?pod=&container=`), by default the
//! first container of the first Running pod, as GitLab's `Channel` settings.
//! `…/-/jobs/<id>/terminal.ws/authorize` answers a running job's runner
//! session ([`jobs`]). Only signed-in users with the role it takes are
//! authorized ([`access`]); every first authorize is recorded in the audit
//! log ([`authorize`]).
//!
//! Everything lives in the database ([`db`]): users and memberships
//! ([`users`]), projects, environments, clusters, application settings and
//! the audit log, managed through GitLab-named `/api/v4` endpoints
//! ([`admin`], [`projects`], [`jobs_api`]) that [`router`] lists. The config
//! file ([`config_file`], with [`in_cluster`] credentials) and the demo seed it.

pub mod access;
pub mod admin;
pub mod audit;
pub mod authorize;
pub mod config_file;
pub mod db;
pub mod defaults;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod in_cluster;
pub mod jobs;
pub mod jobs_api;
pub mod passwords;
pub mod projects;
pub mod recordings;
pub mod sign_in_limit;
pub mod state;
pub mod users;

pub use error::AppError;
pub use state::App;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post, put};
use std::sync::Arc;

/// The app's own routes: sign-in (`sign_in_page` serves its `GET`, the
/// frontend's page) and every `/api/v4` endpoint; unknown `/api/…` paths
/// are 404 JSON. The authorize endpoint and `terminals.json` are reached
/// through the dispatcher ([`crate::routes`]), which classifies terminal paths.
pub fn router<S: Clone + Send + Sync + 'static>(
    app: Arc<App>,
    accounts: Arc<users::Accounts>,
    sign_in_page: MethodRouter<Arc<users::Accounts>>,
) -> Router<S> {
    let account_routes = Router::new()
        .route("/users/sign_in", sign_in_page.post(users::sign_in))
        .route("/users/sign_out", post(users::sign_out))
        .route("/api/v4/user", get(users::current_user))
        .with_state(accounts);
    Router::new()
        .merge(account_routes)
        .route("/api/v4/projects", get(projects::list_projects).post(admin::create_project))
        .route("/api/v4/projects/{id}", delete(admin::delete_project))
        .route("/api/v4/projects/{id}/environments", get(projects::list_environments).post(admin::create_environment))
        .route("/api/v4/projects/{id}/environments/{environment_id}", delete(admin::delete_environment))
        .route("/api/v4/projects/{id}/members", get(admin::list_members).post(admin::add_member))
        .route("/api/v4/projects/{id}/members/{username}", delete(admin::remove_member))
        .route("/api/v4/application/settings", get(admin::get_settings).put(admin::put_settings))
        .route("/api/v4/users", get(admin::list_users).post(admin::create_user))
        .route("/api/v4/users/{username}", put(admin::update_user).delete(admin::delete_user))
        .route("/api/v4/admin/clusters", get(admin::list_clusters))
        .route("/api/v4/admin/clusters/add", post(admin::add_cluster))
        .route("/api/v4/admin/clusters/{cluster_id}", put(admin::update_cluster).delete(admin::delete_cluster))
        .route("/api/v4/audit_events", get(audit::audit_events))
        .route("/api/v4/audit_events/{id}/recording", get(recordings::recording))
        .route("/api/v4/internal/terminal_sessions/{id}", post(audit::session_ended))
        .route(
            "/api/v4/internal/relay_sessions/{id}",
            get(audit::get_relay_session).put(audit::put_relay_session).delete(audit::delete_relay_session),
        )
        .route("/api/v4/projects/{id}/jobs", get(jobs_api::list_jobs).post(jobs_api::create_job))
        .route("/api/v4/projects/{id}/jobs/{job_id}", get(jobs_api::get_job))
        .route("/api/v4/jobs/request", post(jobs_api::request_job))
        .route("/api/v4/jobs/{id}", put(jobs_api::update_job))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .with_state(app)
}

/// Unknown API paths are 404 JSON, not the frontend's page.
async fn api_not_found() -> axum::response::Response {
    error::refusal(axum::http::StatusCode::NOT_FOUND, "404 Not Found")
}

//! Managing Porthole through GitLab-named `/api/v4` endpoints (JSON shapes
//! in [`shared::api`]); the frontend's Admin area uses them.
//!
//! | endpoint | who |
//! |---|---|
//! | `GET`/`PUT /api/v4/application/settings` | admins |
//! | `GET`/`POST /api/v4/users`, `PUT`/`DELETE /api/v4/users/:username` | admins |
//! | `POST /api/v4/projects`, `DELETE /api/v4/projects/:id` | admins |
//! | `GET /api/v4/projects/:id/members` | members (Guest+), admins |
//! | `POST /api/v4/projects/:id/members`, `DELETE …/members/:username` | Maintainers+, admins |
//! | `POST /api/v4/projects/:id/environments` | admins |
//! | `GET /api/v4/admin/clusters`, `POST /api/v4/admin/clusters/add` | admins |
//! | `PUT`, `DELETE /api/v4/admin/clusters/:cluster_id` | admins |
//! | `DELETE /api/v4/projects/:id/environments/:environment_id` | admins |
//!
//! Input is checked before anything is written: 400 with what is wrong
//! (the extractors in [`super::extract`]). The audit log's endpoints are in
//! [`super::audit`].

use super::db::{self, Environment, UserChange};
use super::extract::{ApiJson, ApiPath, bad};
use super::users::Role;
use super::error::{AppError, db_error};
use super::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::{
    ApplicationSettings, ClusterJson, EnvironmentJson, MemberJson, NewCluster, NewEnvironment, NewMember, NewProject, NewUser,
    MAX_SESSION_TIME_LIMIT, PlatformKubernetes, PlatformKubernetesAttributes, ProjectJson, SettingsUpdate, UpdateCluster,
    UpdateUser, UserJson,
};
use std::sync::Arc;
use tower_sessions::Session;

type ApiResult<T> = Result<T, AppError>;

/// First path segments that are the app's own routes, not namespaces.
const RESERVED_NAMESPACES: [&str; 5] = ["-", "admin", "api", "assets", "users"];

/// 1–64 characters of `a-zA-Z0-9_.-`, not starting with `.` or `-`.
fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !s.starts_with(['.', '-'])
}

/// A Kubernetes namespace: an RFC 1123 label.
fn is_namespace(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The largest `recording_retention_days` accepted: 100 years.
pub const MAX_RETENTION_DAYS: u64 = 36_500;

/// `GET /api/v4/application/settings`.
pub async fn get_settings(State(app): State<Arc<App>>, session: Session) -> ApiResult<Json<ApplicationSettings>> {
    app.require_admin(Some(&session)).await?;
    let terminal_max_session_time = app.db.max_session_time().await.map_err(db_error)?;
    let terminal_idle_timeout = app.db.idle_timeout().await.map_err(db_error)?;
    let terminal_recording = app.db.terminal_recording().await.map_err(db_error)?;
    let recording_retention_days = app.db.recording_retention_days().await.map_err(db_error)?;
    Ok(Json(ApplicationSettings { terminal_max_session_time, terminal_idle_timeout, terminal_recording, recording_retention_days }))
}

/// `PUT /api/v4/application/settings`. Sessions past a lowered
/// `terminal_max_session_time` end at their next re-authorization; a new
/// `terminal_idle_timeout` applies to sessions opened from then on.
pub async fn put_settings(State(app): State<Arc<App>>, session: Session, ApiJson(update): ApiJson<SettingsUpdate>) -> ApiResult<Json<ApplicationSettings>> {
    let admin = app.require_admin(Some(&session)).await?;
    if let Some(seconds) = update.terminal_max_session_time {
        // A year; beyond that it is a typo, and it must fit the relay's timers.
        if seconds > MAX_SESSION_TIME_LIMIT {
            return Err(bad(format!("terminal_max_session_time must be at most {MAX_SESSION_TIME_LIMIT} seconds (0 = no limit)")));
        }
        app.db.set_max_session_time(seconds).await.map_err(db_error)?;
        tracing::info!(by = admin.username, seconds, "terminal_max_session_time changed");
    }
    if let Some(seconds) = update.terminal_idle_timeout {
        if seconds > MAX_SESSION_TIME_LIMIT {
            return Err(bad(format!("terminal_idle_timeout must be at most {MAX_SESSION_TIME_LIMIT} seconds (0 = never)")));
        }
        app.db.set_idle_timeout(seconds).await.map_err(db_error)?;
        tracing::info!(by = admin.username, seconds, "terminal_idle_timeout changed");
    }
    if let Some(days) = update.recording_retention_days {
        if days > MAX_RETENTION_DAYS {
            return Err(bad(format!("recording_retention_days must be at most {MAX_RETENTION_DAYS} (0 = keep forever)")));
        }
        app.db.set_recording_retention_days(days).await.map_err(db_error)?;
        tracing::info!(by = admin.username, days, "recording_retention_days changed");
    }
    if let Some(on) = update.terminal_recording {
        app.db.set_terminal_recording(on).await.map_err(db_error)?;
        tracing::info!(by = admin.username, on, "terminal_recording changed");
    }
    get_settings(State(app), session).await
}

/// `GET /api/v4/users`.
pub async fn list_users(State(app): State<Arc<App>>, session: Session) -> ApiResult<Json<Vec<UserJson>>> {
    app.require_admin(Some(&session)).await?;
    let users = app.db.users().await.map_err(db_error)?;
    Ok(Json(users.into_iter().map(|u| UserJson { username: u.username, is_admin: u.admin }).collect()))
}

/// `POST /api/v4/users`: 201, 409 when the name is taken.
pub async fn create_user(State(app): State<Arc<App>>, session: Session, ApiJson(new): ApiJson<NewUser>) -> ApiResult<Response> {
    let admin = app.require_admin(Some(&session)).await?;
    if !is_name(&new.username) {
        return Err(bad("username: 1–64 characters of a-z, A-Z, 0-9, _ . - (not starting with . or -)"));
    }
    if new.password.chars().count() < 8 {
        return Err(bad("password: at least 8 characters"));
    }
    if !app.db.put_user(&new.username, &new.password, new.admin, false).await.map_err(db_error)? {
        return Err(AppError::Conflict(format!("user {} already exists", new.username)));
    }
    tracing::info!(by = admin.username, user = new.username, admin = new.admin, "user created");
    Ok((StatusCode::CREATED, Json(UserJson { username: new.username, is_admin: new.admin })).into_response())
}

/// `PUT /api/v4/users/:username`: a new password or admin flag; 409 when
/// an admin would take their own admin flag (nobody could give it back).
pub async fn update_user(
    State(app): State<Arc<App>>,
    session: Session,
    Path(username): Path<String>,
    ApiJson(update): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserJson>> {
    let admin = app.require_admin(Some(&session)).await?;
    if update.password.as_ref().is_some_and(|p| p.chars().count() < 8) {
        return Err(bad("password: at least 8 characters"));
    }
    if update.admin == Some(false) && username == admin.username {
        return Err(AppError::Conflict("You cannot take your own admin rights; another admin can.".into()));
    }
    applied(app.db.update_user(&username, update.password.as_deref(), update.admin).await.map_err(db_error)?, &username)?;
    tracing::info!(by = admin.username, user = username, admin = ?update.admin, password = update.password.is_some(), "user updated");
    let user = app.db.user(&username).await.map_err(db_error)?.ok_or_else(|| AppError::NotFound(format!("404 User {username} Not Found")))?;
    Ok(Json(UserJson { username: user.username, is_admin: user.admin }))
}

/// A change to a user as the API answers it: 404 no such user, 409 the last admin.
fn applied(change: UserChange, username: &str) -> ApiResult<()> {
    match change {
        UserChange::Done => Ok(()),
        UserChange::NoSuchUser => Err(AppError::NotFound(format!("404 User {username} Not Found"))),
        UserChange::LastAdmin => Err(AppError::Conflict(format!("{username} is the last admin"))),
    }
}

/// `DELETE /api/v4/users/:username`: 204, with their memberships; their
/// open terminals end at the next re-authorization. 409 for oneself.
pub async fn delete_user(State(app): State<Arc<App>>, session: Session, Path(username): Path<String>) -> ApiResult<StatusCode> {
    let admin = app.require_admin(Some(&session)).await?;
    if username == admin.username {
        return Err(AppError::Conflict("You cannot delete yourself; another admin can.".into()));
    }
    applied(app.db.delete_user(&username).await.map_err(db_error)?, &username)?;
    tracing::info!(by = admin.username, user = username, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v4/projects/:id`: 204, with its environments, memberships
/// and jobs (their terminals go); its open terminals end at the next
/// re-authorization.
pub async fn delete_project(State(app): State<Arc<App>>, session: Session, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let admin = app.require_admin(Some(&session)).await?;
    let project = app.project(&id).await?;
    if !app.db.delete_project(&project).await.map_err(db_error)? {
        return Err(AppError::NotFound("404 Project Not Found".into()));
    }
    app.jobs.forget_project(project.id);
    tracing::info!(by = admin.username, project = project.path, "project deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v4/projects`: 201, 409 when the path is taken.
pub async fn create_project(State(app): State<Arc<App>>, session: Session, ApiJson(new): ApiJson<NewProject>) -> ApiResult<Response> {
    let admin = app.require_admin(Some(&session)).await?;
    let path = new.path_with_namespace.trim_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() < 2 || !segments.iter().all(|s| is_name(s)) {
        return Err(bad("path_with_namespace: namespace/project, each part 1–64 characters of a-z, A-Z, 0-9, _ . -"));
    }
    if RESERVED_NAMESPACES.iter().any(|r| r.eq_ignore_ascii_case(segments[0])) {
        return Err(bad(format!("path_with_namespace: {:?} is reserved", segments[0])));
    }
    // Pods find their project by its slug: two projects must not share one
    // (`Demo/Shop` and `demo_/shop` are both `demo-shop`).
    let slug = super::defaults::slugify(path);
    if let Some(twin) = app.db.projects().await.map_err(db_error)?.into_iter().find(|p| p.path_slug() == slug) {
        return Err(AppError::Conflict(format!("project {} already exists (same slug {slug})", twin.path)));
    }
    let project = app
        .db
        .create_project(path)
        .await
        .map_err(db_error)?
        .ok_or_else(|| AppError::Conflict(format!("project {path} already exists")))?;
    tracing::info!(by = admin.username, project = project.path, "project created");
    Ok((StatusCode::CREATED, Json(ProjectJson { id: project.id, path_with_namespace: project.path })).into_response())
}

/// `GET /api/v4/projects/:id/members`.
pub async fn list_members(State(app): State<Arc<App>>, session: Session, Path(id): Path<String>) -> ApiResult<Json<Vec<MemberJson>>> {
    let (project, _) = app.project_access(&session, &id, Role::Guest, "see it").await?;
    let members = app.db.members(&project.path).await.map_err(db_error)?;
    Ok(Json(members.into_iter().map(|(username, access_level)| MemberJson { username, access_level }).collect()))
}

/// `POST /api/v4/projects/:id/members`: adds a member or changes their
/// access level; 201.
pub async fn add_member(State(app): State<Arc<App>>, session: Session, Path(id): Path<String>, ApiJson(new): ApiJson<NewMember>) -> ApiResult<Response> {
    let (project, by) = app.project_access(&session, &id, Role::Maintainer, "manage its members").await?;
    let role = Role::from_access_level(new.access_level).ok_or_else(|| bad("access_level: one of 10, 20, 30, 40, 50"))?;
    if app.db.user(&new.username).await.map_err(db_error)?.is_none() {
        return Err(AppError::NotFound(format!("404 User {} Not Found", new.username)));
    }
    may_manage(&app, &by, &project.path, &new.username, Some(role)).await?;
    app.db.set_membership(&new.username, &project.path, role).await.map_err(db_error)?;
    tracing::info!(by = by.username, user = new.username, project = project.path, ?role, "membership set");
    Ok((StatusCode::CREATED, Json(new)).into_response())
}

/// GitLab's rule for members: below Owner, nobody grants more than their
/// own role or touches an Owner's membership (admins and Owners may do all).
async fn may_manage(app: &App, by: &super::users::User, project: &str, username: &str, grant: Option<Role>) -> ApiResult<()> {
    if by.admin {
        return Ok(());
    }
    let own = app.db.membership(&by.username, project).await.map_err(db_error)?.unwrap_or(Role::Guest);
    if own == Role::Owner {
        return Ok(());
    }
    if grant.is_some_and(|role| role > own) {
        return Err(AppError::Forbidden(format!("A {own:?} cannot grant a role above their own")));
    }
    if app.db.membership(username, project).await.map_err(db_error)? == Some(Role::Owner) {
        return Err(AppError::Forbidden("Only an Owner can change an Owner's membership".into()));
    }
    Ok(())
}

/// `DELETE /api/v4/projects/:id/members/:username`: 204. Open terminals of
/// the removed member end at their next re-authorization.
pub async fn remove_member(
    State(app): State<Arc<App>>,
    session: Session,
    Path((id, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, by) = app.project_access(&session, &id, Role::Maintainer, "manage its members").await?;
    may_manage(&app, &by, &project.path, &username, None).await?;
    if !app.db.remove_membership(&username, &project.path).await.map_err(db_error)? {
        return Err(AppError::NotFound("404 Member Not Found".into()));
    }
    tracing::info!(by = by.username, user = username, project = project.path, "membership removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v4/projects/:id/environments`: 201; the cluster must exist.
pub async fn create_environment(
    State(app): State<Arc<App>>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(new): ApiJson<NewEnvironment>,
) -> ApiResult<Response> {
    let admin = app.require_admin(Some(&session)).await?;
    let project = app.project(&id).await?;
    let slug = super::defaults::slugify(&new.name);
    if new.name.trim().is_empty() || new.name.len() > 255 || slug.is_empty() || new.name.chars().any(char::is_control) {
        return Err(bad("name: 1–255 characters without control characters, at least one a letter or digit"));
    }
    if !is_namespace(&new.namespace) {
        return Err(bad("namespace: a Kubernetes namespace (a-z, 0-9, -; at most 63)"));
    }
    if new.cluster == db::LOCAL_CLUSTER && !app.has_local_cluster() {
        return Err(bad("cluster \"local\": the local cluster is off (--no-local-cluster)"));
    }
    if new.cluster != db::LOCAL_CLUSTER && app.db.cluster(&new.cluster).await.map_err(db_error)?.is_none() {
        return Err(bad(format!("cluster {:?} does not exist", new.cluster)));
    }
    // Pods find their environment by its slug: one per slug in a project.
    let existing = app.db.environments(project.id).await.map_err(db_error)?;
    if let Some(twin) = existing.iter().find(|e| e.slug == slug) {
        return Err(AppError::Conflict(format!("environment {} already exists (same slug {slug})", twin.name)));
    }
    let mut env = Environment {
        id: 0,
        project_id: project.id,
        name: new.name,
        slug,
        cluster: new.cluster,
        namespace: new.namespace,
        command: super::defaults::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
    };
    env.id = app
        .db
        .create_environment(&env)
        .await
        .map_err(db_error)?
        .ok_or_else(|| AppError::Conflict(format!("environment {} already exists", env.name)))?;
    tracing::info!(by = admin.username, project = project.path, environment = env.name, "environment created");
    let json: EnvironmentJson = super::projects::environment_json(&project, env);
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

/// `GET /api/v4/admin/clusters`: the stored clusters, without tokens.
pub async fn list_clusters(State(app): State<Arc<App>>, session: Session) -> ApiResult<Json<Vec<ClusterJson>>> {
    app.require_admin(Some(&session)).await?;
    let clusters = app.db.clusters().await.map_err(db_error)?;
    Ok(Json(
        clusters
            .into_iter()
            .map(|c| ClusterJson {
                id: c.id,
                name: c.name,
                platform_kubernetes: PlatformKubernetes { api_url: c.cluster.api_url, ca_cert: c.cluster.ca_pem },
            })
            .collect(),
    ))
}

/// A cluster's connection, checked: the URL names only a host and port,
/// there is a token, and the CA parses (now, not at the first terminal).
fn checked_cluster(attrs: PlatformKubernetesAttributes) -> ApiResult<super::discovery::Cluster> {
    let url = url::Url::parse(&attrs.api_url).map_err(|e| bad(format!("api_url: {e}")))?;
    let plain = url.username().is_empty() && url.password().is_none() && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || !plain {
        return Err(bad("api_url: https://host[:port] of the Kubernetes API, without credentials, query or fragment"));
    }
    if attrs.token.trim().is_empty() || attrs.token.chars().any(char::is_control) {
        return Err(bad("token: a service account's bearer token is required"));
    }
    if !attrs.ca_cert.trim().is_empty() && !attrs.ca_cert.contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad("ca_cert: PEM certificates (-----BEGIN CERTIFICATE-----), or empty for the system's roots"));
    }
    let cluster = super::discovery::Cluster { api_url: attrs.api_url, token: attrs.token.trim().to_string(), ca_pem: attrs.ca_cert };
    super::discovery::client(&cluster).map_err(bad)?;
    Ok(cluster)
}

fn cluster_json(id: u64, name: String, cluster: super::discovery::Cluster) -> ClusterJson {
    ClusterJson { id, name, platform_kubernetes: PlatformKubernetes { api_url: cluster.api_url, ca_cert: cluster.ca_pem } }
}

/// `POST /api/v4/admin/clusters/add`: 201, 409 when the name is taken.
pub async fn add_cluster(State(app): State<Arc<App>>, session: Session, ApiJson(new): ApiJson<NewCluster>) -> ApiResult<Response> {
    let admin = app.require_admin(Some(&session)).await?;
    if !is_name(&new.name) || new.name.eq_ignore_ascii_case(db::LOCAL_CLUSTER) {
        return Err(bad("name: 1–64 characters of a-z, A-Z, 0-9, _ . - and not \"local\""));
    }
    let cluster = checked_cluster(new.platform_kubernetes_attributes)?;
    let id = app
        .db
        .create_cluster(&new.name, &cluster)
        .await
        .map_err(db_error)?
        .ok_or_else(|| AppError::Conflict(format!("cluster {} already exists", new.name)))?;
    tracing::info!(by = admin.username, cluster = new.name, "cluster added");
    Ok((StatusCode::CREATED, Json(cluster_json(id, new.name, cluster))).into_response())
}

/// 409 for a cluster whose token the config file reads from a file.
fn refuse_file_credentials(app: &App, name: &str) -> ApiResult<()> {
    match app.has_token_file(name) {
        true => Err(AppError::Conflict(format!("cluster {name} is defined by the configuration file with a token file: change it there"))),
        false => Ok(()),
    }
}

/// A stored cluster by id; 404 when there is none.
async fn stored_cluster(app: &App, id: u64) -> ApiResult<db::NamedCluster> {
    let clusters = app.db.clusters().await.map_err(db_error)?;
    clusters.into_iter().find(|c| c.id == id).ok_or_else(|| AppError::NotFound("404 Cluster Not Found".into()))
}

/// `PUT /api/v4/admin/clusters/:cluster_id`: a new URL, token or CA (the
/// local cluster's address, a rotated token); a new URL or CA ends running
/// sessions on it at their next re-authorization (4005), a new token alone
/// does not. 409 for a cluster the config file defines with a token file
/// (`token_file`, `in_cluster`): its credentials are the file's.
pub async fn update_cluster(
    State(app): State<Arc<App>>,
    session: Session,
    ApiPath(id): ApiPath<u64>,
    ApiJson(update): ApiJson<UpdateCluster>,
) -> ApiResult<Json<ClusterJson>> {
    let admin = app.require_admin(Some(&session)).await?;
    let stored = stored_cluster(&app, id).await?;
    refuse_file_credentials(&app, &stored.name)?;
    let change = update.platform_kubernetes_attributes;
    let cluster = checked_cluster(PlatformKubernetesAttributes {
        api_url: change.api_url.unwrap_or(stored.cluster.api_url),
        token: change.token.unwrap_or(stored.cluster.token),
        ca_cert: change.ca_cert.unwrap_or(stored.cluster.ca_pem),
    })?;
    if !app.db.update_cluster(id, &cluster).await.map_err(db_error)? {
        return Err(AppError::NotFound("404 Cluster Not Found".into()));
    }
    tracing::info!(by = admin.username, cluster = stored.name, "cluster updated");
    Ok(Json(cluster_json(id, stored.name, cluster)))
}

/// `DELETE /api/v4/admin/clusters/:cluster_id`: 204; 409 while an
/// environment uses it.
pub async fn delete_cluster(State(app): State<Arc<App>>, session: Session, ApiPath(id): ApiPath<u64>) -> ApiResult<StatusCode> {
    let admin = app.require_admin(Some(&session)).await?;
    let stored = stored_cluster(&app, id).await?;
    refuse_file_credentials(&app, &stored.name)?;
    match app.db.delete_cluster(&stored.name).await.map_err(db_error)? {
        None => Err(AppError::NotFound("404 Cluster Not Found".into())),
        Some(users) if !users.is_empty() => Err(AppError::Conflict(format!(
            "cluster {} is used by environment{} {}: remove {} first",
            stored.name,
            if users.len() == 1 { "" } else { "s" },
            users.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            if users.len() == 1 { "it" } else { "them" },
        ))),
        Some(_) => {
            tracing::info!(by = admin.username, cluster = stored.name, "cluster deleted");
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

/// `DELETE /api/v4/projects/:id/environments/:environment_id`: 204.
pub async fn delete_environment(
    State(app): State<Arc<App>>,
    session: Session,
    ApiPath((id, environment_id)): ApiPath<(String, u64)>,
) -> ApiResult<StatusCode> {
    let admin = app.require_admin(Some(&session)).await?;
    let project = app.project(&id).await?;
    if !app.db.delete_environment(project.id, environment_id).await.map_err(db_error)? {
        return Err(AppError::NotFound("404 Environment Not Found".into()));
    }
    tracing::info!(by = admin.username, project = project.path, environment = environment_id, "environment deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_namespaces() {
        assert!(is_name("maintainer") && is_name("a.b-c_d") && is_name("Q"));
        assert!(!is_name("") && !is_name("-x") && !is_name("a b") && !is_name("a/b") && !is_name(&"x".repeat(65)));
        assert!(is_namespace("shop-production") && is_namespace("a1"));
        assert!(!is_namespace("Shop") && !is_namespace("-a") && !is_namespace("a-") && !is_namespace("a_b") && !is_namespace(""));
    }
}

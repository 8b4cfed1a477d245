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
//! authorized ([`App::check_access`]); every first authorize is recorded in
//! the audit log.
//!
//! Everything lives in the database ([`db`]): users and memberships
//! ([`users`]), projects, environments, clusters, application settings and
//! the audit log, managed through GitLab-named `/api/v4` endpoints
//! ([`admin`]). The config file ([`config_file`]) and the demo seed it.

pub mod admin;
pub mod config_file;
pub mod db;
pub mod discovery;
pub mod jobs;
pub mod users;

use crate::jwt::{JwtError, WorkhorseSecret};
use crate::routes::TerminalKind;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use discovery::{Cluster, Terminal};
use shared::api::{AUDIT_ID_HEADER, AuditOutcome, EnvironmentJson, ProjectJson};
use shared::channel::{API_REQUEST_HEADER, AuthorizeResponse, ChannelSettings, WORKHORSE_CONTENT_TYPE};
use std::sync::Arc;

/// The default exec command. GitLab's is `sh -c 'bash || sh'`
/// (`lib/gitlab/kubernetes.rb` `EXEC_COMMAND`); Porthole `exec`s the shell
/// instead, so that the shell's exit status is the exec's and a shell that
/// exits non-zero does not start a second one by itself, and sets `TERM`,
/// which an exec cannot pass as an environment variable.
pub const DEFAULT_COMMAND: [&str; 3] = [
    "sh",
    "-c",
    "export TERM=xterm-256color; if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
];

pub use db::{Environment, Project};

/// Lowercase, every run of characters other than `a-z0-9` as one `-`, no
/// leading or trailing `-` (GitLab's `slugify`).
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

/// The app's state.
pub struct App {
    secret: WorkhorseSecret,
    /// The cluster built into this process (environments name it `local`).
    local: Cluster,
    /// CI jobs and the runner API.
    pub jobs: jobs::Jobs,
    /// Users, memberships, projects, environments, clusters, settings and
    /// the audit log.
    pub db: db::Database,
}

/// A database failure, as a 503.
fn db_error(e: impl std::fmt::Display) -> AppError {
    AppError::Database(e.to_string())
}

impl App {
    /// An app on `db`, verifying relay requests with `secret`; `local` is
    /// the built-in cluster.
    pub fn new(secret: WorkhorseSecret, local: Cluster, runner_token: String, db: db::Database) -> App {
        App { secret, local, jobs: jobs::Jobs::new(runner_token), db }
    }

    /// The signed-in user, if any.
    pub async fn signed_in(&self, session: Option<&tower_sessions::Session>) -> Result<Option<users::User>, AppError> {
        let Some(session) = session else { return Ok(None) };
        users::signed_in_user(&self.db, session).await.map_err(db_error)
    }

    /// The signed-in user, who must be an admin: 401 when nobody is signed
    /// in, 403 otherwise.
    pub async fn require_admin(&self, session: Option<&tower_sessions::Session>) -> Result<users::User, AppError> {
        match self.signed_in(session).await? {
            None => Err(AppError::Unauthenticated),
            Some(user) if user.admin => Ok(user),
            Some(_) => Err(AppError::Forbidden("403 Forbidden: only administrators may do this".into())),
        }
    }

    /// The signed-in user may act on `project` with at least `need` (admins
    /// always may): 401 when nobody is signed in, 404 when the user is not
    /// a member (they cannot see the project), 403 with the role it takes
    /// `to` do what (e.g. "open this terminal").
    pub async fn check_access(
        &self,
        session: Option<&tower_sessions::Session>,
        project: &str,
        need: users::Role,
        to: &str,
    ) -> Result<users::User, AppError> {
        self.role_check(self.signed_in(session).await?, project, need, to).await
    }

    /// [`App::check_access`] for a user already looked up.
    async fn role_check(&self, user: Option<users::User>, project: &str, need: users::Role, to: &str) -> Result<users::User, AppError> {
        let user = user.ok_or(AppError::Unauthenticated)?;
        if user.admin {
            return Ok(user);
        }
        match self.db.membership(&user.username, project).await.map_err(db_error)? {
            None => Err(AppError::NotFound("project not found".into())),
            Some(role) if role < need => Err(AppError::Forbidden(format!("You need the {need:?} role on {project} to {to}"))),
            Some(_) => Ok(user),
        }
    }

    /// Creates the demo project `demo/shop` with environment `production`,
    /// whose pods are in the local cluster, where they are missing (ids 1
    /// and 1 in a new database). What an admin made meanwhile is kept: a
    /// start never renames or overwrites.
    pub async fn seed_demo(db: &db::Database) -> anyhow::Result<()> {
        let project = match db.project("demo/shop").await? {
            Some(project) => project,
            None => db.create_project("demo/shop").await?.ok_or_else(|| anyhow::anyhow!("the demo project demo/shop cannot be created"))?,
        };
        if !db.environments(project.id).await?.iter().any(|e| e.slug == "production") {
            let env = Environment {
                id: 0,
                project_id: project.id,
                name: "production".into(),
                slug: "production".into(),
                cluster: db::LOCAL_CLUSTER.into(),
                namespace: crate::local_cluster::pods::DEMO_NAMESPACE.into(),
                command: DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
            };
            db.create_environment(&env).await?;
        }
        Ok(())
    }

    /// A project (by the API's `:id`) the signed-in user may act on with
    /// `need`, and the user: 401 signed out — before the project is looked
    /// up, so that signed-out requests cannot tell which projects exist —,
    /// then as [`App::check_access`].
    pub async fn project_access(
        &self,
        session: &tower_sessions::Session,
        id_or_path: &str,
        need: users::Role,
        to: &str,
    ) -> Result<(Project, users::User), AppError> {
        let user = self.signed_in(Some(session)).await?.ok_or(AppError::Unauthenticated)?;
        let project = self.project(id_or_path).await?;
        let user = self.role_check(Some(user), &project.path, need, to).await?;
        Ok((project, user))
    }

    /// A project by numeric id or by its full path (the API's `:id`,
    /// e.g. `1` or `demo%2Fshop`); 404 when there is none.
    pub async fn project(&self, id_or_path: &str) -> Result<Project, AppError> {
        self.db.project(id_or_path).await.map_err(db_error)?.ok_or_else(|| AppError::NotFound("404 Project Not Found".into()))
    }

    /// A project's environment and the cluster it names; 404 when either is missing.
    async fn environment(&self, project: &str, id: u64) -> Result<(Project, Environment, Cluster), AppError> {
        let not_found = || AppError::NotFound("environment not found".into());
        let project = self.db.project(project).await.map_err(db_error)?.ok_or_else(not_found)?;
        let env = self.db.environment(project.id, id).await.map_err(db_error)?.ok_or_else(not_found)?;
        let cluster = self.cluster(&env.cluster).await?;
        Ok((project, env, cluster))
    }

    /// A cluster by name: `local`, or a stored one.
    pub async fn cluster(&self, name: &str) -> Result<Cluster, AppError> {
        if name == db::LOCAL_CLUSTER {
            return Ok(self.local.clone());
        }
        self.db.cluster(name).await.map_err(db_error)?.ok_or_else(|| AppError::Cluster(format!("the environment's cluster {name:?} does not exist")))
    }

    /// The authorize endpoint (the dispatcher has classified the path). The
    /// query may name `pod` and `container`; by default the first container
    /// of the first pod, as in GitLab.
    ///
    /// A first authorize is recorded in the audit log, opened or (for a
    /// signed-in user) refused, and an opened one's entry id answered in
    /// [`AUDIT_ID_HEADER`];
    /// re-authorizations (which carry that header) are not recorded.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        session: Option<&tower_sessions::Session>,
        project: &str,
        kind: TerminalKind,
        id: u64,
    ) -> Result<Response, AppError> {
        let token = headers.get(API_REQUEST_HEADER).and_then(|v| v.to_str().ok());
        self.secret.verify(token).map_err(AppError::Unauthorized)?;
        let mut audit = db::AuditStart { project: project.to_string(), ..Default::default() };
        let result = self.channel(query, session, project, kind, id, &mut audit).await;
        let response = |channel| ([(header::CONTENT_TYPE, WORKHORSE_CONTENT_TYPE)], Json(AuthorizeResponse { channel })).into_response();
        if headers.contains_key(AUDIT_ID_HEADER) {
            return result.map(response);
        }
        match result {
            Ok(channel) => {
                let audit_id = self.db.audit_start(&audit, AuditOutcome::Opened, None).await.map_err(db_error)?;
                let mut response = response(channel);
                response.headers_mut().insert(AUDIT_ID_HEADER, HeaderValue::from_str(&audit_id).map_err(db_error)?);
                Ok(response)
            }
            Err(e) => Err(self.refused(&mut audit, id, e).await),
        }
    }

    /// Records a refusal in the audit log — of signed-in users only: anyone
    /// can send signed-out requests, and they would crowd real sessions out
    /// of the log — and hands the refusal back. A target not named yet is
    /// environment `environment_id`: by its name when it exists (looked up
    /// here, off the path of authorizations that succeed).
    async fn refused(&self, audit: &mut db::AuditStart, environment_id: u64, e: AppError) -> AppError {
        if audit.username.is_some() {
            if audit.target.is_empty() {
                let env = match self.db.project(&audit.project).await {
                    Ok(Some(p)) => self.db.environment(p.id, environment_id).await.ok().flatten(),
                    _ => None,
                };
                audit.target = format!("environment {}", env.map_or_else(|| environment_id.to_string(), |e| e.name));
            }
            let (_, reason) = e.status_and_message();
            if let Err(db) = self.db.audit_start(audit, AuditOutcome::Refused, Some(&reason)).await {
                tracing::error!(error = %db, "recording a refusal in the audit log failed");
            }
        }
        e
    }

    /// The Channel settings for a terminal, filling in `audit` as it learns who and what.
    async fn channel(
        &self,
        query: Option<&str>,
        session: Option<&tower_sessions::Session>,
        project: &str,
        kind: TerminalKind,
        id: u64,
        audit: &mut db::AuditStart,
    ) -> Result<ChannelSettings, AppError> {
        let user = self.signed_in(session).await?;
        audit.username = user.as_ref().map(|u| u.username.clone());
        if kind == TerminalKind::Job {
            audit.target = format!("job {id}");
            // GitLab's `create_build_terminal`: may update the job (Developer+)
            // and started it.
            let user = self.role_check(user, project, users::Role::Developer, "open this terminal").await?;
            let job = self.jobs.get(id).filter(|job| job.project_path == project);
            if let Some(job) = &job {
                if !user.admin && job.started_by != user.username {
                    return Err(AppError::Forbidden("Only the user who started a job can open its terminal".into()));
                }
            }
            let channel = job
                .and_then(|job| job.channel())
                .ok_or(AppError::NotFound("the job is not running or has no terminal".into()))?;
            tracing::info!(project, job = id, "authorized a job terminal");
            return Ok(channel);
        }
        self.role_check(user, project, users::Role::Maintainer, "open this terminal").await?;
        let (project, env, cluster) = self.environment(project, id).await?;
        audit.target = format!("environment {}", env.name);
        let terminals = discovery::terminals(&cluster, &env.namespace, &project.path_slug(), &env.slug)
            .await
            .map_err(AppError::Cluster)?;
        let wanted = Selection::from_query(query.unwrap_or(""));
        audit.pod.clone_from(&wanted.pod);
        audit.container.clone_from(&wanted.container);
        let terminal = match (&wanted.pod, &wanted.container) {
            (None, None) => terminals.first().ok_or(AppError::NotFound("no running pods for this environment".into()))?,
            (pod, container) => terminals
                .iter()
                .find(|t| pod.as_ref().is_none_or(|p| *p == t.pod) && container.as_ref().is_none_or(|c| *c == t.container))
                .ok_or_else(|| AppError::NotFound(format!("{} is not a terminal of environment {} (anymore)", wanted.describe(), env.name)))?,
        };
        audit.pod = Some(terminal.pod.clone());
        audit.container = Some(terminal.container.clone());
        let mut channel = channel_for(&env, &cluster, terminal).map_err(AppError::Cluster)?;
        channel.max_session_time = self.db.max_session_time().await.map_err(db_error)?;
        tracing::info!(project = project.path, environment = env.name, pod = terminal.pod, container = terminal.container, "authorized a terminal");
        Ok(channel)
    }

    /// `GET /<project>/-/environments/<id>/terminals.json`: the environment's
    /// terminals (pod, container, created_at), or why they cannot be listed.
    /// The page asks this before it opens a terminal: a refusal here is the
    /// one the user meets, and is recorded in the audit log.
    pub async fn terminals(&self, session: Option<&tower_sessions::Session>, project: &str, id: u64) -> Result<Response, AppError> {
        let user = self.signed_in(session).await?;
        let username = user.as_ref().map(|u| u.username.clone());
        let listed = async {
            self.role_check(user, project, users::Role::Maintainer, "open this terminal").await?;
            let (project, env, cluster) = self.environment(project, id).await?;
            discovery::terminals(&cluster, &env.namespace, &project.path_slug(), &env.slug).await.map_err(AppError::Cluster)
        };
        match listed.await {
            Ok(terminals) => Ok(Json(terminals).into_response()),
            Err(e) => {
                let mut audit = db::AuditStart { username, project: project.to_string(), ..Default::default() };
                Err(self.refused(&mut audit, id, e).await)
            }
        }
    }
}

/// A pod and container named in a terminal URL (`?pod=…&container=…`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Pod name.
    pub pod: Option<String>,
    /// Container name.
    pub container: Option<String>,
}

impl Selection {
    /// From a query string; empty values count as absent.
    pub fn from_query(query: &str) -> Selection {
        let mut sel = Selection::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = (!v.is_empty()).then(|| v.into_owned());
            match k.as_ref() {
                "pod" => sel.pod = v,
                "container" => sel.container = v,
                _ => {}
            }
        }
        sel
    }

    fn describe(&self) -> String {
        match (&self.pod, &self.container) {
            (Some(p), Some(c)) => format!("pod {p}, container {c}"),
            (Some(p), None) => format!("pod {p}"),
            (None, Some(c)) => format!("container {c}"),
            (None, None) => "the default terminal".into(),
        }
    }
}

/// The Channel settings for a terminal, as Rails' `terminals_for_pod` +
/// `add_terminal_auth` build them.
fn channel_for(env: &Environment, cluster: &Cluster, terminal: &Terminal) -> Result<ChannelSettings, String> {
    let mut url = url::Url::parse(&cluster.api_url).map_err(|e| format!("cluster API URL: {e}"))?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|()| "cluster API URL has no host".to_string())?;
    url.path_segments_mut()
        .map_err(|()| "cluster API URL cannot be a base".to_string())?
        .pop_if_empty()
        .extend(["api", "v1", "namespaces", &env.namespace, "pods", &terminal.pod, "exec"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("container", &terminal.container);
        for (key, value) in [("stderr", "true"), ("stdin", "true"), ("stdout", "true"), ("tty", "true")] {
            q.append_pair(key, value);
        }
        for part in &env.command {
            q.append_pair("command", part);
        }
    }
    Ok(ChannelSettings {
        subprotocols: shared::k8s::Protocol::DEFAULT_OFFER.iter().map(|p| p.name().to_string()).collect(),
        url: url.to_string(),
        header: [("Authorization".to_string(), vec![format!("Bearer {}", cluster.token)])].into(),
        ca_pem: cluster.ca_pem.clone(),
        max_session_time: 0,
    })
}

/// Why the app refused; each answer is logged.
#[derive(Debug)]
pub enum AppError {
    /// 401: the request is not signed by the relay.
    Unauthorized(JwtError),
    /// 404, with what was not found.
    NotFound(String),
    /// 502: the cluster's API failed or refused; the words for the page.
    Cluster(String),
    /// 401: nobody is signed in.
    Unauthenticated,
    /// 403, with the role it takes.
    Forbidden(String),
    /// 400, with what is wrong with the input.
    BadRequest(String),
    /// 409, with what already exists.
    Conflict(String),
    /// 503: the database failed.
    Database(String),
}

impl AppError {
    /// The HTTP status and the words for the person.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            AppError::Unauthorized(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, what.clone()),
            AppError::Cluster(e) => (StatusCode::BAD_GATEWAY, e.clone()),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "You need to sign in before continuing.".to_string()),
            AppError::Forbidden(why) => (StatusCode::FORBIDDEN, why.clone()),
            AppError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            AppError::Conflict(why) => (StatusCode::CONFLICT, why.clone()),
            AppError::Database(_) => (StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable".to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Database(e) = &self {
            tracing::error!(error = e, "database failed");
        }
        let (status, message) = self.status_and_message();
        tracing::info!(status = status.as_u16(), %message, "app refused");
        (status, Json(serde_json::json!({ "message": message }))).into_response()
    }
}

/// The signed-in user's view of `GET /api/v4/projects`: every project for
/// admins, the projects they are a member of for others; 401 signed out.
pub async fn list_projects(State(app): State<Arc<App>>, session: tower_sessions::Session) -> Result<Json<Vec<ProjectJson>>, AppError> {
    let user = app.signed_in(Some(&session)).await?.ok_or(AppError::Unauthenticated)?;
    let mut visible = Vec::new();
    for p in app.db.projects().await.map_err(db_error)? {
        if user.admin || app.db.membership(&user.username, &p.path).await.map_err(db_error)?.is_some() {
            visible.push(ProjectJson { id: p.id, path_with_namespace: p.path });
        }
    }
    Ok(Json(visible))
}

/// The JSON of an environment.
pub fn environment_json(project: &Project, e: Environment) -> EnvironmentJson {
    EnvironmentJson {
        terminal_path: format!("/{}/-/environments/{}/terminal", project.path, e.id),
        id: e.id,
        name: e.name,
        slug: e.slug,
        state: "available".into(),
        cluster: e.cluster,
        namespace: e.namespace,
    }
}

/// `GET /api/v4/projects/:id/environments`: for members (Guest+) and admins.
pub async fn list_environments(
    State(app): State<Arc<App>>,
    session: tower_sessions::Session,
    Path(id): Path<String>,
) -> Result<Json<Vec<EnvironmentJson>>, AppError> {
    let (project, _) = app.project_access(&session, &id, users::Role::Guest, "see it").await?;
    let envs = app.db.environments(project.id).await.map_err(db_error)?;
    Ok(Json(envs.into_iter().map(|e| environment_json(&project, e)).collect()))
}

/// `POST /api/v4/projects/:id/jobs`: queues a job (Developer+).
pub async fn create_job(
    State(app): State<Arc<App>>,
    session: tower_sessions::Session,
    Path(id): Path<String>,
    Json(new): Json<jobs::NewJob>,
) -> Result<Response, AppError> {
    let (project, user) = app.project_access(&session, &id, users::Role::Developer, "run jobs").await?;
    let job = app.jobs.create(project.id, &project.path, &user.username, new);
    Ok((StatusCode::CREATED, Json(job.to_json())).into_response())
}

/// `GET /api/v4/projects/:id/jobs`: for members (Guest+) and admins.
pub async fn list_jobs(
    State(app): State<Arc<App>>,
    session: tower_sessions::Session,
    Path(id): Path<String>,
) -> Result<Json<Vec<jobs::JobJson>>, AppError> {
    let (project, _) = app.project_access(&session, &id, users::Role::Guest, "see it").await?;
    Ok(Json(app.jobs.of_project(project.id).iter().map(jobs::Job::to_json).collect()))
}

/// `GET /api/v4/projects/:id/jobs/:job_id`: for members (Guest+) and admins.
pub async fn get_job(
    State(app): State<Arc<App>>,
    session: tower_sessions::Session,
    admin::ApiPath((id, job_id)): admin::ApiPath<(String, u64)>,
) -> Result<Json<jobs::JobJson>, AppError> {
    let (project, _) = app.project_access(&session, &id, users::Role::Guest, "see it").await?;
    match app.jobs.get(job_id).filter(|j| j.project_id == project.id) {
        Some(job) => Ok(Json(job.to_json())),
        None => Err(AppError::NotFound("404 Job Not Found".into())),
    }
}

/// `POST /api/v4/jobs/request` (runners).
pub async fn request_job(State(app): State<Arc<App>>, Json(request): Json<jobs::JobRequest>) -> Response {
    app.jobs.request(request)
}

/// `PUT /api/v4/jobs/:id` (runners).
pub async fn update_job(State(app): State<Arc<App>>, Path(id): Path<u64>, Json(update): Json<jobs::JobUpdate>) -> Response {
    app.jobs.update(id, update)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_like_gitlab() {
        let p = |path: &str| Project { id: 1, path: path.into() }.path_slug();
        assert_eq!(p("demo/shop"), "demo-shop");
        assert_eq!(p("Group/Sub.Group/my_app"), "group-sub-group-my-app");
    }

    #[test]
    fn channel_like_rails_builds_it() {
        let cluster = Cluster { api_url: "https://127.0.0.1:6443".into(), token: "t0k".into(), ca_pem: "PEM".into() };
        let env = Environment {
            id: 1,
            project_id: 1,
            name: "production".into(),
            slug: "production".into(),
            cluster: "prod".into(),
            namespace: "ns".into(),
            command: DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
        };
        let terminal = Terminal { pod: "web-1".into(), container: "app".into(), created_at: None };
        let c = channel_for(&env, &cluster, &terminal).unwrap();
        assert_eq!(
            c.url,
            "wss://127.0.0.1:6443/api/v1/namespaces/ns/pods/web-1/exec?container=app&stderr=true&stdin=true&stdout=true&tty=true&command=sh&command=-c&command=export+TERM%3Dxterm-256color%3B+if+command+-v+bash+%3E%2Fdev%2Fnull+2%3E%261%3B+then+exec+bash%3B+else+exec+sh%3B+fi"
        );
        assert_eq!(c.header["Authorization"], ["Bearer t0k"]);
        assert_eq!(c.subprotocols, ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]);
        assert_eq!(c.validate(), Ok(()));
    }
}


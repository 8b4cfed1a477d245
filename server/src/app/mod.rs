//! The app, in GitLab Rails' role: projects, environments, clusters, and the
//! authorize endpoint the relay asks before every terminal session.
//!
//! `GET /<project>/-/environments/<id>/terminal.ws/authorize` answers only
//! requests signed by the relay ([`crate::jwt`]), finds the environment's
//! pods through its cluster's Kubernetes API ([`discovery`]) and answers the
//! pod and container the query names (`?pod=&container=`), by default the
//! first container of the first Running pod, as GitLab's `Channel` settings.
//! `…/-/jobs/<id>/terminal.ws/authorize` answers a running job's runner
//! session ([`jobs`]). Users, login and roles come later; for now the demo
//! user is implicit.

pub mod config_file;
pub mod discovery;
pub mod jobs;
pub mod users;

use crate::jwt::{JwtError, WorkhorseSecret};
use crate::routes::TerminalKind;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use discovery::{Cluster, Terminal};
use serde::Serialize;
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

/// A project and its environments.
#[derive(Debug, Clone)]
pub struct Project {
    /// Numeric id, as in `/api/v4/projects/:id`.
    pub id: u64,
    /// Full path, `namespace/project`.
    pub path: String,
    /// Environments.
    pub environments: Vec<Environment>,
}

impl Project {
    /// GitLab's `full_path_slug`: lowercase, every run of other characters
    /// than `a-z0-9` as one `-`, no leading or trailing `-`
    /// (`$CI_PROJECT_PATH_SLUG`), e.g. `demo/shop` → `demo-shop`.
    pub fn path_slug(&self) -> String {
        slugify(&self.path)
    }
}

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

/// An environment: where its pods are, and what a terminal runs.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Numeric id, unique across projects.
    pub id: u64,
    /// Name, e.g. `production`.
    pub name: String,
    /// Slug, e.g. `production` (`$CI_ENVIRONMENT_SLUG`).
    pub slug: String,
    /// The cluster its pods run in.
    pub cluster: Cluster,
    /// The Kubernetes namespace of its pods.
    pub namespace: String,
    /// The command a terminal execs.
    pub command: Vec<String>,
}

/// The app's state.
pub struct App {
    secret: WorkhorseSecret,
    projects: Vec<Project>,
    /// CI jobs and the runner API.
    pub jobs: jobs::Jobs,
    /// `terminal_max_session_time`: seconds, 0 = no limit; GitLab's
    /// application setting, sent as the Channel's `MaxSessionTime`.
    pub max_session_time: u64,
    /// Users and memberships.
    pub db: users::Database,
}

impl App {
    /// An app with these projects, verifying relay requests with `secret`.
    pub fn new(secret: WorkhorseSecret, projects: Vec<Project>, runner_token: String, db: users::Database) -> App {
        App { secret, projects, jobs: jobs::Jobs::new(runner_token), max_session_time: 0, db }
    }

    /// The signed-in user may act on `project` with at least `need` (admins
    /// always may): 401 when nobody is signed in, 404 when the user is not
    /// a member (they cannot see the project), 403 with the role it takes.
    pub async fn check_access(&self, session: Option<&tower_sessions::Session>, project: &str, need: users::Role) -> Result<users::User, AppError> {
        let name = match session {
            Some(session) => users::current_username(session).await,
            None => None,
        };
        let user = match name {
            Some(name) => self.db.user(&name).await.map_err(|e| AppError::Database(e.to_string()))?,
            None => None,
        };
        let user = user.ok_or(AppError::Unauthenticated)?;
        if user.admin {
            return Ok(user);
        }
        match self.db.membership(&user.username, project).await.map_err(|e| AppError::Database(e.to_string()))? {
            None => Err(AppError::NotFound("project not found".into())),
            Some(role) if role < need => Err(AppError::Forbidden(format!("You need the {need:?} role on {project} to open this terminal"))),
            Some(_) => Ok(user),
        }
    }

    /// The demo project `demo/shop` (id 1) with environment `production`
    /// (id 1), whose pods are in the local cluster.
    pub fn demo_project(local: &Cluster) -> Project {
        let environment = Environment {
            id: 1,
            name: "production".into(),
            slug: "production".into(),
            cluster: local.clone(),
            namespace: crate::local_cluster::pods::DEMO_NAMESPACE.into(),
            command: DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
        };
        Project { id: 1, path: "demo/shop".into(), environments: vec![environment] }
    }

    /// A project by numeric id or by its full path (the API's `:id`,
    /// e.g. `1` or `demo%2Fshop`).
    pub fn project(&self, id_or_path: &str) -> Option<&Project> {
        match id_or_path.parse::<u64>() {
            Ok(id) => self.projects.iter().find(|p| p.id == id),
            Err(_) => self.projects.iter().find(|p| p.path == id_or_path),
        }
    }

    fn environment(&self, project: &str, id: u64) -> Option<(&Project, &Environment)> {
        let project = self.projects.iter().find(|p| p.path == project)?;
        let env = project.environments.iter().find(|e| e.id == id)?;
        Some((project, env))
    }

    /// The authorize endpoint (the dispatcher has classified the path). The
    /// query may name `pod` and `container`; by default the first container
    /// of the first pod, as in GitLab.
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
        if kind == TerminalKind::Job {
            // GitLab's `create_build_terminal`: may update the job (Developer+)
            // and started it.
            let user = self.check_access(session, project, users::Role::Developer).await?;
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
            return Ok(([(header::CONTENT_TYPE, WORKHORSE_CONTENT_TYPE)], Json(AuthorizeResponse { channel })).into_response());
        }
        self.check_access(session, project, users::Role::Maintainer).await?;
        let (project, env) = self.environment(project, id).ok_or(AppError::NotFound("environment not found".into()))?;
        let terminals = discovery::terminals(&env.cluster, &env.namespace, &project.path_slug(), &env.slug)
            .await
            .map_err(AppError::Cluster)?;
        let wanted = Selection::from_query(query.unwrap_or(""));
        let terminal = match (&wanted.pod, &wanted.container) {
            (None, None) => terminals.first().ok_or(AppError::NotFound("no running pods for this environment".into()))?,
            (pod, container) => terminals
                .iter()
                .find(|t| pod.as_ref().is_none_or(|p| *p == t.pod) && container.as_ref().is_none_or(|c| *c == t.container))
                .ok_or_else(|| AppError::NotFound(format!("{} is not a terminal of environment {} (anymore)", wanted.describe(), env.name)))?,
        };
        let mut channel = channel_for(env, terminal).map_err(AppError::Cluster)?;
        channel.max_session_time = self.max_session_time;
        tracing::info!(project = project.path, environment = env.name, pod = terminal.pod, container = terminal.container, "authorized a terminal");
        Ok(([(header::CONTENT_TYPE, WORKHORSE_CONTENT_TYPE)], Json(AuthorizeResponse { channel })).into_response())
    }

    /// `GET /<project>/-/environments/<id>/terminals.json`: the environment's
    /// terminals (pod, container, created_at), or why they cannot be listed.
    pub async fn terminals(&self, session: Option<&tower_sessions::Session>, project: &str, id: u64) -> Result<Response, AppError> {
        self.check_access(session, project, users::Role::Maintainer).await?;
        let (project, env) = self.environment(project, id).ok_or(AppError::NotFound("environment not found".into()))?;
        let terminals = discovery::terminals(&env.cluster, &env.namespace, &project.path_slug(), &env.slug)
            .await
            .map_err(AppError::Cluster)?;
        Ok(Json(terminals).into_response())
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
fn channel_for(env: &Environment, terminal: &Terminal) -> Result<ChannelSettings, String> {
    let mut url = url::Url::parse(&env.cluster.api_url).map_err(|e| format!("cluster API URL: {e}"))?;
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
        header: [("Authorization".to_string(), vec![format!("Bearer {}", env.cluster.token)])].into(),
        ca_pem: env.cluster.ca_pem.clone(),
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
    /// 503: the user database failed.
    Database(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::Unauthorized(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, what),
            AppError::Cluster(e) => (StatusCode::BAD_GATEWAY, e),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "Sign in to open this terminal".to_string()),
            AppError::Forbidden(why) => (StatusCode::FORBIDDEN, why),
            AppError::Database(e) => {
                tracing::error!(error = e, "user database failed");
                (StatusCode::SERVICE_UNAVAILABLE, "the user database is unavailable".to_string())
            }
        };
        tracing::info!(status = status.as_u16(), %message, "app refused");
        (status, Json(serde_json::json!({ "message": message }))).into_response()
    }
}

/// One project in `GET /api/v4/projects`.
#[derive(Debug, Serialize)]
pub struct ProjectJson {
    /// Id.
    pub id: u64,
    /// `namespace/project`.
    pub path_with_namespace: String,
}

/// One environment in `GET /api/v4/projects/:id/environments`.
#[derive(Debug, Serialize)]
pub struct EnvironmentJson {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Always `available` here.
    pub state: &'static str,
    /// The environment's terminal page.
    pub terminal_path: String,
}

/// `GET /api/v4/projects`.
pub async fn list_projects(State(app): State<Arc<App>>) -> Json<Vec<ProjectJson>> {
    Json(app.projects.iter().map(|p| ProjectJson { id: p.id, path_with_namespace: p.path.clone() }).collect())
}

/// `GET /api/v4/projects/:id/environments`.
pub async fn list_environments(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let Some(project) = app.project(&id) else {
        return (StatusCode::NOT_FOUND, Json(serde_json::json!({"message": "404 Project Not Found"}))).into_response();
    };
    let envs = project
        .environments
        .iter()
        .map(|e| EnvironmentJson {
            id: e.id,
            name: e.name.clone(),
            slug: e.slug.clone(),
            state: "available",
            terminal_path: format!("/{}/-/environments/{}/terminal", project.path, e.id),
        })
        .collect::<Vec<_>>();
    Json(envs).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_like_gitlab() {
        let p = |path: &str| Project { id: 1, path: path.into(), environments: vec![] }.path_slug();
        assert_eq!(p("demo/shop"), "demo-shop");
        assert_eq!(p("Group/Sub.Group/my_app"), "group-sub-group-my-app");
    }

    #[test]
    fn channel_like_rails_builds_it() {
        let env = Environment {
            id: 1,
            name: "production".into(),
            slug: "production".into(),
            cluster: Cluster { api_url: "https://127.0.0.1:6443".into(), token: "t0k".into(), ca_pem: "PEM".into() },
            namespace: "ns".into(),
            command: DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
        };
        let terminal = Terminal { pod: "web-1".into(), container: "app".into(), created_at: None };
        let c = channel_for(&env, &terminal).unwrap();
        assert_eq!(
            c.url,
            "wss://127.0.0.1:6443/api/v1/namespaces/ns/pods/web-1/exec?container=app&stderr=true&stdin=true&stdout=true&tty=true&command=sh&command=-c&command=export+TERM%3Dxterm-256color%3B+if+command+-v+bash+%3E%2Fdev%2Fnull+2%3E%261%3B+then+exec+bash%3B+else+exec+sh%3B+fi"
        );
        assert_eq!(c.header["Authorization"], ["Bearer t0k"]);
        assert_eq!(c.subprotocols, ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]);
        assert_eq!(c.validate(), Ok(()));
    }
}

/// `POST /api/v4/projects/:id/jobs`: queues a job.
pub async fn create_job(
    State(app): State<Arc<App>>,
    session: tower_sessions::Session,
    Path(id): Path<String>,
    Json(new): Json<jobs::NewJob>,
) -> Response {
    let Some(project) = app.project(&id) else {
        return (StatusCode::NOT_FOUND, Json(serde_json::json!({"message": "404 Project Not Found"}))).into_response();
    };
    let user = match app.check_access(Some(&session), &project.path, users::Role::Developer).await {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let job = app.jobs.create(project.id, &project.path, &user.username, new);
    (StatusCode::CREATED, Json(job.to_json())).into_response()
}

/// `GET /api/v4/projects/:id/jobs`.
pub async fn list_jobs(State(app): State<Arc<App>>, Path(id): Path<String>) -> Json<Vec<jobs::JobJson>> {
    let jobs = app.project(&id).map(|p| app.jobs.of_project(p.id)).unwrap_or_default();
    Json(jobs.iter().map(jobs::Job::to_json).collect())
}

/// `GET /api/v4/projects/:id/jobs/:job_id`.
pub async fn get_job(State(app): State<Arc<App>>, Path((id, job_id)): Path<(String, u64)>) -> Response {
    let project_id = app.project(&id).map(|p| p.id);
    match app.jobs.get(job_id).filter(|j| Some(j.project_id) == project_id) {
        Some(job) => Json(job.to_json()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(serde_json::json!({"message": "404 Job Not Found"}))).into_response(),
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

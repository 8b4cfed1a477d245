//! The authorize endpoint (`…/terminal.ws/authorize`), which the relay asks
//! before every terminal session and at every re-check, and the page's
//! `terminals.json`: role check, pod discovery, the Channel settings
//! (Rails' `terminals_for_pod` + `add_terminal_auth`), and the audit log's
//! first record of each session.

use super::db::{self, Environment};
use super::discovery::{self, Cluster, TerminalJson};
use super::error::{AppError, db_error};
use super::state::App;
use super::users;
use shared::paths::TerminalKind;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shared::api::{AUDIT_ID_HEADER, AuditOutcome, RECORDING_HEADER, USER_HEADER};
use shared::channel::{API_REQUEST_HEADER, AuthorizeResponse, ChannelSettings, WORKHORSE_CONTENT_TYPE};

impl App {
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
        // A read-only viewer of someone's session is audited as such.
        if query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == shared::porthole::VIEW_PARAM)) {
            audit.target.push_str(" (read-only view)");
        }
        let user = audit.username.as_deref().and_then(|u| HeaderValue::from_str(u).ok());
        let response = |channel| {
            let mut response = ([(header::CONTENT_TYPE, WORKHORSE_CONTENT_TYPE)], Json(AuthorizeResponse { channel })).into_response();
            if let Some(user) = user.clone() {
                response.headers_mut().insert(USER_HEADER, user);
            }
            response
        };
        if headers.contains_key(AUDIT_ID_HEADER) {
            return result.map(response);
        }
        match result {
            Ok(channel) => {
                let audit_id = self.db.audit_start(&audit, AuditOutcome::Opened, None).await.map_err(db_error)?;
                let mut response = response(channel);
                response.headers_mut().insert(AUDIT_ID_HEADER, HeaderValue::from_str(&audit_id).map_err(db_error)?);
                if self.db.terminal_recording().await.map_err(db_error)? {
                    let title = recording_title(&audit);
                    let encoded: String = url::form_urlencoded::byte_serialize(title.as_bytes()).collect();
                    response.headers_mut().insert(RECORDING_HEADER, HeaderValue::from_str(&encoded).map_err(db_error)?);
                }
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
            let mut channel = job
                .and_then(|job| job.channel())
                .ok_or(AppError::NotFound("the job is not running or has no terminal".into()))?;
            channel.idle_timeout = self.db.idle_timeout().await.map_err(db_error)?;
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
        channel.idle_timeout = self.db.idle_timeout().await.map_err(db_error)?;
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
fn channel_for(env: &Environment, cluster: &Cluster, terminal: &TerminalJson) -> Result<ChannelSettings, String> {
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
        idle_timeout: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::defaults::DEFAULT_COMMAND;

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
        let terminal = TerminalJson { pod: "web-1".into(), container: "app".into(), created_at: None };
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

/// A recording's title: `demo/shop · environment production · pod web-1 · container app`.
fn recording_title(audit: &db::AuditStart) -> String {
    let mut parts = vec![audit.project.clone(), audit.target.clone()];
    parts.extend(audit.pod.as_ref().map(|p| format!("pod {p}")));
    parts.extend(audit.container.as_ref().map(|c| format!("container {c}")));
    parts.join(" · ")
}

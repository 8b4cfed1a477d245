//! CI jobs, in GitLab Rails' role for job terminals (`Ci::Build`,
//! `Ci::BuildRunnerSession`, `lib/api/ci/runner.rb`).
//!
//! - `POST /api/v4/projects/:id/jobs` `{"name","script"}` starts a job (a
//!   Porthole stand-in for a pipeline; the demo's "Run demo job" button);
//!   `GET /api/v4/projects/:id/jobs[/:job_id]` shows jobs — never their
//!   runner session's URL or token.
//! - Runners ask `POST /api/v4/jobs/request` `{"token", "session":{"url",
//!   "certificate","authorization"}}` (201 with a job, 204 without) and
//!   report `PUT /api/v4/jobs/:id` `{"token","state","trace"}`.
//! - A job's terminal is authorized while it is running and has a session
//!   (`has_terminal?`): `Channel` = `wss://…/session/<id>/exec`, header
//!   `Authorization: <token>` (no "Bearer"), `CAPem` = the runner's
//!   certificate, no `MaxSessionTime` (the session server enforces its own).

use crate::secrets::constant_time_eq;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::channel::ChannelSettings;
pub use shared::jobs::{JobJson, JobRequest, JobSpec, JobStatus, JobUpdate, NewJob, SessionInfo};
use shared::paths::{Suffix, TerminalKind, TerminalTarget};
use std::sync::Mutex;

/// A job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Id, unique across projects.
    pub id: u64,
    /// The project's id.
    pub project_id: u64,
    /// The project's path.
    pub project_path: String,
    /// Who started it (only they may open its terminal).
    pub started_by: String,
    /// Name.
    pub name: String,
    /// Script.
    pub script: String,
    /// Simulated preparation time, seconds.
    pub prepare_seconds: u64,
    /// State.
    pub status: JobStatus,
    /// The runner's terminal session, while the job runs.
    pub session: Option<SessionInfo>,
    /// The job's log, once finished.
    pub trace: String,
}

impl Job {
    fn has_terminal(&self) -> bool {
        self.status == JobStatus::Running && self.session.is_some()
    }

    /// Where its pages are.
    fn target(&self) -> TerminalTarget {
        TerminalTarget::new(self.project_path.clone(), TerminalKind::Job, self.id)
    }

    /// The public view: no session URL, no token.
    pub fn to_json(&self) -> JobJson {
        JobJson {
            id: self.id,
            name: self.name.clone(),
            status: self.status,
            project: self.project_path.clone(),
            user: self.started_by.clone(),
            has_terminal: self.has_terminal(),
            web_path: self.target().path(Suffix::None),
            terminal_path: self.target().path(Suffix::TerminalPage),
            trace: self.trace.clone(),
        }
    }

    /// The terminal's Channel settings (`terminal_specification`), when it has one.
    pub fn channel(&self) -> Option<ChannelSettings> {
        let session = self.session.as_ref().filter(|_| self.has_terminal())?;
        let url = format!("wss://{}/exec", session.url.strip_prefix("https://")?);
        Some(ChannelSettings {
            // Porthole's own first: with a Porthole session server, resize and
            // exit status work end to end.
            subprotocols: vec![shared::porthole::SUBPROTOCOL.into(), shared::gitlab::TERMINAL.into()],
            url,
            header: [("Authorization".to_string(), vec![session.authorization.clone()])].into(),
            ca_pem: session.certificate.clone(),
            max_session_time: 0,
            idle_timeout: 0,
        })
    }
}

/// Every job, and the runners' token.
pub struct Jobs {
    jobs: Mutex<Vec<Job>>,
    /// The last id given (ids are not reused after `forget_project`).
    last_id: std::sync::atomic::AtomicU64,
    runner_token: String,
}

/// Finished jobs kept (with their logs, up to 512 KiB each), newest first;
/// older ones are forgotten (their pages 404). Jobs live in memory only: a
/// bound, not a history.
pub const MAX_FINISHED_JOBS: usize = 100;

/// Drops the oldest finished jobs beyond [`MAX_FINISHED_JOBS`].
fn forget_oldest_finished(jobs: &mut Vec<Job>) {
    let finished = |j: &Job| matches!(j.status, JobStatus::Success | JobStatus::Failed);
    let mut extra = jobs.iter().filter(|j| finished(j)).count().saturating_sub(MAX_FINISHED_JOBS);
    // `jobs` is oldest first.
    jobs.retain(|j| {
        let forget = extra > 0 && finished(j);
        extra -= usize::from(forget);
        !forget
    });
}

impl Jobs {
    /// No jobs yet; runners authenticate with `runner_token`.
    pub fn new(runner_token: String) -> Jobs {
        Jobs { jobs: Mutex::default(), last_id: Default::default(), runner_token }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A job by id.
    pub fn get(&self, id: u64) -> Option<Job> {
        self.lock().iter().find(|j| j.id == id).cloned()
    }

    /// A project's jobs, newest first.
    pub fn of_project(&self, project_id: u64) -> Vec<Job> {
        self.lock().iter().rev().filter(|j| j.project_id == project_id).cloned().collect()
    }

    /// Forgets a deleted project's jobs: their terminals can no longer be
    /// authorized, and runners' updates of them are refused (404).
    pub fn forget_project(&self, project_id: u64) {
        self.lock().retain(|j| j.project_id != project_id);
    }

    /// Queues a job.
    pub fn create(&self, project_id: u64, project_path: &str, started_by: &str, new: NewJob) -> Job {
        let mut jobs = self.lock();
        let id = self.last_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let job = Job {
            id,
            project_id,
            project_path: project_path.to_string(),
            started_by: started_by.to_string(),
            name: new.name,
            script: new.script,
            prepare_seconds: new.prepare_seconds,
            status: JobStatus::Pending,
            session: None,
            trace: String::new(),
        };
        jobs.push(job.clone());
        tracing::info!(job = id, project = project_path, "job queued");
        job
    }

    /// A runner asks for a job: the oldest pending one, now running with its session.
    pub fn request(&self, request: JobRequest) -> Response {
        if !constant_time_eq(request.token.as_bytes(), self.runner_token.as_bytes()) {
            return super::error::refusal(StatusCode::FORBIDDEN, "403 Forbidden");
        }
        if let Some(session) = &request.session {
            // Rails validates the session URL as https.
            if !session.url.starts_with("https://") {
                return super::error::refusal(StatusCode::BAD_REQUEST, "session url must be https");
            }
        }
        let mut jobs = self.lock();
        let Some(job) = jobs.iter_mut().find(|j| j.status == JobStatus::Pending) else {
            return StatusCode::NO_CONTENT.into_response();
        };
        job.status = JobStatus::Running;
        job.session = request.session;
        let spec = JobSpec { id: job.id, name: job.name.clone(), script: job.script.clone(), prepare_seconds: job.prepare_seconds };
        (StatusCode::CREATED, Json(spec)).into_response()
    }

    /// A runner reports a job's end; its session is gone with it.
    pub fn update(&self, id: u64, update: JobUpdate) -> Response {
        if !constant_time_eq(update.token.as_bytes(), self.runner_token.as_bytes()) {
            return super::error::refusal(StatusCode::FORBIDDEN, "403 Forbidden");
        }
        let mut jobs = self.lock();
        let Some(job) = jobs.iter_mut().find(|j| j.id == id) else {
            return super::error::refusal(StatusCode::NOT_FOUND, "404 Not Found");
        };
        job.status = update.state;
        job.trace = update.trace;
        if !job.has_terminal() {
            job.session = None;
        }
        tracing::info!(job = id, status = ?job.status, "job updated");
        forget_oldest_finished(&mut jobs);
        StatusCode::OK.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_finished_jobs_are_kept() {
        let jobs = Jobs::new("rt".into());
        let total = MAX_FINISHED_JOBS + 50;
        for _ in 0..total {
            let job = jobs.create(1, "demo/shop", "developer", NewJob { name: "j".into(), script: "true".into(), prepare_seconds: 0 });
            assert_eq!(jobs.request(JobRequest { token: "rt".into(), session: Some(session()) }).status(), StatusCode::CREATED);
            jobs.update(job.id, JobUpdate { token: "rt".into(), state: JobStatus::Success, trace: "x".repeat(1000) });
        }
        let running = jobs.create(1, "demo/shop", "developer", NewJob { name: "r".into(), script: "true".into(), prepare_seconds: 0 });
        let kept = jobs.of_project(1);
        assert_eq!(kept.len(), MAX_FINISHED_JOBS + 1, "the newest finished and the pending one");
        assert_eq!(kept[0].id, running.id);
        assert_eq!(kept.last().unwrap().id, (total - MAX_FINISHED_JOBS + 1) as u64, "the oldest are gone");
        assert!(jobs.get(1).is_none());
    }

    fn session() -> SessionInfo {
        SessionInfo { url: "https://127.0.0.1:8093/session/abc".into(), certificate: "PEM".into(), authorization: "tok".into() }
    }

    #[test]
    fn a_running_job_with_a_session_has_a_terminal_channel() {
        let jobs = Jobs::new("rt".into());
        let job = jobs.create(1, "demo/shop", "maintainer", NewJob { name: "test".into(), script: "true".into(), prepare_seconds: 0 });
        assert!(jobs.get(job.id).unwrap().channel().is_none());
        assert_eq!(jobs.request(JobRequest { token: "wrong".into(), session: Some(session()) }).status(), StatusCode::FORBIDDEN);
        assert_eq!(jobs.request(JobRequest { token: "rt".into(), session: Some(session()) }).status(), StatusCode::CREATED);
        let channel = jobs.get(job.id).unwrap().channel().unwrap();
        assert_eq!(channel.url, "wss://127.0.0.1:8093/session/abc/exec");
        assert_eq!(channel.header["Authorization"], ["tok"]);
        assert_eq!(channel.ca_pem, "PEM");
        assert_eq!(channel.max_session_time, 0);
        assert_eq!(channel.subprotocols, ["v1.porthole", "terminal.gitlab.com"]);
        // Nothing left to hand out.
        assert_eq!(jobs.request(JobRequest { token: "rt".into(), session: Some(session()) }).status(), StatusCode::NO_CONTENT);
        // The public view hides the session.
        let json = serde_json::to_string(&jobs.get(job.id).unwrap().to_json()).unwrap();
        assert!(!json.contains("session/abc") && !json.contains("tok\""), "{json}");
        // Finished: no terminal.
        jobs.update(job.id, JobUpdate { token: "rt".into(), state: JobStatus::Success, trace: "ok".into() });
        assert!(jobs.get(job.id).unwrap().channel().is_none());
    }
}

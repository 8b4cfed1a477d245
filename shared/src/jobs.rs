//! CI jobs on the wire: the jobs API the pages read, and the runner API
//! between the app and a session server (GitLab Runner's role).
//!
//! - `POST /api/v4/projects/:id/jobs` takes [`NewJob`] and answers
//!   [`JobJson`] (201); `GET /api/v4/projects/:id/jobs[/:job_id]` answers
//!   [`JobJson`]s. A job's runner session (URL, token) never appears here.
//! - Runner API (`lib/api/ci/runner.rb`): `POST /api/v4/jobs/request`
//!   takes [`JobRequest`] and answers [`JobSpec`] (201) or nothing (204);
//!   `PUT /api/v4/jobs/:id` takes [`JobUpdate`]. A wrong runner token is 403.

use serde::{Deserialize, Serialize};

/// A job's state (GitLab's names, lowercase on the wire: `"running"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a runner.
    Pending,
    /// A runner has it.
    Running,
    /// Finished, exit code 0.
    Success,
    /// Finished otherwise.
    Failed,
}

impl JobStatus {
    /// The wire name: `"success"`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Success => "success",
            JobStatus::Failed => "failed",
        }
    }
}

/// A job as the API and the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobJson {
    /// Id, unique across projects.
    pub id: u64,
    /// Name.
    pub name: String,
    /// State.
    pub status: JobStatus,
    /// `namespace/project`.
    pub project: String,
    /// Who started it (only they may open its terminal).
    pub user: String,
    /// True while its terminal can be opened (running, with a session).
    pub has_terminal: bool,
    /// The job's page: `/<project>/-/jobs/<id>`.
    pub web_path: String,
    /// The job's terminal page: `/<project>/-/jobs/<id>/terminal`.
    pub terminal_path: String,
    /// The job's log (empty until it finished).
    pub trace: String,
}

/// Body of `POST /api/v4/projects/:id/jobs` (Developer+).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// Name.
    pub name: String,
    /// Shell script (run by `sh -c`).
    pub script: String,
    /// Seconds the executor pretends to prepare before a terminal can
    /// attach (like pulling an image); default 0.
    #[serde(default)]
    pub prepare_seconds: u64,
}

/// A runner's terminal session for a job: what GitLab Runner sends as
/// `session` in `POST /api/v4/jobs/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `https://<advertise>/session/<id>`.
    pub url: String,
    /// The session server's certificate, PEM (pinned by the relay as `CAPem`).
    pub certificate: String,
    /// The token the relay must send as `Authorization` (no "Bearer").
    pub authorization: String,
}

/// Body of `POST /api/v4/jobs/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    /// The runner's token.
    pub token: String,
    /// The terminal session for the job it gets; a runner without one gets
    /// jobs without a terminal.
    pub session: Option<SessionInfo>,
}

/// A job as the app hands it to a runner (201 to `POST /api/v4/jobs/request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Job id.
    pub id: u64,
    /// Job name.
    pub name: String,
    /// Shell script (run by `sh -c`).
    pub script: String,
    /// Seconds before the job's environment exists and a terminal can
    /// attach; usually 0.
    #[serde(default)]
    pub prepare_seconds: u64,
}

/// Body of `PUT /api/v4/jobs/:id`: the job's log while it runs, then its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobUpdate {
    /// The runner's token.
    pub token: String,
    /// `running` (log only), `success` or `failed`.
    pub state: JobStatus,
    /// The job's log.
    #[serde(default)]
    pub trace: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_api_in_gitlab_s_shapes() {
        let request = JobRequest {
            token: "t".into(),
            session: Some(SessionInfo { url: "https://h:1/session/a".into(), certificate: "PEM".into(), authorization: "x".into() }),
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["session"]["authorization"], "x");
        assert_eq!(serde_json::from_value::<JobRequest>(json).unwrap(), request);
        let update: JobUpdate = serde_json::from_str(r#"{"token":"t","state":"success"}"#).unwrap();
        assert_eq!((update.state, update.trace.as_str()), (JobStatus::Success, ""));
        assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"token":"t","state":"success","trace":""}"#);
        let spec: JobSpec = serde_json::from_str(r#"{"id":3,"name":"n","script":"s"}"#).unwrap();
        assert_eq!(spec.prepare_seconds, 0);
    }

    #[test]
    fn job_json_round_trips() {
        let job = JobJson {
            id: 7,
            name: "build".into(),
            status: JobStatus::Running,
            project: "demo/shop".into(),
            user: "developer".into(),
            has_terminal: true,
            web_path: "/demo/shop/-/jobs/7".into(),
            terminal_path: "/demo/shop/-/jobs/7/terminal".into(),
            trace: String::new(),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.contains(r#""status":"running""#), "{text}");
        assert_eq!(serde_json::from_str::<JobJson>(&text).unwrap(), job);
        for status in [JobStatus::Pending, JobStatus::Running, JobStatus::Success, JobStatus::Failed] {
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{}\"", status.as_str()));
        }
        let new: NewJob = serde_json::from_str(r#"{"name":"x","script":"id"}"#).unwrap();
        assert_eq!(new.prepare_seconds, 0);
    }
}

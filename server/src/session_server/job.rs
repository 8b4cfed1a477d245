//! Asking the app for jobs and running them, as GitLab Runner does: a new
//! session goes with every request; a job's script runs in a PTY; its
//! terminal stays available for `session_timeout` after the script ends.

use super::registry::{JobSession as Session, ServerState};
use crate::secrets::random_id;
use crate::pty::{self, Spec};
use crate::sandbox::Enclosure;
use crate::shutdown::Shutdown;
use shared::jobs::{JobRequest, JobSpec, JobStatus, JobUpdate, SessionInfo};
use shared::porthole::TerminalSize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Who asks for jobs, and where: the session server's half of the runner API.
pub(crate) struct Runner {
    /// `host:port` the session server advertises in session URLs.
    pub advertise: String,
    /// The session server's certificate, PEM, sent with every session.
    pub certificate: String,
    /// The app.
    pub app_url: url::Url,
    /// The runner's token.
    pub runner_token: String,
    /// Jobs run in folders under it.
    pub jobs_dir: PathBuf,
}

/// Longest job log kept (the tail beyond it is dropped): 512 KiB, which
/// stays under the app's body limit even when JSON escapes every byte.
const MAX_TRACE: usize = 512 << 10;

/// After the script exits, its output is read until quiet this long, and at
/// most [`DRAIN_MAX`]: a background job may hold the terminal open forever.
const DRAIN_IDLE: Duration = Duration::from_millis(150);
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// Asks the app for a job every `poll_interval` until shutdown.
pub(crate) async fn request_jobs(state: Arc<ServerState>, runner: Runner, shutdown: Shutdown) {
    let Runner { advertise, certificate, app_url, runner_token, jobs_dir } = runner;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("plain HTTP client");
    let request_url = app_url.join("/api/v4/jobs/request").expect("valid path");
    loop {
        let id = random_id(32);
        let session = SessionInfo {
            url: format!("https://{advertise}/session/{id}"),
            certificate: certificate.clone(),
            authorization: random_id(32),
        };
        let answer = http.post(request_url.clone()).json(&JobRequest { token: runner_token.clone(), session: Some(session.clone()) }).send().await;
        match answer {
            Ok(r) if r.status() == http::StatusCode::CREATED => match r.json::<JobSpec>().await {
                Ok(job) => {
                    tracing::info!(job = job.id, name = job.name, "received a job");
                    let s = Arc::new(Session {
                        token: session.authorization.clone(),
                        job_id: job.id,
                        dir: jobs_dir.join(job.id.to_string()),
                        ready: tokio::sync::watch::Sender::new(false),
                        attached: Default::default(),
                        closing: tokio::sync::watch::Sender::new(None),
                    });
                    state.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.clone(), s.clone());
                    let run = run_job(state.clone(), id, s, job, http.clone(), app_url.clone(), runner_token.clone(), shutdown.clone());
                    tokio::spawn(run);
                    continue; // ask again at once: there may be more
                }
                Err(e) => tracing::warn!(error = %e, "unreadable job from the app"),
            },
            Ok(r) if r.status() == http::StatusCode::NO_CONTENT => {}
            Ok(r) => tracing::warn!(status = r.status().as_u16(), "job request refused"),
            Err(e) => tracing::debug!(error = %e, "job request failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(state.config.poll_interval) => {}
            () = shutdown.wait() => return,
        }
    }
}

/// Runs one job: prepare, script, terminal window, finish.
#[allow(clippy::too_many_arguments)]
async fn run_job(
    state: Arc<ServerState>,
    id: String,
    session: Arc<Session>,
    job: JobSpec,
    http: reqwest::Client,
    app_url: url::Url,
    runner_token: String,
    shutdown: Shutdown,
) {
    state.live_jobs.send_modify(|n| *n += 1);
    let (status, trace) = tokio::select! {
        result = prepare_and_run(&session, &job, &state) => result,
        () = shutdown.wait() => (JobStatus::Failed, "the runner is shutting down\n".to_string()),
    };
    tracing::info!(job = job.id, status = status.as_str(), "job script finished; terminal stays available");
    // The log now, while the job (and its terminal) stays running.
    let url = app_url.join(&format!("/api/v4/jobs/{}", job.id)).expect("valid path");
    let running = JobUpdate { token: runner_token.clone(), state: JobStatus::Running, trace: trace.clone() };
    if let Err(e) = http.put(url).json(&running).send().await {
        tracing::warn!(job = job.id, error = %e, "could not send the job's log");
    }
    let timeout = Duration::from_secs(state.config.session_timeout);
    tokio::select! {
        () = tokio::time::sleep(timeout) => {}
        () = shutdown.wait() => {}
    }
    // The URL is dead from here on; an attached terminal is told why.
    state.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    session
        .closing
        .send_replace(Some(format!("terminal session timed out (maximum time allowed - {}s)", state.config.session_timeout)));
    let url = app_url.join(&format!("/api/v4/jobs/{}", job.id)).expect("valid path");
    let update = JobUpdate { token: runner_token, state: status, trace };
    // A few tries: a job left "running" in the app would offer a dead terminal.
    for attempt in 1..=3 {
        match http.put(url.clone()).json(&update).send().await {
            Ok(r) if r.status().is_success() => break,
            Ok(r) => tracing::warn!(job = job.id, status = r.status().as_u16(), attempt, "the app refused the job's end"),
            Err(e) => tracing::warn!(job = job.id, error = %e, attempt, "could not report the job's end"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    state.live_jobs.send_modify(|n| *n -= 1);
    tracing::info!(job = job.id, status = status.as_str(), "job finished");
}

/// The job's folder, the prepare time, then its script in a PTY; returns the
/// state (`success`/`failed`) and the log.
async fn prepare_and_run(session: &Session, job: &JobSpec, state: &ServerState) -> (JobStatus, String) {
    if let Err(e) = state.sandbox.workspace(&session.dir) {
        session.ready.send_replace(true);
        return (JobStatus::Failed, format!("cannot create the job's folder: {e}\n"));
    }
    tokio::time::sleep(Duration::from_secs(job.prepare_seconds)).await;
    session.ready.send_replace(true);
    let enclosure = state.sandbox.enclosure(&job_hostname(session.job_id));
    let spec = Spec {
        argv: vec!["sh".into(), "-c".into(), job.script.clone()],
        env: job_env(session, enclosure.as_ref()),
        cwd: session.dir.clone(),
        size: TerminalSize { cols: 120, rows: 40 },
        user: state.sandbox.user,
        enclosure,
    };
    let mut process = match pty::spawn(&spec) {
        Ok(p) => p,
        Err(e) => return (JobStatus::Failed, format!("cannot start the script: {e}\n")),
    };
    let mut trace = Vec::new();
    let mut buf = [0u8; 8192];
    let mut exit = None;
    let mut drain_until = tokio::time::Instant::now();
    loop {
        let exited = exit.is_some();
        let quiet = (tokio::time::Instant::now() + DRAIN_IDLE).min(drain_until);
        tokio::select! {
            read = process.reader.read(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    let room = MAX_TRACE - trace.len();
                    trace.extend_from_slice(&buf[..n.min(room)]);
                }
                // EOF/EIO: every holder of the terminal is gone.
                _ => break,
            },
            status = process.child.wait(), if !exited => {
                exit = Some(status.map(pty::exit_code).unwrap_or(255));
                drain_until = tokio::time::Instant::now() + DRAIN_MAX;
            }
            () = tokio::time::sleep_until(quiet), if exited => break,
        }
    }
    let pty::PtyProcess { mut child, pid, reader, writer } = process;
    let code = match exit {
        Some(code) => code,
        None => child.wait().await.map(pty::exit_code).unwrap_or(255),
    };
    // Whatever the script left running ends with it.
    drop((reader, writer));
    pty::hang_up_now(child, pid, state.kill_grace).await;
    let state = if code == 0 { JobStatus::Success } else { JobStatus::Failed };
    (state, String::from_utf8_lossy(&trace).into_owned())
}

/// The hostname of job `id`'s processes (script and terminal).
pub(crate) fn job_hostname(id: u64) -> String {
    format!("job-{id}")
}

/// The environment of the job's script and terminal: a clean one, `HOME`
/// and `CI_PROJECT_DIR` its folder as the job sees it.
pub(crate) fn job_env(session: &Session, enclosure: Option<&Enclosure>) -> Vec<(String, String)> {
    let home = Enclosure::home(enclosure, &session.dir);
    vec![
        ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("HOME".into(), home.display().to_string()),
        ("CI_PROJECT_DIR".into(), home.display().to_string()),
        ("TERM".into(), "xterm-256color".into()),
        ("CI".into(), "true".into()),
        ("CI_JOB_ID".into(), session.job_id.to_string()),
    ]
}

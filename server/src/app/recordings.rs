//! Session recordings, as the app sees them: files the relay writes as
//! `<recordings dir>/<audit id>.cast` (asciicast v2, [`shared::asciicast`]),
//! served to admins from the audit log and deleted after the retention
//! period (`recording_retention_days`).

use super::error::AppError;
use super::state::App;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tower::ServiceExt;
use tower_sessions::Session;

/// The media type of asciicast files.
pub const ASCIICAST_TYPE: &str = "application/x-asciicast";

/// The file of audit entry `id` in `dir`, if `id` can name one
/// ([`shared::asciicast::file_name`]).
pub fn recording_path(dir: &FsPath, id: &str) -> Option<PathBuf> {
    shared::asciicast::file_name(id).map(|name| dir.join(name))
}

/// `?download=true` asks for an attachment.
#[derive(Debug, serde::Deserialize)]
pub struct Download {
    /// Serve as `<id>.cast` to save, not to show.
    #[serde(default)]
    pub download: bool,
}

/// `GET /api/v4/audit_events/:id/recording` (admins): the recording, with
/// `Range` support so a player can start before the whole file is read;
/// 404 when there is none.
pub async fn recording(
    State(app): State<Arc<App>>,
    session: Session,
    Path(id): Path<String>,
    Query(download): Query<Download>,
    request: Request,
) -> Result<Response, AppError> {
    let admin = app.require_admin(Some(&session)).await?;
    let not_found = || AppError::NotFound("404 Recording Not Found".into());
    let path = recording_path(&app.recordings, &id).ok_or_else(not_found)?;
    if !path.is_file() {
        return Err(not_found());
    }
    tracing::info!(by = admin.username, id, download = download.download, "a recording was read");
    let Ok(served) =
        tower_http::services::ServeFile::new_with_mime(&path, &ASCIICAST_TYPE.parse().expect("a valid media type")).oneshot(request).await;
    let mut response = served.into_response();
    if download.download {
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"porthole-{id}.cast\"")) {
            response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// Deletes recordings in `dir` last written more than `days` days before
/// `now` (0 = keep all); returns how many went.
pub fn sweep(dir: &FsPath, days: u64, now: SystemTime) -> std::io::Result<usize> {
    if days == 0 {
        return Ok(0);
    }
    let Some(cutoff) = now.checked_sub(Duration::from_secs(days.saturating_mul(24 * 3600))) else { return Ok(0) };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "cast") {
            continue;
        }
        let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|at| at < cutoff);
        if old && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

impl App {
    /// Applies the retention setting once: logs what went, and why not.
    pub async fn sweep_recordings(&self) {
        let days = match self.db.recording_retention_days().await {
            Ok(days) => days,
            Err(e) => return tracing::warn!(error = %e, "reading recording_retention_days failed"),
        };
        let dir = self.recordings.clone();
        match tokio::task::spawn_blocking(move || sweep(&dir, days, SystemTime::now())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, days, "old recordings deleted"),
            Ok(Err(e)) => tracing::warn!(error = %e, "deleting old recordings failed"),
            Err(e) => tracing::warn!(error = %e, "deleting old recordings failed"),
        }
    }

    /// True when audit entry `id` has a recording.
    pub fn has_recording(&self, id: &str) -> bool {
        recording_path(&self.recordings, id).is_some_and(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_deletes_only_old_recordings() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let write = |name: &str, age_days: u64| {
            let path = dir.path().join(name);
            std::fs::write(&path, "{}\n").unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(now - Duration::from_secs(age_days * 24 * 3600)).unwrap();
        };
        write("old.cast", 31);
        write("new.cast", 29);
        write("old.txt", 400);
        assert_eq!(sweep(dir.path(), 0, now).unwrap(), 0);
        assert_eq!(sweep(dir.path(), 30, now).unwrap(), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["new.cast", "old.txt"]);
        assert_eq!(sweep(&dir.path().join("missing"), 30, now).unwrap(), 0);
    }
}

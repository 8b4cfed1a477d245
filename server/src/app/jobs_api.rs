//! The job endpoints: `/api/v4/projects/:id/jobs` for people, and GitLab
//! Runner's `POST /api/v4/jobs/request` and `PUT /api/v4/jobs/:id` for the
//! session server.

use super::extract::ApiPath;
use super::error::AppError;
use super::jobs;
use super::state::App;
use super::users;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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
    ApiPath((id, job_id)): ApiPath<(String, u64)>,
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

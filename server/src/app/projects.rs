//! `GET /api/v4/projects` and `GET /api/v4/projects/:id/environments`.

use super::db::{Environment, Project};
use super::error::{AppError, db_error};
use super::state::App;
use super::users;
use axum::Json;
use axum::extract::{Path, State};
use shared::api::{EnvironmentJson, ProjectJson};
use shared::paths::{Suffix, TerminalKind, TerminalTarget};
use std::sync::Arc;

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
        terminal_path: TerminalTarget::new(project.path.clone(), TerminalKind::Environment, e.id).path(Suffix::TerminalPage),
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

//! The role check: who may do what on a project, GitLab's way — 401
//! signed out, 404 not a member (they cannot see the project), 403 with the
//! role it takes. Every authorize, terminals.json and API handler asks here.

use super::db::Project;
use super::error::{AppError, db_error};
use super::state::App;
use super::users;

impl App {
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
    pub(super) async fn role_check(&self, user: Option<users::User>, project: &str, need: users::Role, to: &str) -> Result<users::User, AppError> {
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

}

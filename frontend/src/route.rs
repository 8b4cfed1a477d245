//! Which page a URL path shows. Terminal paths follow [`shared::paths`],
//! the grammar the server's router uses too (project paths may have nested
//! groups, so they are matched from the `-/` separator, as GitLab's routes
//! do).

use shared::paths::{Suffix, TerminalKind, TerminalTarget};

/// A page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `/`: projects and environments.
    Landing,
    /// `/users/sign_in`.
    SignIn,
    /// `/admin`: the admin area (GitLab's "Admin area").
    Admin,
    /// `/admin/audit/<id>/replay`: a session recording.
    Replay {
        /// The audit log entry.
        id: String,
    },
    /// `/<project>/-/environments/<id>/terminal`.
    EnvironmentTerminal {
        /// `namespace/project`.
        project: String,
        /// Environment id.
        id: u64,
    },
    /// `/<project>/-/jobs/<id>`.
    Job {
        /// `namespace/project`.
        project: String,
        /// Job id.
        id: u64,
    },
    /// `/<project>/-/jobs/<id>/terminal`.
    JobTerminal {
        /// `namespace/project`.
        project: String,
        /// Job id.
        id: u64,
    },
    /// Anything else.
    NotFound,
}

impl Page {
    /// The page for a path (a trailing `/` is ignored).
    pub fn from_path(path: &str) -> Page {
        let path = path.trim_end_matches('/');
        match path {
            "" => return Page::Landing,
            "/users/sign_in" => return Page::SignIn,
            "/admin" => return Page::Admin,
            _ => {}
        }
        if let Some(id) = path.strip_prefix("/admin/audit/").and_then(|rest| rest.strip_suffix("/replay")) {
            if shared::asciicast::file_name(id).is_some() {
                return Page::Replay { id: id.to_string() };
            }
        }
        if let Some(TerminalTarget { project, kind, id }) = TerminalTarget::parse_as(path, Suffix::TerminalPage) {
            return match kind {
                TerminalKind::Environment => Page::EnvironmentTerminal { project, id },
                TerminalKind::Job => Page::JobTerminal { project, id },
            };
        }
        match TerminalTarget::parse(path) {
            Some(TerminalTarget { project, kind: TerminalKind::Job, id }) => Page::Job { project, id },
            _ => Page::NotFound,
        }
    }

    /// The terminal page's WebSocket path (`…/terminal.ws`).
    pub fn websocket_path(&self) -> Option<String> {
        let target = match self {
            Page::EnvironmentTerminal { project, id } => TerminalTarget::new(project.clone(), TerminalKind::Environment, *id),
            Page::JobTerminal { project, id } => TerminalTarget::new(project.clone(), TerminalKind::Job, *id),
            _ => return None,
        };
        Some(target.path(Suffix::TerminalWs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(Page::from_path("/admin/audit/a1_B-2/replay"), Page::Replay { id: "a1_B-2".into() });
        assert_eq!(Page::from_path("/admin/audit/../replay"), Page::NotFound);
        assert_eq!(Page::from_path("/"), Page::Landing);
        assert_eq!(Page::from_path("/users/sign_in"), Page::SignIn);
        assert_eq!(Page::from_path(""), Page::Landing);
        assert_eq!(Page::from_path("/admin"), Page::Admin);
        assert_eq!(Page::from_path("/admin/"), Page::Admin);
        assert_eq!(Page::Admin.websocket_path(), None);
        let t = Page::from_path("/demo/shop/-/environments/1/terminal");
        assert_eq!(t, Page::EnvironmentTerminal { project: "demo/shop".into(), id: 1 });
        assert_eq!(t.websocket_path().as_deref(), Some("/demo/shop/-/environments/1/terminal.ws"));
        assert_eq!(
            Page::from_path("/a/b/c/-/environments/7/terminal/"),
            Page::EnvironmentTerminal { project: "a/b/c".into(), id: 7 }
        );
        assert_eq!(Page::from_path("/demo/shop/-/jobs/3"), Page::Job { project: "demo/shop".into(), id: 3 });
        let j = Page::from_path("/demo/shop/-/jobs/3/terminal");
        assert_eq!(j.websocket_path().as_deref(), Some("/demo/shop/-/jobs/3/terminal.ws"));
        for bad in [
            "/shop/-/environments/1/terminal",
            "/demo/shop/-/environments/x/terminal",
            "/demo/shop",
            "/demo//shop/-/environments/1/terminal",
            // The server refuses a `-` segment in a project path; so does the page.
            "/demo/-/shop/-/environments/1/terminal",
            "/demo/shop/-/environments/1",
            "/admin/users",
        ] {
            assert_eq!(Page::from_path(bad), Page::NotFound, "{bad}");
        }
    }
}

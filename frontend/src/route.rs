//! Which page a URL path shows. Project paths may have nested groups, so the
//! path is matched from the `-/` separator, as GitLab's routes do.

/// A page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `/`: projects and environments.
    Landing,
    /// `/users/sign_in`.
    SignIn,
    /// `/admin`: the admin area (GitLab's "Admin area").
    Admin,
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
    /// The page for a path.
    pub fn from_path(path: &str) -> Page {
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Page::Landing;
        }
        if path == "/users/sign_in" {
            return Page::SignIn;
        }
        if path == "/admin" {
            return Page::Admin;
        }
        let Some((project, tail)) = path.trim_start_matches('/').split_once("/-/") else { return Page::NotFound };
        if project.split('/').count() < 2 || project.split('/').any(str::is_empty) {
            return Page::NotFound;
        }
        let project = project.to_string();
        let id = |id: &str| id.bytes().all(|b| b.is_ascii_digit()).then(|| id.parse::<u64>().ok()).flatten();
        match tail.split('/').collect::<Vec<_>>().as_slice() {
            ["environments", n, "terminal"] => id(n).map_or(Page::NotFound, |id| Page::EnvironmentTerminal { project, id }),
            ["jobs", n] => id(n).map_or(Page::NotFound, |id| Page::Job { project, id }),
            ["jobs", n, "terminal"] => id(n).map_or(Page::NotFound, |id| Page::JobTerminal { project, id }),
            _ => Page::NotFound,
        }
    }

    /// The terminal page's WebSocket path (`…/terminal.ws`).
    pub fn websocket_path(&self) -> Option<String> {
        match self {
            Page::EnvironmentTerminal { project, id } => Some(format!("/{project}/-/environments/{id}/terminal.ws")),
            Page::JobTerminal { project, id } => Some(format!("/{project}/-/jobs/{id}/terminal.ws")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
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
            "/admin/users",
        ] {
            assert_eq!(Page::from_path(bad), Page::NotFound, "{bad}");
        }
    }
}

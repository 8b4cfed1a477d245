//! The URL grammar of terminals, one parse and one format for the server's
//! router and the browser's.
//!
//! GitLab's routes (`config/routes/project.rb`, Workhorse
//! `internal/upstream/routes.go`): a project path of two or more segments
//! (nested groups allowed, no empty segment, no `-` segment), then `/-/`,
//! then `environments/<id>` or `jobs/<id>` with `<id>` ASCII digits only
//! (Workhorse's `[0-9]+`: no sign, no spaces) fitting a `u64`, then a
//! [`Suffix`]:
//!
//! | path | what |
//! |------|------|
//! | `/<project>/-/jobs/<id>` | a job's page |
//! | `/<project>/-/{environments,jobs}/<id>/terminal` | the terminal page |
//! | `…/terminal.ws` | the terminal's WebSocket (the relay) |
//! | `…/terminal.ws/authorize` | the relay's authorize call (the app) |
//! | `/<project>/-/environments/<id>/terminals.json` | an environment's terminals |

/// What a terminal belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminalKind {
    /// `-/environments/<id>`: a container of a pod.
    Environment,
    /// `-/jobs/<id>`: a CI job on a runner.
    Job,
}

impl TerminalKind {
    /// The path segment: `"environments"` or `"jobs"`.
    pub fn segment(self) -> &'static str {
        match self {
            TerminalKind::Environment => "environments",
            TerminalKind::Job => "jobs",
        }
    }
}

/// What follows `/<project>/-/<kind>/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    /// Nothing: the environment's or job's own page.
    None,
    /// `/terminal`: the terminal page.
    TerminalPage,
    /// `/terminal.ws`: the terminal WebSocket.
    TerminalWs,
    /// `/terminal.ws/authorize`: the authorize call.
    Authorize,
    /// `/terminals.json`: an environment's pods and containers.
    TerminalsJson,
}

impl Suffix {
    /// The suffix's text, `""` or starting with `/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Suffix::None => "",
            Suffix::TerminalPage => "/terminal",
            Suffix::TerminalWs => "/terminal.ws",
            Suffix::Authorize => "/terminal.ws/authorize",
            Suffix::TerminalsJson => "/terminals.json",
        }
    }
}

/// An environment or a job of a project: what a terminal path names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TerminalTarget {
    /// `namespace/project` (nested groups allowed), without slashes around.
    pub project: String,
    /// Environment or job.
    pub kind: TerminalKind,
    /// The environment's or job's id.
    pub id: u64,
}

impl TerminalTarget {
    /// A target; `project` is `namespace/project`.
    pub fn new(project: impl Into<String>, kind: TerminalKind, id: u64) -> TerminalTarget {
        TerminalTarget { project: project.into(), kind, id }
    }

    /// Parses `/<project>/-/<kind>/<id>` (no suffix); `None` for anything
    /// outside the grammar.
    pub fn parse(path: &str) -> Option<TerminalTarget> {
        let (project, tail) = path.strip_prefix('/')?.split_once("/-/")?;
        if !is_project_path(project) {
            return None;
        }
        let (kind, id) = match tail.split_once('/')? {
            ("environments", id) => (TerminalKind::Environment, id),
            ("jobs", id) => (TerminalKind::Job, id),
            _ => return None,
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(TerminalTarget::new(project, kind, id.parse().ok()?))
    }

    /// Parses a path that must end in `suffix`.
    pub fn parse_as(path: &str, suffix: Suffix) -> Option<TerminalTarget> {
        TerminalTarget::parse(path.strip_suffix(suffix.as_str())?)
    }

    /// The path of this target with `suffix`:
    /// `/demo/shop/-/environments/1/terminal.ws`.
    pub fn path(&self, suffix: Suffix) -> String {
        format!("/{}/-/{}/{}{}", self.project, self.kind.segment(), self.id, suffix.as_str())
    }
}

/// True for a project path GitLab would route: two or more segments, none
/// empty and none `-` (`a/b`, `group/sub/project`; not `a`, `a//b`, `a/-/b`).
pub fn is_project_path(project: &str) -> bool {
    let mut segments = 0;
    for segment in project.split('/') {
        if segment.is_empty() || segment == "-" {
            return false;
        }
        segments += 1;
    }
    segments >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suffix_round_trips() {
        let suffixes = [Suffix::None, Suffix::TerminalPage, Suffix::TerminalWs, Suffix::Authorize, Suffix::TerminalsJson];
        for target in [
            TerminalTarget::new("demo/shop", TerminalKind::Environment, 1),
            TerminalTarget::new("a/b/c", TerminalKind::Job, u64::MAX),
        ] {
            for suffix in suffixes {
                let path = target.path(suffix);
                assert_eq!(TerminalTarget::parse_as(&path, suffix).as_ref(), Some(&target), "{path}");
            }
        }
        assert_eq!(
            TerminalTarget::new("demo/shop", TerminalKind::Environment, 1).path(Suffix::TerminalWs),
            "/demo/shop/-/environments/1/terminal.ws"
        );
        assert_eq!(TerminalTarget::new("demo/shop", TerminalKind::Job, 7).path(Suffix::None), "/demo/shop/-/jobs/7");
    }

    #[test]
    fn outside_the_grammar() {
        for path in [
            "",
            "/",
            "demo/shop/-/environments/1",
            "/shop/-/environments/1",
            "/demo/shop/-/environments/x",
            "/demo/shop/-/environments/+1",
            "/demo/shop/-/environments/ 1",
            "/demo/shop/-/environments/",
            "/demo//shop/-/environments/1",
            "/demo/-/shop/-/environments/1",
            "/demo/shop/-/environments/1/extra",
            "/demo/shop/-/pipelines/1",
            "/demo/shop/-/environments/99999999999999999999999",
        ] {
            assert_eq!(TerminalTarget::parse(path), None, "{path:?}");
        }
        assert_eq!(TerminalTarget::parse_as("/demo/shop/-/jobs/1/terminal.ws/extra", Suffix::TerminalWs), None);
    }

    #[test]
    fn project_paths() {
        assert!(is_project_path("a/b") && is_project_path("g/sub/p") && is_project_path("a.b/c_d-e"));
        for bad in ["a", "", "a/", "/a/b", "a//b", "a/-/b", "-/b"] {
            assert!(!is_project_path(bad), "{bad}");
        }
    }
}

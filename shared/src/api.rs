//! The app's `/api/v4` JSON, as GitLab's REST API names things, for the
//! server (serialize) and the browser's admin pages (deserialize).
//!
//! Besides what the types name: `DELETE /api/v4/projects/:id` (admins;
//! its environments and memberships go with it), `DELETE
//! /api/v4/admin/clusters/:cluster_id`
//! (admins; 409 while an environment uses it) and `DELETE
//! /api/v4/projects/:id/environments/:environment_id` (admins) answer 204.
//!
//! Every management call needs a signed-in user; changing anything but
//! projects' members takes an admin (GitLab's `is_admin`), members take a
//! Maintainer of the project or an admin. Errors are `{"message": "…"}`
//! with 400 (bad input), 401 (signed out), 403 (not allowed), 404 (no such
//! thing, or one the user cannot see), 409 (already exists).

use serde::{Deserialize, Serialize};

/// `GET /api/v4/user`, and one entry of `GET /api/v4/users` (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserJson {
    /// Username.
    pub username: String,
    /// Admin flag (GitLab `is_admin`).
    pub is_admin: bool,
}

/// `POST /api/v4/users` (admins): a new user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Username: 1–64 characters of `a-zA-Z0-9_.-`.
    pub username: String,
    /// Password: at least 8 characters.
    pub password: String,
    /// Admin flag (GitLab's `admin` parameter).
    #[serde(default)]
    pub admin: bool,
}

/// `PUT /api/v4/users/:username` (admins): a new password or admin flag;
/// absent fields stay. Answers the [`UserJson`]. Admins cannot take their
/// own admin flag (no lock-out); `DELETE /api/v4/users/:username` (204)
/// cannot delete oneself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateUser {
    /// New password: at least 8 characters.
    pub password: Option<String>,
    /// New admin flag.
    pub admin: Option<bool>,
}

/// One project in `GET /api/v4/projects` (the projects the user can see:
/// all for admins, else those they are a member of).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectJson {
    /// Numeric id, the `:id` of `/api/v4/projects/:id`.
    pub id: u64,
    /// `namespace/project` (nested groups allowed).
    pub path_with_namespace: String,
}

/// `POST /api/v4/projects` (admins): a new project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProject {
    /// `namespace/project`: two or more segments of `a-zA-Z0-9_.-`.
    pub path_with_namespace: String,
}

/// A project role: GitLab's access levels (`Gitlab::Access`), ordered so
/// that `a >= b` means "a may do what b may".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// 10.
    Guest,
    /// 20.
    Reporter,
    /// 30.
    Developer,
    /// 40.
    Maintainer,
    /// 50.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [Role::Guest, Role::Reporter, Role::Developer, Role::Maintainer, Role::Owner];

    /// The numeric access level (`access_level` in the API).
    pub fn access_level(self) -> i64 {
        match self {
            Role::Guest => 10,
            Role::Reporter => 20,
            Role::Developer => 30,
            Role::Maintainer => 40,
            Role::Owner => 50,
        }
    }

    /// The role of an access level; `None` for a level GitLab has no role for.
    pub fn from_access_level(level: i64) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.access_level() == level)
    }

    /// The role's name as GitLab shows it: `"Developer"`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Guest => "Guest",
            Role::Reporter => "Reporter",
            Role::Developer => "Developer",
            Role::Maintainer => "Maintainer",
            Role::Owner => "Owner",
        }
    }

    /// The name for an access level: the role's, or `"Access level N"`
    /// for a level without one.
    pub fn name_of_level(level: i64) -> String {
        Role::from_access_level(level).map_or_else(|| format!("Access level {level}"), |r| r.name().to_string())
    }
}

/// One member in `GET /api/v4/projects/:id/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJson {
    /// Username.
    pub username: String,
    /// GitLab access level: 10 Guest, 20 Reporter, 30 Developer,
    /// 40 Maintainer, 50 Owner.
    pub access_level: i64,
}

/// `POST /api/v4/projects/:id/members` (add or change; GitLab's `PUT
/// …/members/:user` changes one too): a user's access level.
pub type NewMember = MemberJson;

/// One environment in `GET /api/v4/projects/:id/environments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentJson {
    /// Numeric id, unique across projects.
    pub id: u64,
    /// Name, e.g. `production`.
    pub name: String,
    /// Slug (`$CI_ENVIRONMENT_SLUG`).
    pub slug: String,
    /// Always `available`.
    pub state: String,
    /// The environment's terminal page, e.g.
    /// `/demo/shop/-/environments/1/terminal`.
    pub terminal_path: String,
    /// The cluster's name (`local` is the built-in local cluster).
    pub cluster: String,
    /// The Kubernetes namespace of its pods.
    pub namespace: String,
}

/// `POST /api/v4/projects/:id/environments` (admins): a new environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEnvironment {
    /// Name; its slug is derived from it.
    pub name: String,
    /// A cluster's name, or `local`.
    pub cluster: String,
    /// The Kubernetes namespace of its pods.
    pub namespace: String,
}

/// A cluster's connection (GitLab's `platform_kubernetes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformKubernetes {
    /// `https://host:port` of the Kubernetes API.
    pub api_url: String,
    /// CA certificate(s), PEM; empty = the system's roots.
    #[serde(default)]
    pub ca_cert: String,
}

/// One cluster in `GET /api/v4/admin/clusters` (admins). The token is
/// never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterJson {
    /// Numeric id.
    pub id: u64,
    /// Name, referred to by environments.
    pub name: String,
    /// Connection.
    pub platform_kubernetes: PlatformKubernetes,
}

/// The attributes of `POST /api/v4/admin/clusters/add` (GitLab's
/// `platform_kubernetes_attributes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformKubernetesAttributes {
    /// `https://host:port` of the Kubernetes API.
    pub api_url: String,
    /// A service account's bearer token.
    pub token: String,
    /// CA certificate(s), PEM; empty = the system's roots.
    #[serde(default)]
    pub ca_cert: String,
}

/// `POST /api/v4/admin/clusters/add` (admins): a new cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCluster {
    /// Name: 1–64 characters of `a-zA-Z0-9_.-`, not `local`.
    pub name: String,
    /// Connection and credentials.
    pub platform_kubernetes_attributes: PlatformKubernetesAttributes,
}

/// `PUT /api/v4/admin/clusters/:cluster_id` (admins): a cluster's new
/// connection; absent fields stay as they are. Answers the [`ClusterJson`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateCluster {
    /// What changes.
    pub platform_kubernetes_attributes: PlatformKubernetesUpdate,
}

/// The changed fields of [`UpdateCluster`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformKubernetesUpdate {
    /// New `https://host:port` of the Kubernetes API.
    pub api_url: Option<String>,
    /// New bearer token.
    pub token: Option<String>,
    /// New CA certificate(s), PEM; empty = the system's roots.
    pub ca_cert: Option<String>,
}

/// `GET` and `PUT /api/v4/application/settings` (admins): the settings
/// Porthole has. A `PUT` may leave fields out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationSettings {
    /// Seconds a terminal session may last, 0 = no limit (the default);
    /// sent as the Channel's `MaxSessionTime`. Admin > Settings > Web
    /// terminal in GitLab.
    pub terminal_max_session_time: u64,
    /// Seconds without keystrokes or output after which the relay ends a
    /// terminal session (close code 4012), 0 = never (the default); the
    /// page warns a minute before. Sent as the Channel's `IdleTimeout`.
    /// Admin > Settings > Web terminal.
    #[serde(default)]
    pub terminal_idle_timeout: u64,
    /// Record every terminal session as asciicast v2 (output and resizes,
    /// never input), replayable from the audit log. Default on.
    #[serde(default = "on")]
    pub terminal_recording: bool,
    /// Days recordings are kept; 0 = forever. Default 30.
    #[serde(default = "default_retention")]
    pub recording_retention_days: u64,
}

fn on() -> bool {
    true
}

fn default_retention() -> u64 {
    DEFAULT_RECORDING_RETENTION_DAYS
}

/// The default of [`ApplicationSettings::recording_retention_days`].
pub const DEFAULT_RECORDING_RETENTION_DAYS: u64 = 30;

/// The largest `terminal_max_session_time` accepted: 366 days, in seconds.
pub const MAX_SESSION_TIME_LIMIT: u64 = 366 * 24 * 3600;

/// `PUT /api/v4/application/settings`: fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsUpdate {
    /// See [`ApplicationSettings::terminal_max_session_time`]; at most
    /// [`MAX_SESSION_TIME_LIMIT`].
    pub terminal_max_session_time: Option<u64>,
    /// See [`ApplicationSettings::terminal_idle_timeout`]; at most
    /// [`MAX_SESSION_TIME_LIMIT`].
    #[serde(default)]
    pub terminal_idle_timeout: Option<u64>,
    /// See [`ApplicationSettings::terminal_recording`].
    #[serde(default)]
    pub terminal_recording: Option<bool>,
    /// See [`ApplicationSettings::recording_retention_days`].
    #[serde(default)]
    pub recording_retention_days: Option<u64>,
}

/// What became of a terminal session, in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Authorized, and not (yet) reported ended.
    Opened,
    /// The app refused it (401, 403, 404, …).
    Refused,
    /// It ran and ended.
    Ended,
}

/// One terminal session in `GET /api/v4/audit_events` (admins), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Opaque id.
    pub id: String,
    /// Who, when signed in.
    pub username: Option<String>,
    /// `namespace/project`.
    pub project: String,
    /// `environment production` or `job 7`.
    pub target: String,
    /// Pod, for environment terminals.
    pub pod: Option<String>,
    /// Container, for environment terminals.
    pub container: Option<String>,
    /// Opened, refused or ended.
    pub outcome: AuditOutcome,
    /// When it was asked for: milliseconds since the Unix epoch.
    pub started_at: u64,
    /// When it ended: milliseconds since the Unix epoch.
    pub ended_at: Option<u64>,
    /// Bytes typed (browser → terminal).
    pub bytes_in: u64,
    /// Bytes of output (terminal → browser).
    pub bytes_out: u64,
    /// Why it was refused or ended, in words.
    pub reason: Option<String>,
    /// The close code it ended with (4000–4011, or 1009).
    pub close_code: Option<u16>,
    /// The process's exit status, when it exited.
    pub exit_code: Option<i32>,
    /// A recording is kept: `GET /api/v4/audit_events/:id/recording`
    /// (asciicast v2; `?download=true` as a `.cast` attachment).
    #[serde(default)]
    pub recording: bool,
}

/// What the relay reports when a session ends:
/// `POST /api/v4/internal/terminal_sessions/:id` signed like an authorize
/// request (the `Gitlab-Workhorse-Api-Request` JWT). `:id` is the
/// [`AUDIT_ID_HEADER`] of the authorize answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnded {
    /// Bytes typed (browser → terminal).
    pub bytes_in: u64,
    /// Bytes of output (terminal → browser).
    pub bytes_out: u64,
    /// The close code sent to the browser.
    pub close_code: u16,
    /// The reason sent to the browser.
    pub reason: String,
    /// The process's exit status, when it exited.
    pub exit_code: Option<i32>,
}

/// One terminal of an environment, from
/// `GET /<project>/-/environments/<id>/terminals.json`: a container of a
/// Running pod. `{"pod":"web-1","container":"app","created_at":"2026-11-29T14:00:00Z"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalJson {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// The pod's `creationTimestamp`, RFC 3339; `null` when the cluster
    /// did not say.
    pub created_at: Option<String>,
}

/// The body of every refusal from the app (GitLab's API shape):
/// `{"message": "403 Forbidden"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    /// Words for the person.
    pub message: String,
}

/// Response header of a successful authorize: the audit log entry of the
/// session it opens. The relay sends it back on re-authorization (so no new
/// entry is made) and in its end report.
pub const AUDIT_ID_HEADER: &str = "porthole-audit-id";

/// Response header of every successful authorize: the username it was
/// granted to (absent for a signed-out grant). The relay lets only the same
/// user resume a session.
pub const USER_HEADER: &str = "porthole-user";

/// Where a resumable session runs, for relays that do not hold it:
/// `PUT`/`GET`/`DELETE /api/v4/internal/relay_sessions/:id` (signed with
/// the relay JWT). `{"owner":"http://10.0.0.5:8080","token_sha256":"…","username":"maintainer"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelaySession {
    /// The owner relay's internal URL (`--relay-url`), where other relays
    /// forward a resume or a viewer.
    pub owner: String,
    /// The resume token's SHA-256, lowercase hex: a relay checks a token
    /// before forwarding, without knowing it.
    pub token_sha256: String,
    /// The session's user.
    pub username: Option<String>,
}

/// Response header of a first authorize when sessions are recorded: the
/// recording's title (`demo/shop · environment production · pod web-1 ·
/// container app`), percent-encoded. The relay then writes
/// `<recordings dir>/<audit id>.cast`.
pub const RECORDING_HEADER: &str = "porthole-recording";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_names_on_the_wire() {
        let c: NewCluster = serde_json::from_str(
            r#"{"name":"prod","platform_kubernetes_attributes":{"api_url":"https://k:6443","token":"t"}}"#,
        )
        .unwrap();
        assert_eq!(c.platform_kubernetes_attributes.ca_cert, "");
        let s: SettingsUpdate = serde_json::from_str(r#"{"terminal_max_session_time":3}"#).unwrap();
        assert_eq!(s.terminal_max_session_time, Some(3));
        assert_eq!(serde_json::to_string(&AuditOutcome::Refused).unwrap(), r#""refused""#);
        let u: NewUser = serde_json::from_str(r#"{"username":"a","password":"b"}"#).unwrap();
        assert!(!u.admin);
    }

    #[test]
    fn roles_round_trip_through_access_levels() {
        for role in Role::ALL {
            assert_eq!(Role::from_access_level(role.access_level()), Some(role));
        }
        assert_eq!(Role::from_access_level(15), None);
        assert_eq!(Role::name_of_level(40), "Maintainer");
        assert_eq!(Role::name_of_level(10), "Guest");
        assert_eq!(Role::name_of_level(30), "Developer");
        assert_eq!(Role::name_of_level(50), "Owner");
        assert_eq!(Role::name_of_level(35), "Access level 35");
        assert!(Role::ALL.windows(2).all(|w| w[0].access_level() < w[1].access_level()), "lowest first");
        assert!(Role::Owner > Role::Maintainer && Role::Developer > Role::Guest);
    }

    #[test]
    fn terminals_json_and_errors_round_trip() {
        let t = TerminalJson { pod: "web-1".into(), container: "app".into(), created_at: None };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#"{"pod":"web-1","container":"app","created_at":null}"#);
        assert_eq!(serde_json::from_str::<TerminalJson>(&text).unwrap(), t);
        let e: ErrorJson = serde_json::from_str(r#"{"message":"404 Not Found"}"#).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"message":"404 Not Found"}"#);
    }
}

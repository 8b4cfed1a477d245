//! Run-time configuration of one `porthole` process, and the data dir.
//!
//! The data dir (`--data-dir`, default `./data`) holds everything generated
//! on first start and kept across restarts:
//!
//! ```text
//! <data-dir>/workhorse_secret              base64 of 32 bytes: relay ↔ app JWT key
//! <data-dir>/local-cluster/ca.crt          the local cluster's CA (PEM)
//! <data-dir>/local-cluster/server.{crt,key} its serving certificate and key
//! <data-dir>/local-cluster/token           the bearer token it requires
//! <data-dir>/local-cluster/kubeconfig      a kubeconfig for kubectl
//! <data-dir>/local-cluster/pods/<ns>/<pod>/ each pod's working directory
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a [`crate::Porthole`] needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the browser-facing HTTP server (app, relay, frontend) listens;
    /// port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the local cluster's Kubernetes API (HTTPS) listens; port 0 picks
    /// a free port and the kubeconfig is rewritten with it.
    pub cluster_listen: SocketAddr,
    /// Run the local cluster (`--no-local-cluster` turns it off: in a real
    /// deployment its pods would run in Porthole's own container, beside
    /// its secrets). Off, environments on `local` answer 502 and the demo
    /// cannot be on. Default on.
    pub local_cluster: bool,
    /// The data dir (see the module doc).
    pub data_dir: PathBuf,
    /// The built frontend (`trunk build` output).
    pub dist_dir: PathBuf,
    /// The app the relay authorizes against (GitLab Rails' role); `None` =
    /// the app in this process, reached over HTTP like any other.
    pub app_url: Option<url::Url>,
    /// The relay ↔ app JWT secret (base64 of at least 16 bytes), shared by
    /// every relay and app process; `None` = `<data-dir>/workhorse_secret`,
    /// generated on first start. A configured file must exist.
    pub workhorse_secret_file: Option<PathBuf>,
    /// The app's database: `sqlite://…` or `postgres://…`; `None` =
    /// `sqlite://<data-dir>/porthole.db`.
    pub database_url: Option<String>,
    /// The demo users' password; `None` = a random one, printed once when
    /// the users are created.
    pub demo_password: Option<String>,
    /// The password of an admin `root` created when no user named `root`
    /// exists yet (GitLab's `GITLAB_ROOT_PASSWORD`): how a non-demo
    /// configuration gets its first admin. At least 8 characters.
    pub initial_root_password: Option<String>,
    /// Mark the session cookie `Secure` (serve over https, e.g. behind a
    /// TLS-terminating proxy).
    pub secure_cookies: bool,
    /// The app's configuration file: clusters, projects, environments
    /// ([`crate::app::config_file`]); `None` = the demo only.
    pub config_file: Option<PathBuf>,
    /// The session server for CI job terminals (GitLab Runner's
    /// `[session_server]`); `None` = job terminals disabled. Used when no
    /// config file is given (a config file's own section wins).
    pub session_server: Option<crate::session_server::SessionServerConfig>,
    /// Browser origins (`scheme://host[:port]`) allowed to open terminals
    /// besides the server's own host (cross-site WebSocket hijacking defence).
    pub allowed_origins: Vec<String>,
    /// Accept a terminal WebSocket that carries cookies but no `Origin`
    /// (`--allow-missing-origin`; browsers always send one). Default off.
    pub allow_missing_origin: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client, for sign-in
    /// limits and logs (`--trusted-proxies`; [`crate::proxy`]). Default none:
    /// the peer address is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The relay asks authorize again this often during a session (GitLab:
    /// 5 minutes; Porthole: 30 s).
    pub reauthorize_interval: Duration,
    /// The relay pings the browser this often (Workhorse: 30 s).
    pub browser_ping_interval: Duration,
    /// How long a session outlives a lost browser, and how much output it
    /// keeps for the page's return (`--resume-grace`, `--resume-buffer`).
    pub resume: crate::relay::resume::ResumeSettings,
    /// On shutdown, how long running sessions may go on (told when they
    /// end) before the rest end with 4008 (`--shutdown-grace`, default 30 s).
    pub shutdown_grace: Duration,
    /// Where Prometheus scrapes `/metrics` (`--metrics-listen`); `None` =
    /// no metrics. Never the public listener.
    pub metrics_listen: Option<SocketAddr>,
    /// This relay's URL for other relays (`--relay-url`), when several run
    /// behind one proxy with a shared database: sessions are registered
    /// with the app, and resumes and viewers reaching another relay are
    /// forwarded here. `None` = it runs alone.
    pub relay_url: Option<url::Url>,
    /// Where session recordings go (`--recordings-dir`); `None` =
    /// `<data dir>/recordings`. A relay apart from its app must share it.
    pub recordings_dir: Option<PathBuf>,
    /// The most a session's recording may grow to, in bytes
    /// (`--recording-max-bytes`, default 64 MiB); then it stops with a marker.
    pub recording_max_bytes: u64,
    /// Whom local-cluster pods run as (`--sandbox-user`); `None` =
    /// `porthole-pod` (created when missing) when Porthole runs as root,
    /// else Porthole's own user, with a warning ([`crate::sandbox`]).
    pub sandbox_user: Option<String>,
    /// Whom CI jobs run as (`--job-user`); `None` = `porthole-job` as root,
    /// else Porthole's own user.
    pub job_user: Option<String>,
    /// How long the local cluster waits, after SIGHUP, before it SIGKILLs what
    /// is left of an exec's processes.
    pub kill_grace: Duration,
}

impl Config {
    /// Defaults for a data dir: listen on 127.0.0.1:8080, the local cluster on
    /// a free port, the frontend from `frontend/dist`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cluster_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            local_cluster: true,
            data_dir: data_dir.into(),
            dist_dir: PathBuf::from("frontend/dist"),
            app_url: None,
            workhorse_secret_file: None,
            config_file: None,
            database_url: None,
            demo_password: None,
            initial_root_password: None,
            secure_cookies: false,
            session_server: Some(crate::session_server::SessionServerConfig {
                // The demo's jobs keep their terminal 5 minutes, not 30.
                session_timeout: 300,
                ..crate::session_server::SessionServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
            }),
            allowed_origins: Vec::new(),
            allow_missing_origin: false,
            trusted_proxies: Vec::new(),
            reauthorize_interval: Duration::from_secs(30),
            browser_ping_interval: Duration::from_secs(30),
            resume: crate::relay::resume::ResumeSettings::default(),
            relay_url: None,
            metrics_listen: None,
            shutdown_grace: Duration::from_secs(30),
            recordings_dir: None,
            recording_max_bytes: 64 << 20,
            kill_grace: Duration::from_secs(2),
            sandbox_user: None,
            job_user: None,
        }
    }

    /// Loads the JWT secret: the configured file, or the data dir's (created
    /// when missing).
    pub fn workhorse_secret(&self) -> anyhow::Result<crate::jwt::WorkhorseSecret> {
        match &self.workhorse_secret_file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "workhorse secret file {} does not exist", path.display());
                crate::jwt::WorkhorseSecret::load_or_create(path)
            }
            None => crate::jwt::WorkhorseSecret::load_or_create(&self.data_dir.join("workhorse_secret")),
        }
    }

    /// Where session recordings go.
    pub fn recordings_dir(&self) -> PathBuf {
        self.recordings_dir.clone().unwrap_or_else(|| self.data_dir.join("recordings"))
    }

    /// The local cluster's folder in the data dir.
    pub fn cluster_dir(&self) -> PathBuf {
        self.data_dir.join("local-cluster")
    }
}

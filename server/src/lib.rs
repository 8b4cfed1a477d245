//! Porthole's server: a shell in a running pod, from the browser.
//!
//! One `porthole` process plays three roles, which talk to each other only
//! over the same HTTP and WebSocket contracts they would use across machines:
//!
//! - the **relay** ([`relay`], GitLab Workhorse's role) takes the browser's
//!   WebSocket on `…/-/environments/<id>/terminal.ws`, asks the app to
//!   authorize it over HTTP (a signed JWT, [`jwt`]), dials the upstream named
//!   in the answer's Channel settings, and only then upgrades the browser and
//!   relays frames, translating subprotocols ([`relay::browser`],
//!   [`relay::upstream`]) with flow control;
//! - the **app** ([`app`], GitLab Rails' role) knows projects, environments
//!   and clusters, finds an environment's pods through the Kubernetes API and
//!   answers authorize requests; it also serves the frontend's files;
//! - the **local cluster** ([`local_cluster`]) is a stand-in Kubernetes API
//!   server over TLS: pods as JSON, and exec over WebSocket into real PTYs
//!   ([`pty`]).
//!
//! [`Porthole::start`] starts all three on the addresses in [`Config`] (port 0
//! is fine: tests do that) and [`Porthole::shutdown`] ends every session.
// The exceptions: setting a pod's or job's process apart between fork and
// exec (`pre_exec` hooks, in `pty.rs` and `sandbox/enclosure.rs`), and
// malloc's settings (`memory.rs`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod codec;
pub mod config;
pub mod health;
pub mod exec_server;
pub mod jwt;
pub mod local_cluster;
pub mod memory;
pub mod prometheus;
pub mod proxy;
pub mod pty;
pub mod relay;
pub mod routes;
pub mod sandbox;
pub mod secrets;
pub mod session_server;
pub mod shutdown;
pub mod static_files;
pub mod tls;

pub use config::Config;

use app::App;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use local_cluster::LocalCluster;
use relay::Relay;
use routes::Route;
use shutdown::Shutdown;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A running porthole.
pub struct Porthole {
    /// Where the browser-facing server listens.
    pub addr: SocketAddr,
    /// The local cluster; `None` with `--no-local-cluster`.
    pub cluster: Option<LocalCluster>,
    /// The session server for job terminals, when enabled.
    pub session_server: Option<session_server::SessionServer>,
    demo: bool,
    shutdown: Shutdown,
    /// Begins shutdown: readiness fails, no new terminals, sessions told.
    draining: Shutdown,
    shutdown_grace: std::time::Duration,
    /// Stops the web server, after sessions have ended and been reported.
    stop_serving: Shutdown,
    pending: relay::audit::Pending,
    sessions: relay::resume::Sessions,
    server: tokio::task::JoinHandle<()>,
    /// Where `/metrics` is served, when `--metrics-listen` asked for it.
    pub metrics_addr: Option<SocketAddr>,
}

/// What the catch-all handler dispatches to.
struct Services {
    app: Arc<App>,
    relay: Relay,
    dist_dir: PathBuf,
}

impl Porthole {
    /// Terminal sessions running on the relay that a page may resume.
    pub fn relay_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Starts the local cluster, the app and the relay.
    pub async fn start(config: Config) -> anyhow::Result<Porthole> {
        tls::install_default_provider();
        // Recordings hold other people's sessions.
        let hidden = [config.recordings_dir()];
        let pods = sandbox::Sandbox::prepare(&config.data_dir, &hidden, config.sandbox_user.as_deref(), sandbox::POD_USER)?;
        let jobs = sandbox::Sandbox::prepare(&config.data_dir, &hidden, config.job_user.as_deref(), sandbox::JOB_USER)?;
        let shutdown = Shutdown::new();
        let draining = Shutdown::new();
        let secret = config.workhorse_secret()?;
        let cluster_options =
            local_cluster::Options {
            dir: config.cluster_dir(),
            sandbox: pods,
            listen: config.cluster_listen,
            kill_grace: config.kill_grace,
        };
        let file = config.config_file.as_deref().map(app::config_file::FileConfig::read).transpose()?;
        let demo = file.as_ref().is_none_or(|f| f.demo);
        // Mistakes in the file stop the start before anything is written.
        let seed = file.as_ref().map(app::config_file::FileConfig::resolve).transpose()?;
        if !config.local_cluster {
            app::config_file::FileConfig::runs_without_local_cluster(file.as_ref(), seed.as_ref())?;
        }
        let cluster = match config.local_cluster {
            true => Some(LocalCluster::start(cluster_options, shutdown.clone()).await?),
            false => None,
        };
        let local = cluster
            .as_ref()
            .map(|cluster| app::discovery::Cluster { api_url: cluster.api_url(), token: cluster.token.clone(), ca_pem: cluster.ca_pem.clone() });
        let runner_token = secrets::load_or_create(&config.data_dir.join("runner_token"), || secrets::random_id(32))?;
        let database_url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", config.data_dir.join("porthole.db").display()));
        let db = app::db::Database::connect(&database_url).await?;
        if demo {
            App::seed_demo(&db, local_cluster::pods::DEMO_NAMESPACE).await?;
            if let Some(password) = app::users::create_demo_users(&db, config.demo_password.as_deref()).await? {
                println!("demo users root (admin), maintainer, developer: password {password}");
            }
        }
        if let (Some(file), Some(seed)) = (&file, &seed) {
            file.seed(seed, &db).await?;
        }
        let token_files = seed.map(|seed| seed.token_files).unwrap_or_default();
        if let Some(password) = &config.initial_root_password {
            app::users::create_initial_root(&db, password).await?;
        }
        if db.users().await?.is_empty() {
            tracing::warn!("there are no users: set PORTHOLE_INITIAL_ROOT_PASSWORD (or --initial-root-password-file) to create the admin `root`");
        }
        let accounts = Arc::new(app::users::Accounts {
            db: db.clone(),
            limiter: Default::default(),
            proxies: proxy::TrustedProxies(config.trusted_proxies.clone()),
        });
        let recordings = config.recordings_dir();
        std::fs::create_dir_all(&recordings).map_err(|e| anyhow::anyhow!("creating {}: {e}", recordings.display()))?;
        let app = Arc::new(App::new(secret.clone(), local, runner_token.clone(), db.clone(), recordings.clone()).with_token_files(token_files));
        // Retention: now, then hourly.
        tokio::spawn({
            let app = app.clone();
            async move {
                let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
                loop {
                    hourly.tick().await;
                    app.sweep_recordings().await;
                }
            }
        });

        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        // This process's own app, over HTTP like any other client of it.
        let own_url = {
            let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
            let host = if host.contains(':') { format!("[{host}]") } else { host };
            url::Url::parse(&format!("http://{host}:{}", addr.port()))?
        };
        // The relay may authorize against another app (`--app-url`).
        let app_url = config.app_url.clone().unwrap_or_else(|| own_url.clone());
        let relay = Relay::new(
            app_url,
            secret,
            config.allowed_origins.clone(),
            config.browser_ping_interval,
            config.reauthorize_interval,
            shutdown.clone(),
        )
        .allow_missing_origin(config.allow_missing_origin)
        .with_resume(config.resume)
        .with_drain(draining.clone(), config.shutdown_grace)
        .with_relay_url(config.relay_url.clone())
        .with_recordings(relay::recording::RecordingSettings { dir: recordings, max_bytes: config.recording_max_bytes });
        let pending = relay.pending.clone();
        let sessions = relay.sessions.clone();
        let services = Arc::new(Services { app: app.clone(), relay, dist_dir: config.dist_dir.clone() });

        let dist = config.dist_dir.clone();
        // GET is the frontend's sign-in page; POST is the form's target.
        let sign_in_page = get(move |request: Request| {
            let dist = dist.clone();
            async move { static_files::serve(&dist, request).await }
        });
        let health = health::router(health::Health { db: db.clone(), shutdown: draining.clone() });
        let router = app::router(app, accounts, sign_in_page).merge(health).fallback(dispatch).with_state(services);
        let router = with_sessions(router, &db, config.secure_cookies, &shutdown)
            .await?
            .layer(axum::middleware::from_fn(routes::deny_websocket))
            .layer(axum::middleware::from_fn_with_state(Arc::new(config.allowed_origins.clone()), routes::deny_cross_site_writes))
            .layer(axum::extract::DefaultBodyLimit::max(app::extract::MAX_BODY))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let stop_serving = Shutdown::new();
        let graceful = stop_serving.clone();
        let server = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            // Keystrokes' echoes and small frames go out at once, not after
            // the browser's delayed ACK (Nagle).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(async move { graceful.wait().await }).await {
                tracing::error!(error = %e, "server failed");
            }
        });
        tracing::debug!(url = %format!("http://{addr}"), "porthole listening");
        let metrics_addr = match (config.metrics_listen, prometheus::install()) {
            (Some(listen), Some(handle)) => {
                let listener = tokio::net::TcpListener::bind(listen).await?;
                let metrics_addr = listener.local_addr()?;
                let stop = stop_serving.clone();
                tokio::spawn(async move {
                    let served = axum::serve(listener, prometheus::router(handle)).with_graceful_shutdown(async move { stop.wait().await });
                    if let Err(e) = served.await {
                        tracing::error!(error = %e, "the metrics server failed");
                    }
                });
                tracing::info!(addr = %metrics_addr, "metrics at /metrics");
                Some(metrics_addr)
            }
            (Some(_), None) => anyhow::bail!("the metrics recorder could not be installed"),
            (None, _) => None,
        };
        // Job terminals: the demo runs a session server unless a config file
        // leaves out its `[session_server]` section.
        let session_server_config = match &file {
            Some(file) => file.session_server.clone(),
            None => config.session_server.clone(),
        };
        let session_server = match session_server_config {
            Some(ss) => Some(
                session_server::SessionServer::start(
                    ss,
                    own_url,
                    runner_token,
                    jobs,
                    config.kill_grace,
                    shutdown.clone(),
                )
                .await?,
            ),
            None => None,
        };
        Ok(Porthole {
            addr,
            cluster,
            session_server,
            demo,
            shutdown,
            draining,
            shutdown_grace: config.shutdown_grace,
            stop_serving,
            pending,
            sessions,
            server,
            metrics_addr,
        })
    }

    /// True when the demo project is served.
    pub fn has_demo(&self) -> bool {
        self.demo
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drains, then ends every session: readiness fails and new terminals
    /// get 503 at once; running sessions are told they end after the
    /// shutdown grace and may end by themselves until then; the rest end
    /// with 4008 (every exec's processes hung up). Waits until every end is
    /// in the audit log, then stops serving.
    pub async fn shutdown(self) {
        // Drain first: readiness fails, new terminals get 503, and running
        // sessions hear when they end; those that end by themselves within
        // the grace period end as they would have.
        self.draining.trigger();
        if !self.shutdown_grace.is_zero() {
            tracing::info!(grace = ?self.shutdown_grace, "draining terminal sessions");
            self.pending.reported(self.shutdown_grace).await;
        }
        self.shutdown.trigger();
        if let Some(cluster) = &self.cluster {
            cluster.execs_ended(std::time::Duration::from_secs(5)).await;
        }
        if let Some(ss) = &self.session_server {
            ss.jobs_ended(std::time::Duration::from_secs(5)).await;
        }
        // Longer than a session waits for a silent browser's Close (5 s).
        self.pending.reported(std::time::Duration::from_secs(10)).await;
        self.stop_serving.trigger();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.server).await;
    }
}

/// How often expired login sessions are deleted from the database.
const EXPIRED_SESSIONS_SWEEP: std::time::Duration = std::time::Duration::from_secs(600);

/// Adds login sessions stored in `db`: cookie `_porthole_session`,
/// HttpOnly, SameSite=Lax, `Secure` when asked, expiring after 8 hours of
/// inactivity. Expired sessions are deleted every
/// [`EXPIRED_SESSIONS_SWEEP`] until shutdown (else the table only grows).
async fn with_sessions(router: Router, db: &app::db::Database, secure: bool, shutdown: &Shutdown) -> anyhow::Result<Router> {
    use tower_sessions::{ExpiredDeletion, Expiry, SessionManagerLayer, cookie::SameSite};
    fn sweep<S: ExpiredDeletion + Clone>(store: &S, shutdown: &Shutdown) {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                result = store.continuously_delete_expired(EXPIRED_SESSIONS_SWEEP) => {
                    if let Err(e) = result {
                        tracing::error!(error = %e, "deleting expired login sessions failed; no longer sweeping");
                    }
                }
                () = shutdown.wait() => {}
            }
        });
    }
    use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};
    fn layer<S: tower_sessions::SessionStore + Clone>(store: S, secure: bool) -> SessionManagerLayer<S> {
        SessionManagerLayer::new(store)
            .with_name("_porthole_session")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_expiry(Expiry::OnInactivity(time::Duration::hours(8)))
    }
    Ok(match db {
        app::db::Database::Sqlite(pool) => {
            let store = SqliteStore::new(pool.clone());
            store.migrate().await?;
            sweep(&store, shutdown);
            router.layer(layer(store, secure))
        }
        app::db::Database::Postgres(pool) => {
            let store = PostgresStore::new(pool.clone());
            store.migrate().await?;
            sweep(&store, shutdown);
            router.layer(layer(store, secure))
        }
    })
}

/// Terminal WebSockets to the relay, authorize requests to the app, anything
/// else to the frontend's files (`index.html` for unknown paths, so the
/// client-side router can take them).
async fn dispatch(State(services): State<Arc<Services>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    match routes::classify(request.uri().path()) {
        Route::TerminalWs { .. } if !routes::is_websocket_upgrade(request.headers()) => {
            tracing::info!(path = request.uri().path(), "terminal.ws without upgrade headers");
            (StatusCode::BAD_REQUEST, "this endpoint needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)\n")
                .into_response()
        }
        Route::TerminalWs { .. } => services.relay.handle(request, peer).await,
        Route::TerminalAuthorize { project, kind, id } => {
            let query = request.uri().query();
            let session = request.extensions().get::<tower_sessions::Session>();
            match services.app.authorize(request.headers(), query, session, &project, kind, id).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        }
        Route::TerminalsJson { project, id } => match services.app.terminals(request.extensions().get(), &project, id).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        },
        Route::Other => static_files::serve(&services.dist_dir, request).await,
    }
}


//! `porthole`: the relay, the app, the local cluster and a session server in
//! one process; `porthole session-server`: a session server alone.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A shell in a running pod, from the browser.
#[derive(Debug, Parser)]
#[command(name = "porthole", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where the web server (app, relay, frontend) listens.
    #[arg(long, env = "PORTHOLE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where generated secrets, certificates and the kubeconfig are kept.
    #[arg(long, env = "PORTHOLE_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// The built frontend (trunk's output).
    #[arg(long, env = "PORTHOLE_DIST_DIR", default_value = "frontend/dist")]
    dist_dir: PathBuf,
    /// Where the local cluster's Kubernetes API listens (port 0: any free port).
    #[arg(long, env = "PORTHOLE_CLUSTER_LISTEN", default_value = "127.0.0.1:0")]
    cluster_listen: SocketAddr,
    /// Do not run the local cluster (in production: its pods would run in
    /// Porthole's own container); environments on `local` answer 502.
    /// Needs `demo = false` in the config file.
    #[arg(long, env = "PORTHOLE_NO_LOCAL_CLUSTER")]
    no_local_cluster: bool,
    /// The app the relay authorizes against; default: this process.
    #[arg(long, env = "PORTHOLE_APP_URL")]
    app_url: Option<url::Url>,
    /// The relay ↔ app JWT secret file (base64); default: generated in the data dir.
    #[arg(long, env = "PORTHOLE_WORKHORSE_SECRET_FILE")]
    workhorse_secret_file: Option<PathBuf>,
    /// Browser origins allowed to open terminals besides this server's own
    /// (comma-separated `scheme://host[:port]`), e.g. `make dev`'s http://127.0.0.1:8081.
    #[arg(long, env = "PORTHOLE_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = server::routes::parse_allowed_origin)]
    allowed_origins: Vec<String>,
    /// Accept terminal WebSockets that carry the login cookie but no Origin
    /// header (non-browser clients; browsers always send one).
    #[arg(long, env = "PORTHOLE_ALLOW_MISSING_ORIGIN")]
    allow_missing_origin: bool,
    /// Reverse proxies (comma-separated CIDRs or addresses) whose
    /// X-Forwarded-For names the client, e.g. 127.0.0.1 for an nginx in front.
    #[arg(long, env = "PORTHOLE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = server::proxy::parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// The app's database: sqlite://… or postgres://… (default: a SQLite file in the data dir).
    #[arg(long, env = "PORTHOLE_DATABASE_URL")]
    database_url: Option<String>,
    /// The demo users' password (default: random, printed once).
    #[arg(long, env = "PORTHOLE_DEMO_PASSWORD", hide_env_values = true)]
    demo_password: Option<String>,
    /// Creates the admin `root` with this password when there is no user
    /// `root` yet (how a non-demo configuration gets its first admin).
    #[arg(long, env = "PORTHOLE_INITIAL_ROOT_PASSWORD", hide_env_values = true, conflicts_with = "initial_root_password_file")]
    initial_root_password: Option<String>,
    /// The same, read from a file.
    #[arg(long, env = "PORTHOLE_INITIAL_ROOT_PASSWORD_FILE")]
    initial_root_password_file: Option<PathBuf>,
    /// Mark the session cookie Secure (when served over https).
    #[arg(long, env = "PORTHOLE_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Seconds between re-authorizations of a running terminal session.
    #[arg(long, env = "PORTHOLE_REAUTHORIZE_INTERVAL", default_value_t = 30)]
    reauthorize_interval: u64,
    /// Seconds a terminal session waits for its page after the WebSocket
    /// drops without a Close (network blip, laptop lid, proxy restart);
    /// 0 = sessions end with their WebSocket.
    #[arg(long, env = "PORTHOLE_RESUME_GRACE", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    resume_grace: u64,
    /// Output bytes kept per session for a resuming page (older output is
    /// reported lost); suffixes K, M: 1M = 1 MiB.
    #[arg(long, env = "PORTHOLE_RESUME_BUFFER", default_value = "1M", value_parser = parse_size)]
    resume_buffer: usize,
    /// On SIGTERM/SIGINT: seconds running sessions may go on (their pages
    /// are told when they end) before the rest end with 4008.
    #[arg(long, env = "PORTHOLE_SHUTDOWN_GRACE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace: u64,
    /// Serve Prometheus metrics at /metrics on this address (e.g.
    /// 127.0.0.1:9229); off by default, and never on --listen.
    #[arg(long, env = "PORTHOLE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// This relay's URL for the other relays, when several run behind one
    /// proxy (and share the database and the workhorse secret), e.g.
    /// http://10.0.0.5:8080: a resume or a viewer reaching any relay then
    /// reaches the session.
    #[arg(long, env = "PORTHOLE_RELAY_URL", value_parser = parse_relay_url)]
    relay_url: Option<url::Url>,
    /// Where session recordings are written and served from (default:
    /// `<data dir>/recordings`); a relay apart from its app must share it.
    #[arg(long, env = "PORTHOLE_RECORDINGS_DIR")]
    recordings_dir: Option<PathBuf>,
    /// The largest recording of one session; then it stops with a marker.
    /// Suffixes K, M.
    #[arg(long, env = "PORTHOLE_RECORDING_MAX_BYTES", default_value = "64M", value_parser = parse_size)]
    recording_max_bytes: usize,
    /// Whom local-cluster pods run as (default when started as root:
    /// `porthole-pod`, created when missing; otherwise Porthole's own user,
    /// with a warning: they could then read the data dir).
    #[arg(long, env = "PORTHOLE_SANDBOX_USER")]
    sandbox_user: Option<String>,
    /// Whom CI jobs run as (default when started as root: `porthole-job`,
    /// created when missing; otherwise Porthole's own user).
    #[arg(long, env = "PORTHOLE_JOB_USER", global = true)]
    job_user: Option<String>,
    /// Clusters, projects and environments (TOML; see the README).
    #[arg(long, env = "PORTHOLE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object per line) for log shippers. Levels: PORTHOLE_LOG.
    #[arg(long, env = "PORTHOLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// `2026-12-07T16:00:00.000000Z  INFO server::relay::audit: session ended role="terminal" …`
    Text,
    /// `{"timestamp":"…","level":"INFO","fields":{"message":"session ended","role":"terminal",…},"target":"…"}`
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs only a session server for CI job terminals (GitLab Runner's
    /// role), configured by the `[session_server]` section of `--config`,
    /// asking the app at `--app-url` for jobs.
    SessionServer {
        /// The app to ask for jobs.
        #[arg(long, env = "PORTHOLE_APP_URL")]
        app_url: url::Url,
        /// The runners' token (the app's `<data-dir>/runner_token`).
        #[arg(long, env = "PORTHOLE_RUNNER_TOKEN_FILE")]
        runner_token_file: PathBuf,
    },
    /// Checks a configuration file and exits: 0 and a summary when porthole
    /// would start with it, else 1 and the first mistake (with its key, and
    /// its line for a wrong or misspelled key). Reads the token, CA and
    /// kubeconfig files it names; touches no database.
    CheckConfig {
        /// The TOML file; default: `--config`.
        file: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    server::memory::return_large_blocks();
    // Pods' and jobs' stand-bys run as the small binary beside this one.
    if let Some(standby) = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("porthole-standby"))).filter(|p| p.exists()) {
        server::sandbox::enclosure::relaunch_stand_bys(&standby);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logs(args.log_format);
    match args.command {
        Some(Command::SessionServer { app_url, runner_token_file }) => {
            return run_session_server(args.config, args.data_dir, args.job_user, app_url, runner_token_file).await;
        }
        Some(Command::CheckConfig { file }) => {
            let file = file.or(args.config).ok_or_else(|| anyhow::anyhow!("check-config: name a FILE (or --config)"))?;
            return check_config(&file, !args.no_local_cluster);
        }
        None => {}
    }
    let mut config = server::Config::new(args.data_dir);
    config.sandbox_user = args.sandbox_user;
    config.job_user = args.job_user;
    config.listen = args.listen;
    config.dist_dir = args.dist_dir;
    config.cluster_listen = args.cluster_listen;
    config.local_cluster = !args.no_local_cluster;
    config.app_url = args.app_url;
    config.workhorse_secret_file = args.workhorse_secret_file;
    config.config_file = args.config;
    config.allowed_origins = args.allowed_origins;
    config.allow_missing_origin = args.allow_missing_origin;
    config.trusted_proxies = args.trusted_proxies;
    config.database_url = args.database_url;
    config.demo_password = args.demo_password;
    config.secure_cookies = args.secure_cookies;
    config.initial_root_password = match (args.initial_root_password, args.initial_root_password_file) {
        (Some(password), _) => Some(password),
        (None, Some(file)) => Some(
            std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        (None, None) => None,
    };
    config.reauthorize_interval = std::time::Duration::from_secs(args.reauthorize_interval.max(1));
    config.recordings_dir = args.recordings_dir;
    config.relay_url = args.relay_url;
    config.metrics_listen = args.metrics_listen;
    config.shutdown_grace = std::time::Duration::from_secs(args.shutdown_grace);
    config.recording_max_bytes = args.recording_max_bytes as u64;
    config.resume = server::relay::resume::ResumeSettings {
        grace: std::time::Duration::from_secs(args.resume_grace),
        buffer: args.resume_buffer,
    };
    let porthole = server::Porthole::start(config).await?;
    server::memory::trim_periodically();
    // Tests and scripts read these two lines to find the ports.
    println!("porthole listening on {}", porthole.url());
    if let Some(cluster) = &porthole.cluster {
        println!("local cluster listening on {} (kubeconfig: {})", cluster.api_url(), cluster.kubeconfig.display());
    }
    if porthole.has_demo() {
        println!("open {}/demo/shop/-/environments/1/terminal", porthole.url());
    }
    stop_signal().await?;
    tracing::info!("shutting down");
    porthole.shutdown().await;
    Ok(())
}

/// Log lines to stderr, filtered by PORTHOLE_LOG (default `info`).
fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTHOLE_LOG").unwrap_or_else(|_| "info,tower_http=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// `porthole session-server`: job terminals only; disabled (an error) without
/// a `[session_server]` section.
async fn run_session_server(
    config: Option<PathBuf>,
    data_dir: PathBuf,
    job_user: Option<String>,
    app_url: url::Url,
    runner_token_file: PathBuf,
) -> anyhow::Result<()> {
    server::tls::install_default_provider();
    let config = config.ok_or_else(|| anyhow::anyhow!("--config is required: its [session_server] section configures the server"))?;
    let file = server::app::config_file::FileConfig::read(&config)?;
    let section = file
        .session_server
        .ok_or_else(|| anyhow::anyhow!("{}: no [session_server] section: job terminals are disabled", config.display()))?;
    let token = std::fs::read_to_string(&runner_token_file)?.trim().to_string();
    let shutdown = server::shutdown::Shutdown::new();
    let sandbox = server::sandbox::Sandbox::prepare(&data_dir, &[], job_user.as_deref(), server::sandbox::JOB_USER)?;
    let grace = std::time::Duration::from_secs(2);
    let ss = server::session_server::SessionServer::start(section, app_url, token, sandbox, grace, shutdown.clone()).await?;
    println!("session server listening on {} (advertised as https://{})", ss.addr, ss.advertise);
    stop_signal().await?;
    shutdown.trigger();
    // Report every job's end before the process goes.
    ss.jobs_ended(std::time::Duration::from_secs(10)).await;
    Ok(())
}

/// `porthole check-config FILE`; with `--no-local-cluster`, also what
/// needs the local cluster.
fn check_config(file: &std::path::Path, local_cluster: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let seed = server::app::config_file::FileConfig::read(file).and_then(|config| {
        let seed = config.resolve().with_context(|| format!("checking {}", file.display()))?;
        if !local_cluster {
            server::app::config_file::FileConfig::runs_without_local_cluster(Some(&config), Some(&seed))
                .with_context(|| format!("checking {} with --no-local-cluster", file.display()))?;
        }
        Ok((seed, config.session_server.is_some()))
    });
    match seed {
        Ok((seed, session_server)) => {
            println!(
                "{}: ok ({} clusters, {} projects, {} environments, job terminals {})",
                file.display(),
                seed.clusters.len(),
                seed.projects.len(),
                seed.environments.len(),
                if session_server { "on" } else { "off" }
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(1)
        }
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (systemd, Kubernetes, Docker):
/// either one shuts down cleanly (sessions end with 4008 and are audited).
async fn stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal,
        _ = term.recv() => Ok(()),
    }
}

/// `--relay-url`: `http://host:port` — relays talk over a private network.
fn parse_relay_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    if url.scheme() != "http" || url.host().is_none() {
        return Err(format!("{text:?}: an http://host:port URL (relays reach each other over a private network)"));
    }
    Ok(url)
}

/// A byte count: digits with an optional K (KiB) or M (MiB) suffix, at most 1 GiB.
fn parse_size(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.trim().to_ascii_uppercase() {
        t if t.ends_with('K') => (t.trim_end_matches('K').to_string(), 1usize << 10),
        t if t.ends_with('M') => (t.trim_end_matches('M').to_string(), 1usize << 20),
        t => (t, 1),
    };
    let n: usize = digits.parse().map_err(|_| format!("{text:?} is not a size (like 65536, 64K or 1M)"))?;
    n.checked_mul(unit).filter(|&n| n <= 1 << 30).ok_or_else(|| format!("{text:?} is over 1 GiB"))
}

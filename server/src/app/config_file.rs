//! The app's configuration file (`--config porthole.toml`): clusters, and
//! projects with their environments.
//!
//! ```toml
//! demo = true                      # keep the demo project (default true)
//! terminal_max_session_time = 0    # seconds; 0 = no limit; unset = keep the admin setting
//! terminal_idle_timeout = 900      # seconds without keystrokes or output; 0 = never; unset = keep
//!
//! [[clusters]]
//! name = "production"
//! api_url = "https://203.0.113.10:6443"
//! token_file = "/etc/porthole/production.token"   # or token = "…"
//! ca_file = "/etc/porthole/production-ca.crt"     # or ca_pem = "…"; none = system roots
//!
//! [[clusters]]
//! name = "staging"
//! kubeconfig = "/etc/porthole/staging.kubeconfig" # import one context
//! context = "staging"                             # default: current-context
//!
//! [[clusters]]
//! name = "here"
//! in_cluster = true   # Porthole's own pod's service account (in_cluster.rs)
//!
//! [[projects]]
//! id = 2
//! path = "acme/shop"
//!
//! [[projects.environments]]
//! id = 7
//! name = "production"
//! slug = "production"              # default: from the name
//! cluster = "production"           # or "local": the local cluster
//! namespace = "shop-production"
//! command = ["sh", "-c", "exec bash"]  # default: app::DEFAULT_COMMAND
//! ```
//!
//! At every start its clusters, projects and environments are written to the
//! database (by name and id), next to those made through the API.
//!
//! Only bearer-token credentials are supported (a service account token);
//! a kubeconfig context whose user has none is an error. A token read from
//! a file (`token_file`, a kubeconfig user's `tokenFile`, `in_cluster`) is
//! read again at every use, so a rotated token is picked up without a
//! restart ([`Seed::token_files`]).

use super::discovery::Cluster;
use super::db::{Database, LOCAL_CLUSTER};
use super::db::{Environment, Project};
use super::defaults::DEFAULT_COMMAND;
use super::in_cluster::read_token;
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Keep the demo project `demo/shop` (default true).
    #[serde(default = "yes")]
    pub demo: bool,
    /// GitLab's application setting `terminal_max_session_time`: seconds a
    /// terminal session may last, 0 = no limit (the default). It travels as
    /// the Channel's `MaxSessionTime`. When set, it is written to the
    /// database at every start; unset leaves the database's value (which
    /// admins change in Admin > Settings > Web terminal).
    #[serde(default)]
    pub terminal_max_session_time: Option<u64>,
    /// The application setting `terminal_idle_timeout`: seconds without
    /// keystrokes or output after which a session ends (4012), 0 = never
    /// (the default); written to the database at every start when set, as
    /// `terminal_max_session_time`.
    #[serde(default)]
    pub terminal_idle_timeout: Option<u64>,
    /// Clusters, by name.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// Projects.
    #[serde(default)]
    pub projects: Vec<ProjectConfig>,
    /// GitLab Runner's `[session_server]`: job terminals; absent = disabled.
    pub session_server: Option<crate::session_server::SessionServerConfig>,
}

fn yes() -> bool {
    true
}

/// A cluster: URL, token and CA, or one context of a kubeconfig.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Referred to by environments.
    pub name: String,
    /// `https://host:port` of the API server.
    pub api_url: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// CA certificate(s), PEM.
    pub ca_pem: Option<String>,
    /// File holding the CA certificate(s), PEM.
    pub ca_file: Option<PathBuf>,
    /// A kubeconfig to import instead.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; default its `current-context`.
    pub context: Option<String>,
    /// Use the service account of the pod Porthole runs in
    /// ([`super::in_cluster`]); no other credential key may be given.
    #[serde(default)]
    pub in_cluster: bool,
    /// Where that service account is mounted; default
    /// [`super::in_cluster::SERVICE_ACCOUNT_DIR`].
    pub service_account_dir: Option<PathBuf>,
}

/// A project.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Numeric id.
    pub id: u64,
    /// `namespace/project`.
    pub path: String,
    /// Environments.
    #[serde(default)]
    pub environments: Vec<EnvironmentConfig>,
}

/// An environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Numeric id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Slug; default derived from the name.
    pub slug: Option<String>,
    /// A cluster's name, or `local`.
    pub cluster: String,
    /// The namespace of its pods.
    pub namespace: String,
    /// The exec command; default [`DEFAULT_COMMAND`].
    pub command: Option<Vec<String>>,
}

impl FileConfig {
    /// Reads and parses a file.
    pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The clusters (resolved), projects and environments the file names;
    /// an error names the first mistake.
    pub fn resolve(&self) -> anyhow::Result<Seed> {
        let mut clusters: Vec<(String, Cluster)> = Vec::new();
        let mut token_files = Vec::new();
        for c in &self.clusters {
            let (cluster, token_file) = c.resolve().with_context(|| format!("cluster {:?}", c.name))?;
            if clusters.iter().any(|(name, _)| *name == c.name) || c.name == LOCAL_CLUSTER {
                bail!("cluster name {:?} is used twice (\"local\" is the local cluster's)", c.name);
            }
            if !cluster.ca_pem.trim().is_empty() {
                crate::tls::client_config(&cluster.ca_pem).map_err(|e| anyhow!("cluster {:?}: the CA: {}", c.name, e.0))?;
            }
            token_files.extend(token_file.map(|path| TokenFile { cluster: c.name.clone(), path, api_url: cluster.api_url.clone() }));
            clusters.push((c.name.clone(), cluster));
        }
        if self.terminal_max_session_time.is_some_and(|t| t > shared::api::MAX_SESSION_TIME_LIMIT) {
            bail!("terminal_max_session_time: at most {} seconds (0 = no limit)", shared::api::MAX_SESSION_TIME_LIMIT);
        }
        if self.terminal_idle_timeout.is_some_and(|t| t > shared::api::MAX_SESSION_TIME_LIMIT) {
            bail!("terminal_idle_timeout: at most {} seconds (0 = never)", shared::api::MAX_SESSION_TIME_LIMIT);
        }
        let mut projects: Vec<Project> = Vec::new();
        let mut environments: Vec<Environment> = Vec::new();
        for p in &self.projects {
            if projects.iter().any(|q| q.id == p.id) {
                bail!("[[projects]] id {} is used twice", p.id);
            }
            projects.push(Project { id: p.id, path: p.path.clone() });
            for e in &p.environments {
                if environments.iter().any(|f| f.id == e.id) {
                    bail!("[[projects.environments]] id {} is used twice (ids are unique across projects)", e.id);
                }
                if e.cluster != LOCAL_CLUSTER && !clusters.iter().any(|(name, _)| *name == e.cluster) {
                    bail!("environment {:?}: no cluster {:?}", e.name, e.cluster);
                }
                environments.push(Environment {
                    id: e.id,
                    project_id: p.id,
                    name: e.name.clone(),
                    slug: e.slug.clone().unwrap_or_else(|| super::defaults::slugify(&e.name)),
                    cluster: e.cluster.clone(),
                    namespace: e.namespace.clone(),
                    command: e.command.clone().unwrap_or_else(|| DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect()),
                });
            }
        }
        if let Some(address) = self.session_server.as_ref().and_then(|s| s.advertise_address.as_deref()) {
            anyhow::ensure!(!address.contains("://"), "[session_server] advertise_address {address:?}: host:port, without a scheme");
        }
        for (name, cluster) in &mut clusters {
            // The database never holds a file's token: the file is read at
            // every use, and a copy would outlive its rotation (and sit in
            // every backup).
            if token_files.iter().any(|f| f.cluster == *name) {
                cluster.token.clear();
            }
        }
        Ok(Seed { clusters, token_files, projects, environments })
    }

    /// Whether a configuration (`None`: no file, the demo) can run without
    /// the local cluster (`--no-local-cluster`): not with the demo, nor
    /// with an environment on `local`; the error says which.
    pub fn runs_without_local_cluster(file: Option<&FileConfig>, seed: Option<&Seed>) -> anyhow::Result<()> {
        if file.is_none_or(|f| f.demo) {
            bail!("the demo runs in the local cluster: set demo = false in the config file (--config) to run without it");
        }
        if let Some(env) = seed.and_then(|s| s.environments.iter().find(|e| e.cluster == LOCAL_CLUSTER)) {
            bail!("environment {:?} is on the local cluster, which --no-local-cluster turns off", env.name);
        }
        Ok(())
    }

    /// Writes what the file names into the database (at every start: the
    /// file wins over changes made through the API to the same names and
    /// ids), and `terminal_max_session_time` and `terminal_idle_timeout`
    /// when the file sets them.
    /// `seed` is this file's [`FileConfig::resolve`] (resolved once at
    /// start: it reads token and CA files).
    pub async fn seed(&self, seed: &Seed, db: &Database) -> anyhow::Result<()> {
        for (name, cluster) in &seed.clusters {
            db.put_cluster(name, cluster).await?;
        }
        // An id the API gave to something else is a mistake in the file,
        // not a rename: stop rather than move another project's things.
        for project in &seed.projects {
            if let Some(other) = db.project(&project.id.to_string()).await?.filter(|p| p.path != project.path) {
                bail!("project id {} is {} in the database, not {}: give the file's project another id", project.id, other.path, project.path);
            }
            db.put_project(project).await.with_context(|| format!("project {} (id {})", project.path, project.id))?;
        }
        for env in &seed.environments {
            if let Some(other) = db.environment_by_id(env.id).await?.filter(|e| e.project_id != env.project_id) {
                bail!("environment id {} belongs to project id {} in the database: give {:?} another id", env.id, other.project_id, env.name);
            }
            db.put_environment(env).await.with_context(|| format!("environment {} (id {})", env.name, env.id))?;
        }
        if let Some(seconds) = self.terminal_max_session_time {
            db.set_max_session_time(seconds).await?;
        }
        if let Some(seconds) = self.terminal_idle_timeout {
            db.set_idle_timeout(seconds).await?;
        }
        Ok(())
    }
}

/// A cluster whose bearer token is read from a file at every use.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenFile {
    /// The cluster's name.
    pub cluster: String,
    /// The file (`token_file`, a kubeconfig's `tokenFile`, the service
    /// account's `token`).
    pub path: PathBuf,
    /// The API URL the token is for: an admin who points the cluster
    /// elsewhere (API) does not get the file's token sent there.
    pub api_url: String,
}

/// What a config file puts in the database.
#[derive(Debug)]
pub struct Seed {
    /// Clusters by name.
    pub clusters: Vec<(String, Cluster)>,
    /// Clusters whose token comes from a file: the app reads the file
    /// again at every use ([`super::App::with_token_files`]); their entry
    /// in [`Seed::clusters`] has an empty token.
    pub token_files: Vec<TokenFile>,
    /// Projects.
    pub projects: Vec<Project>,
    /// Environments (naming clusters of the file, or `local`).
    pub environments: Vec<Environment>,
}

impl ClusterConfig {
    /// URL, token and CA from the fields, the kubeconfig or the pod's
    /// service account; and the file the token was read from, if any.
    pub fn resolve(&self) -> anyhow::Result<(Cluster, Option<PathBuf>)> {
        if self.in_cluster {
            let others = [self.api_url.is_some(), self.token.is_some(), self.token_file.is_some(), self.ca_pem.is_some(), self.ca_file.is_some(), self.kubeconfig.is_some()];
            anyhow::ensure!(!others.contains(&true), "in_cluster takes its URL, token and CA from the pod: remove api_url, token, token_file, ca_pem, ca_file and kubeconfig");
            let dir = self.service_account_dir.clone().unwrap_or_else(|| PathBuf::from(super::in_cluster::SERVICE_ACCOUNT_DIR));
            let (cluster, token_file) = super::in_cluster::resolve(&dir, |name| std::env::var(name).ok())?;
            return Ok((cluster, Some(token_file)));
        }
        anyhow::ensure!(self.service_account_dir.is_none(), "service_account_dir goes with in_cluster = true");
        if let Some(path) = &self.kubeconfig {
            return import_kubeconfig(path, self.context.as_deref());
        }
        let api_url = self.api_url.clone().ok_or_else(|| anyhow!("api_url, kubeconfig or in_cluster is required"))?;
        let token = match (&self.token, &self.token_file) {
            (Some(t), None) => t.clone(),
            (None, Some(f)) => read_token(f)?,
            _ => bail!("exactly one of token and token_file is required"),
        };
        let ca_pem = match (&self.ca_pem, &self.ca_file) {
            (Some(p), None) => p.clone(),
            (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
            (None, None) => String::new(),
            _ => bail!("at most one of ca_pem and ca_file"),
        };
        Ok((Cluster { api_url, token, ca_pem }, self.token_file.clone()))
    }
}

/// One context of a kubeconfig: its cluster's server and CA, its user's
/// token, and the user's `tokenFile` when the token comes from one.
pub fn import_kubeconfig(path: &Path, context: Option<&str>) -> anyhow::Result<(Cluster, Option<PathBuf>)> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let name = context
        .map(str::to_string)
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or_else(|| anyhow!("no context given and no current-context"))?;
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| anyhow!("no context {name:?}"))?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| anyhow!("no cluster {:?}", ctx.cluster))?;
    let user_name = ctx.user.as_deref().ok_or_else(|| anyhow!("context {name:?} has no user"))?;
    let user = kubeconfig
        .auth_infos
        .iter()
        .find(|u| u.name == user_name)
        .and_then(|u| u.auth_info.as_ref())
        .ok_or_else(|| anyhow!("no user {user_name:?}"))?;
    let api_url = cluster.server.clone().ok_or_else(|| anyhow!("cluster {:?} has no server", ctx.cluster))?;
    let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data.trim())?)?,
        (None, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
        (None, None) => String::new(),
    };
    let (token, token_file) = match (&user.token, &user.token_file) {
        (Some(token), _) => (token.expose_secret().to_string(), None),
        (None, Some(file)) => (read_token(Path::new(file))?, Some(PathBuf::from(file))),
        (None, None) => bail!("user {user_name:?} has no token: only bearer tokens are supported"),
    };
    Ok((Cluster { api_url, token, ca_pem }, token_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let text = format!(
            r#"
            [[clusters]]
            name = "production"
            api_url = "https://203.0.113.10:6443"
            token_file = "{}"

            [[projects]]
            id = 2
            path = "acme/shop"

            [[projects.environments]]
            id = 7
            name = "Review App"
            cluster = "production"
            namespace = "shop-production"

            [[projects.environments]]
            id = 8
            name = "dev"
            cluster = "local"
            namespace = "dev"
            command = ["sh"]
            "#,
            token.display()
        );
        let config: FileConfig = toml::from_str(&text).unwrap();
        assert!(config.demo);
        let seed = config.resolve().unwrap();
        // Read from the file at every use, never stored.
        assert_eq!(seed.clusters[0].1.token, "");
        let file = TokenFile { cluster: "production".into(), path: token.clone(), api_url: "https://203.0.113.10:6443".into() };
        assert_eq!(seed.token_files, [file]);
        let envs = &seed.environments;
        assert_eq!(envs[0].cluster, "production");
        assert_eq!(envs[0].slug, "review-app");
        assert_eq!(envs[0].command, DEFAULT_COMMAND);
        assert_eq!(envs[1].cluster, "local");
        assert_eq!(envs[1].command, ["sh"]);
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            "[[clusters]]\nname = \"a\"\n",
            "[[clusters]]\nname = \"a\"\napi_url = \"https://x\"\ntoken = \"t\"\ntoken_file = \"f\"\n",
            "[[clusters]]\nname = \"a\"\nin_cluster = true\napi_url = \"https://x\"\n",
            "[[clusters]]\nname = \"a\"\napi_url = \"https://x\"\ntoken = \"t\"\nservice_account_dir = \"/x\"\n",
            "[[projects]]\nid = 1\npath = \"a/b\"\n[[projects.environments]]\nid = 1\nname = \"p\"\ncluster = \"nope\"\nnamespace = \"n\"\n",
            "unknown_key = 1\n",
        ] {
            let parsed: Result<FileConfig, _> = toml::from_str(bad);
            assert!(parsed.map_err(anyhow::Error::from).and_then(|c| c.resolve()).is_err(), "{bad}");
        }
    }

    #[test]
    fn imports_a_kubeconfig_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let ca = base64::engine::general_purpose::STANDARD.encode("-----BEGIN CERTIFICATE-----\n");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
            ),
        )
        .unwrap();
        let (cluster, token_file) = import_kubeconfig(&path, None).unwrap();
        assert_eq!(token_file, None);
        assert_eq!(cluster.api_url, "https://10.0.0.1:6443");
        assert_eq!(cluster.token, "abc");
        assert!(cluster.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(import_kubeconfig(&path, Some("other")).is_err());
    }
}

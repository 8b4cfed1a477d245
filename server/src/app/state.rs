//! The app's state, and the lookups every handler starts with: which
//! project, environment and cluster a request names.

use super::db::{self, Environment, Project};
use super::discovery::Cluster;
use super::error::{AppError, db_error};
use super::jobs;
use crate::jwt::WorkhorseSecret;

/// The app's state.
pub struct App {
    /// Verifies that authorize requests come from a relay.
    pub(super) secret: WorkhorseSecret,
    /// The cluster built into this process (environments name it `local`);
    /// `None` when it is off (`--no-local-cluster`).
    pub(super) local: Option<Cluster>,
    /// CI jobs and the runner API.
    pub jobs: jobs::Jobs,
    /// Users, memberships, projects, environments, clusters, settings and
    /// the audit log.
    pub db: db::Database,
    /// Where the relay writes session recordings (`<id>.cast`).
    pub recordings: std::path::PathBuf,
    /// Clusters whose token is read from a file at every use (a rotated
    /// service account token), by name; see [`App::with_token_files`].
    token_files: std::collections::HashMap<String, super::config_file::TokenFile>,
}

impl App {
    /// An app on `db`, verifying relay requests with `secret`; `local` is
    /// the built-in cluster, if it runs; recordings are read from `recordings`.
    pub fn new(secret: WorkhorseSecret, local: Option<Cluster>, runner_token: String, db: db::Database, recordings: std::path::PathBuf) -> App {
        App { secret, local, jobs: jobs::Jobs::new(runner_token), db, recordings, token_files: Default::default() }
    }

    /// Reads these clusters' tokens from their files at every use instead
    /// of the database's copy (the config file's `token_file`s and
    /// `in_cluster`: [`super::config_file::Seed::token_files`]). Each app
    /// process reads its own files: replicas in a cluster each have their
    /// own projected token.
    pub fn with_token_files(self, files: impl IntoIterator<Item = super::config_file::TokenFile>) -> App {
        App { token_files: files.into_iter().map(|f| (f.cluster.clone(), f)).collect(), ..self }
    }

    /// Whether the local cluster runs in this process.
    pub fn has_local_cluster(&self) -> bool {
        self.local.is_some()
    }

    /// Whether the config file gives this cluster's token as a file (its
    /// credentials are then not the API's to change).
    pub fn has_token_file(&self, cluster: &str) -> bool {
        self.token_files.contains_key(cluster)
    }

    /// Creates the demo project `demo/shop` with environment `production`,
    /// whose pods are in the local cluster's `namespace`, where they are missing (ids 1
    /// and 1 in a new database). What an admin made meanwhile is kept: a
    /// start never renames or overwrites.
    pub async fn seed_demo(db: &db::Database, namespace: &str) -> anyhow::Result<()> {
        let project = match db.project("demo/shop").await? {
            Some(project) => project,
            None => db.create_project("demo/shop").await?.ok_or_else(|| anyhow::anyhow!("the demo project demo/shop cannot be created"))?,
        };
        if !db.environments(project.id).await?.iter().any(|e| e.slug == "production") {
            let env = db::Environment {
                id: 0,
                project_id: project.id,
                name: "production".into(),
                slug: "production".into(),
                cluster: db::LOCAL_CLUSTER.into(),
                namespace: namespace.into(),
                command: super::defaults::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
            };
            db.create_environment(&env).await?;
        }
        Ok(())
    }

    /// A project by numeric id or by its full path (the API's `:id`,
    /// e.g. `1` or `demo%2Fshop`); 404 when there is none.
    pub async fn project(&self, id_or_path: &str) -> Result<Project, AppError> {
        self.db.project(id_or_path).await.map_err(db_error)?.ok_or_else(|| AppError::NotFound("404 Project Not Found".into()))
    }

    /// A project's environment and the cluster it names; 404 when either is missing.
    pub(super) async fn environment(&self, project: &str, id: u64) -> Result<(Project, Environment, Cluster), AppError> {
        let not_found = || AppError::NotFound("environment not found".into());
        let project = self.db.project(project).await.map_err(db_error)?.ok_or_else(not_found)?;
        let env = self.db.environment(project.id, id).await.map_err(db_error)?.ok_or_else(not_found)?;
        let cluster = self.cluster(&env.cluster).await?;
        Ok((project, env, cluster))
    }

    /// A cluster by name: `local`, or a stored one, with its token file's
    /// current token when it has one; 502 when the file cannot be read.
    pub async fn cluster(&self, name: &str) -> Result<Cluster, AppError> {
        if name == db::LOCAL_CLUSTER {
            return self.local.clone().ok_or_else(|| AppError::Cluster("the local cluster is off (--no-local-cluster)".into()));
        }
        let mut cluster =
            self.db.cluster(name).await.map_err(db_error)?.ok_or_else(|| AppError::Cluster(format!("the environment's cluster {name:?} does not exist")))?;
        // Only for the URL the file's token is for.
        if let Some(file) = self.token_files.get(name).filter(|f| f.api_url == cluster.api_url) {
            cluster.token = super::in_cluster::read_token(&file.path).map_err(|e| {
                tracing::warn!(cluster = name, error = format!("{e:#}"), "the cluster's token file cannot be read");
                AppError::Cluster(format!("the token of cluster {name:?} cannot be read from its file"))
            })?;
        }
        Ok(cluster)
    }

}

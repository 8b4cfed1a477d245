//! The app's database: users, memberships, projects, environments, clusters,
//! application settings and the terminal audit log.
//!
//! One schema on two engines: a SQLite file in the data dir by default, and
//! PostgreSQL with a `postgres://` URL, so that several app processes share
//! one state. Every query is written once, with `$n` placeholders, which
//! both engines accept ([`on_pool!`]). Integers are `BIGINT`; times are
//! milliseconds since the Unix epoch.
//!
//! An environment names its cluster; `local` is the cluster built into this
//! process (its URL and token change with every start, so it is not stored).
//!
//! Why one long file: every SQL statement of the app is here, next to the
//! schema it must match and the two-engine helpers it goes through, so that
//! a schema change is checked against all its queries in one read; the
//! scenario tests at the end run each of them on both engines.

use super::discovery::Cluster;
use shared::api::Role;
use shared::api::{AuditEvent, AuditOutcome};

/// The name environments use for the built-in local cluster.
pub const LOCAL_CLUSTER: &str = "local";

/// The app's database.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file.
    Sqlite(sqlx::SqlitePool),
    /// A PostgreSQL database.
    Postgres(sqlx::PgPool),
}

/// Runs the same query on whichever pool (both accept `$1` placeholders).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

const SCHEMA: [&str; 9] = [
    "CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, admin BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS memberships (username TEXT NOT NULL, project TEXT NOT NULL, access_level BIGINT NOT NULL, PRIMARY KEY (username, project))",
    "CREATE TABLE IF NOT EXISTS projects (id BIGINT PRIMARY KEY, path TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS clusters (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, api_url TEXT NOT NULL, token TEXT NOT NULL, ca_pem TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS environments (id BIGINT PRIMARY KEY, project_id BIGINT NOT NULL, name TEXT NOT NULL, slug TEXT NOT NULL, \
     cluster TEXT NOT NULL, namespace TEXT NOT NULL, command TEXT NOT NULL, UNIQUE (project_id, name))",
    "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_events (id TEXT PRIMARY KEY, username TEXT, project TEXT NOT NULL, target TEXT NOT NULL, \
     pod TEXT, container TEXT, outcome TEXT NOT NULL, started_at BIGINT NOT NULL, ended_at BIGINT, bytes_in BIGINT NOT NULL DEFAULT 0, \
     bytes_out BIGINT NOT NULL DEFAULT 0, reason TEXT, close_code BIGINT, exit_code BIGINT)",
    "CREATE INDEX IF NOT EXISTS audit_events_started_at ON audit_events (started_at)",
    "CREATE TABLE IF NOT EXISTS relay_sessions (id TEXT PRIMARY KEY, owner TEXT NOT NULL, token_sha256 TEXT NOT NULL, username TEXT, \
     created_at BIGINT NOT NULL)",
];

/// A query with its `$n` placeholders bound, for whichever engine.
macro_rules! bound {
    ($sql:expr, $binds:expr) => {{
        let mut query = sqlx::query($sql);
        for bind in $binds.iter() {
            query = match *bind {
                Bind::Text(s) => query.bind(s),
                Bind::OptText(s) => query.bind(s),
                Bind::Int(n) => query.bind(n),
                Bind::OptInt(n) => query.bind(n),
            };
        }
        query
    }};
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Username.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Admins may do anything.
    pub admin: bool,
}

/// What became of a change to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Done.
    Done,
    /// There is no such user.
    NoSuchUser,
    /// Refused: nobody else is an admin.
    LastAdmin,
}

/// SQL: another user than `$1` is an admin.
const ANOTHER_ADMIN: &str = "EXISTS (SELECT 1 FROM users WHERE admin <> 0 AND username <> $1)";

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Numeric id, as in `/api/v4/projects/:id`.
    pub id: u64,
    /// Full path, `namespace/project`.
    pub path: String,
}

impl Project {
    /// GitLab's `full_path_slug` (`$CI_PROJECT_PATH_SLUG`), e.g.
    /// `demo/shop` → `demo-shop`.
    pub fn path_slug(&self) -> String {
        super::defaults::slugify(&self.path)
    }
}

/// An environment: where its pods are, and what a terminal runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Numeric id, unique across projects.
    pub id: u64,
    /// Its project's id.
    pub project_id: u64,
    /// Name, e.g. `production`.
    pub name: String,
    /// Slug, e.g. `production` (`$CI_ENVIRONMENT_SLUG`).
    pub slug: String,
    /// The name of the cluster its pods run in ([`LOCAL_CLUSTER`] = built in).
    pub cluster: String,
    /// The Kubernetes namespace of its pods.
    pub namespace: String,
    /// The command a terminal execs.
    pub command: Vec<String>,
}

/// A stored cluster.
#[derive(Debug, Clone)]
pub struct NamedCluster {
    /// Numeric id.
    pub id: u64,
    /// Name, referred to by environments.
    pub name: String,
    /// Connection and credentials.
    pub cluster: Cluster,
}

/// The start of an audit log entry.
#[derive(Debug, Clone, Default)]
pub struct AuditStart {
    /// Who, when signed in.
    pub username: Option<String>,
    /// `namespace/project`.
    pub project: String,
    /// `environment production` or `job 7`.
    pub target: String,
    /// Pod.
    pub pod: Option<String>,
    /// Container.
    pub container: Option<String>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

type EnvironmentRow = (i64, i64, String, String, String, String, String);

fn environment_from_row((id, project_id, name, slug, cluster, namespace, command): EnvironmentRow) -> Environment {
    Environment {
        id: to_u64(id),
        project_id: to_u64(project_id),
        name,
        slug,
        cluster,
        namespace,
        command: serde_json::from_str(&command).unwrap_or_else(|_| super::defaults::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect()),
    }
}

/// An environment's command as stored: a JSON array.
fn command_json(env: &Environment) -> String {
    serde_json::to_string(&env.command).unwrap_or_else(|_| "[]".into())
}

/// An environment's columns after its id, bound as `$2`…`$7`.
fn environment_binds<'a>(env: &'a Environment, command: &'a str) -> [Bind<'a>; 6] {
    [
        Bind::Int(to_i64(env.project_id)),
        Bind::Text(&env.name),
        Bind::Text(&env.slug),
        Bind::Text(&env.cluster),
        Bind::Text(&env.namespace),
        Bind::Text(command),
    ]
}

const ENVIRONMENT_COLUMNS: &str = "id, project_id, name, slug, cluster, namespace, command";

type AuditRow = (
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

impl Database {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and creates the
    /// tables it needs.
    pub async fn connect(url: &str) -> anyhow::Result<Database> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Database::Postgres(sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(url).await?)
        } else {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            Database::Sqlite(sqlx::sqlite::SqlitePoolOptions::new().max_connections(4).connect_with(options).await?)
        };
        for ddl in SCHEMA {
            on_pool!(&db, pool => sqlx::query(ddl).execute(pool).await.map(drop))?;
        }
        Ok(db)
    }

    async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> sqlx::Result<u64> {
        on_pool!(self, pool => bound!(sql, binds).execute(pool).await.map(|r| r.rows_affected()))
    }

    /// Runs `statements` in one transaction and returns the rows each one
    /// affected. With `lock_users`, PostgreSQL first locks the users table
    /// against other writers, so that a statement's check of the other rows
    /// ("another admin remains") still holds when it commits; SQLite
    /// serializes writers by itself.
    async fn transaction(&self, lock_users: bool, statements: &[(&str, &[Bind<'_>])]) -> sqlx::Result<Vec<u64>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if lock_users && matches!(self, Database::Postgres(_)) {
                sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let mut affected = Vec::new();
            for (sql, binds) in statements {
                affected.push(bound!(sql, binds).execute(&mut *tx).await?.rows_affected());
            }
            tx.commit().await?;
            Ok(affected)
        })
    }

    // ---- users and memberships

    /// A user by name.
    pub async fn user(&self, username: &str) -> sqlx::Result<Option<User>> {
        let sql = "SELECT username, password_hash, admin FROM users WHERE username = $1";
        let row: Option<(String, String, i64)> = on_pool!(self, pool => sqlx::query_as(sql).bind(username).fetch_optional(pool).await)?;
        Ok(row.map(|(username, password_hash, admin)| User { username, password_hash, admin: admin != 0 }))
    }

    /// Every user, by name.
    pub async fn users(&self) -> sqlx::Result<Vec<User>> {
        let sql = "SELECT username, password_hash, admin FROM users ORDER BY username";
        let rows: Vec<(String, String, i64)> = on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(username, password_hash, admin)| User { username, password_hash, admin: admin != 0 }).collect())
    }

    /// Creates a user, or when `replace` sets its password and admin flag;
    /// returns whether anything was written.
    pub async fn put_user(&self, username: &str, password: &str, admin: bool, replace: bool) -> anyhow::Result<bool> {
        if !replace && self.user(username).await?.is_some() {
            return Ok(false);
        }
        let hash = super::passwords::hash_password(password.to_string()).await?;
        // Without `replace`, a user created meanwhile by another request wins.
        let sql = if replace {
            "INSERT INTO users (username, password_hash, admin) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, admin = excluded.admin"
        } else {
            "INSERT INTO users (username, password_hash, admin) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        };
        Ok(self.execute(sql, &[Bind::Text(username), Bind::Text(&hash), Bind::Int(i64::from(admin))]).await? > 0)
    }

    /// Sets a user's password (a new argon2 hash) and/or admin flag, each
    /// column on its own (a racing change of the other one stays).
    pub async fn update_user(&self, username: &str, password: Option<&str>, admin: Option<bool>) -> anyhow::Result<UserChange> {
        if self.user(username).await?.is_none() {
            return Ok(UserChange::NoSuchUser);
        }
        if admin == Some(false) {
            let sql = format!("UPDATE users SET admin = 0 WHERE username = $1 AND {ANOTHER_ADMIN}");
            if self.transaction(true, &[(&sql, &[Bind::Text(username)])]).await?[0] == 0 && self.user(username).await?.is_some_and(|u| u.admin) {
                return Ok(UserChange::LastAdmin);
            }
        }
        if admin == Some(true) {
            self.execute("UPDATE users SET admin = 1 WHERE username = $1", &[Bind::Text(username)]).await?;
        }
        if let Some(password) = password {
            let hash = super::passwords::hash_password(password.to_string()).await?;
            self.execute("UPDATE users SET password_hash = $2 WHERE username = $1", &[Bind::Text(username), Bind::Text(&hash)]).await?;
        }
        Ok(if self.user(username).await?.is_some() { UserChange::Done } else { UserChange::NoSuchUser })
    }

    /// Deletes a user and their memberships, unless they are the last admin.
    pub async fn delete_user(&self, username: &str) -> sqlx::Result<UserChange> {
        let delete = format!("DELETE FROM users WHERE username = $1 AND (admin = 0 OR {ANOTHER_ADMIN})");
        let memberships = "DELETE FROM memberships WHERE username = $1 AND NOT EXISTS (SELECT 1 FROM users WHERE username = $1)";
        let name = [Bind::Text(username)];
        let affected = self.transaction(true, &[(&delete, &name), (memberships, &name)]).await?;
        Ok(match (affected[0], self.user(username).await?) {
            (1.., _) => UserChange::Done,
            (0, Some(_)) => UserChange::LastAdmin,
            (0, None) => UserChange::NoSuchUser,
        })
    }

    /// Sets a user's role in a project.
    pub async fn set_membership(&self, username: &str, project: &str, role: Role) -> sqlx::Result<()> {
        let sql = "INSERT INTO memberships (username, project, access_level) VALUES ($1, $2, $3) \
                   ON CONFLICT (username, project) DO UPDATE SET access_level = excluded.access_level";
        self.execute(sql, &[Bind::Text(username), Bind::Text(project), Bind::Int(role.access_level())]).await.map(drop)
    }

    /// Removes a user from a project; returns whether they were a member.
    pub async fn remove_membership(&self, username: &str, project: &str) -> sqlx::Result<bool> {
        let sql = "DELETE FROM memberships WHERE username = $1 AND project = $2";
        Ok(self.execute(sql, &[Bind::Text(username), Bind::Text(project)]).await? > 0)
    }

    /// A user's role in a project, if a member.
    pub async fn membership(&self, username: &str, project: &str) -> sqlx::Result<Option<Role>> {
        let sql = "SELECT access_level FROM memberships WHERE username = $1 AND project = $2";
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(sql).bind(username).bind(project).fetch_optional(pool).await)?;
        Ok(row.and_then(|(level,)| Role::from_access_level(level)))
    }

    /// A project's members and their access levels, by name.
    pub async fn members(&self, project: &str) -> sqlx::Result<Vec<(String, i64)>> {
        let sql = "SELECT username, access_level FROM memberships WHERE project = $1 ORDER BY username";
        on_pool!(self, pool => sqlx::query_as(sql).bind(project).fetch_all(pool).await)
    }

    // ---- projects, environments, clusters

    /// Every project, by id.
    pub async fn projects(&self) -> sqlx::Result<Vec<Project>> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as("SELECT id, path FROM projects ORDER BY id").fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(id, path)| Project { id: to_u64(id), path }).collect())
    }

    /// A project by numeric id or full path (the API's `:id`: `1` or `demo%2Fshop`).
    pub async fn project(&self, id_or_path: &str) -> sqlx::Result<Option<Project>> {
        let row: Option<(i64, String)> = match id_or_path.parse::<i64>() {
            Ok(id) => on_pool!(self, pool => sqlx::query_as("SELECT id, path FROM projects WHERE id = $1").bind(id).fetch_optional(pool).await)?,
            Err(_) => on_pool!(self, pool => sqlx::query_as("SELECT id, path FROM projects WHERE path = $1").bind(id_or_path).fetch_optional(pool).await)?,
        };
        Ok(row.map(|(id, path)| Project { id: to_u64(id), path }))
    }

    /// Deletes a project with its environments and memberships, in one
    /// transaction; false when there is none.
    pub async fn delete_project(&self, project: &Project) -> sqlx::Result<bool> {
        let id = [Bind::Int(to_i64(project.id))];
        let path = [Bind::Text(&project.path)];
        let affected = self
            .transaction(
                false,
                &[
                    ("DELETE FROM environments WHERE project_id = $1", &id),
                    ("DELETE FROM memberships WHERE project = $1", &path),
                    ("DELETE FROM projects WHERE id = $1", &id),
                ],
            )
            .await?;
        Ok(affected[2] > 0)
    }

    /// Creates or renames project `id`.
    pub async fn put_project(&self, project: &Project) -> sqlx::Result<()> {
        let sql = "INSERT INTO projects (id, path) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET path = excluded.path";
        self.execute(sql, &[Bind::Int(to_i64(project.id)), Bind::Text(&project.path)]).await.map(drop)
    }

    /// The next free id of `table` (projects, environments, clusters).
    /// Ids are never reused (a deleted project's id could otherwise name a
    /// new project in old links, jobs and audit entries): the highest id
    /// ever given is kept in `settings` as `last_id.<table>`.
    pub async fn next_id(&self, table: Table) -> sqlx::Result<u64> {
        let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {}", table.name());
        let (max,): (i64,) = on_pool!(self, pool => sqlx::query_as(&sql).fetch_one(pool).await)?;
        let key = format!("last_id.{}", table.name());
        let last: Option<(String,)> =
            on_pool!(self, pool => sqlx::query_as("SELECT value FROM settings WHERE name = $1").bind(&key).fetch_optional(pool).await)?;
        let last = last.and_then(|(v,)| v.parse::<i64>().ok()).unwrap_or(0);
        Ok(to_u64(max.max(last)) + 1)
    }

    /// Records `id` as given in `table` (see [`Database::next_id`]).
    async fn id_given(&self, table: Table, id: u64) -> sqlx::Result<()> {
        let key = format!("last_id.{}", table.name());
        let sql = "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value \
                   WHERE CAST(settings.value AS BIGINT) < CAST(excluded.value AS BIGINT)";
        self.execute(sql, &[Bind::Text(&key), Bind::Text(&id.to_string())]).await.map(drop)
    }

    /// Inserts a row with a new id (`insert` binds the id as `$1`, `rest`
    /// as `$2`…, and ends in `ON CONFLICT DO NOTHING`): the id, or `None`
    /// when another unique column (a name, a path) is taken. Requests
    /// racing for the same id are retried with the next one.
    async fn insert_with_new_id(&self, table: Table, insert: &str, rest: &[Bind<'_>]) -> sqlx::Result<Option<u64>> {
        for _ in 0..8 {
            let id = self.next_id(table).await?;
            let mut binds = vec![Bind::Int(to_i64(id))];
            binds.extend(rest.iter().copied());
            if self.execute(insert, &binds).await? == 1 {
                self.id_given(table, id).await?;
                return Ok(Some(id));
            }
            let sql = format!("SELECT id FROM {} WHERE id = $1", table.name());
            let taken: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(&sql).bind(to_i64(id)).fetch_optional(pool).await)?;
            if taken.is_none() {
                return Ok(None);
            }
        }
        Err(sqlx::Error::Protocol(format!("no free id in {} after 8 tries", table.name())))
    }

    /// Creates a project with a new id; `None` when the path is taken.
    pub async fn create_project(&self, path: &str) -> sqlx::Result<Option<Project>> {
        let sql = "INSERT INTO projects (id, path) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        let id = self.insert_with_new_id(Table::Projects, sql, &[Bind::Text(path)]).await?;
        if id.is_some() {
            // Memberships name projects by path: one added while an older
            // project of this path was being deleted must not carry over.
            self.execute("DELETE FROM memberships WHERE project = $1", &[Bind::Text(path)]).await?;
        }
        Ok(id.map(|id| Project { id, path: path.to_string() }))
    }

    /// Creates an environment with a new id (`env.id` is ignored); `None`
    /// when its project has one of that name.
    pub async fn create_environment(&self, env: &Environment) -> sqlx::Result<Option<u64>> {
        let sql = "INSERT INTO environments (id, project_id, name, slug, cluster, namespace, command) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let command = command_json(env);
        self.insert_with_new_id(Table::Environments, sql, &environment_binds(env, &command)).await
    }

    /// Creates cluster `name` with a new id; `None` when the name is taken.
    pub async fn create_cluster(&self, name: &str, cluster: &Cluster) -> sqlx::Result<Option<u64>> {
        let sql = "INSERT INTO clusters (id, name, api_url, token, ca_pem) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
        let rest = [Bind::Text(name), Bind::Text(&cluster.api_url), Bind::Text(&cluster.token), Bind::Text(&cluster.ca_pem)];
        self.insert_with_new_id(Table::Clusters, sql, &rest).await
    }

    /// A project's environments, by id.
    pub async fn environments(&self, project_id: u64) -> sqlx::Result<Vec<Environment>> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE project_id = $1 ORDER BY id");
        let rows: Vec<EnvironmentRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(to_i64(project_id)).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(environment_from_row).collect())
    }

    /// Environment `id`, if it belongs to `project_id`.
    pub async fn environment(&self, project_id: u64, id: u64) -> sqlx::Result<Option<Environment>> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE project_id = $1 AND id = $2");
        let row: Option<EnvironmentRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(to_i64(project_id)).bind(to_i64(id)).fetch_optional(pool).await)?;
        Ok(row.map(environment_from_row))
    }

    /// Environment `id`, whichever project it belongs to.
    pub async fn environment_by_id(&self, id: u64) -> sqlx::Result<Option<Environment>> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE id = $1");
        let row: Option<EnvironmentRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(to_i64(id)).fetch_optional(pool).await)?;
        Ok(row.map(environment_from_row))
    }

    /// Creates or replaces environment `env.id`.
    pub async fn put_environment(&self, env: &Environment) -> sqlx::Result<()> {
        let sql = "INSERT INTO environments (id, project_id, name, slug, cluster, namespace, command) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                   ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id, name = excluded.name, slug = excluded.slug, \
                   cluster = excluded.cluster, namespace = excluded.namespace, command = excluded.command";
        let command = command_json(env);
        let mut binds = vec![Bind::Int(to_i64(env.id))];
        binds.extend(environment_binds(env, &command));
        self.execute(sql, &binds).await.map(drop)
    }

    /// Every stored cluster, by id.
    pub async fn clusters(&self) -> sqlx::Result<Vec<NamedCluster>> {
        let sql = "SELECT id, name, api_url, token, ca_pem FROM clusters ORDER BY id";
        let rows: Vec<(i64, String, String, String, String)> = on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, api_url, token, ca_pem)| NamedCluster { id: to_u64(id), name, cluster: Cluster { api_url, token, ca_pem } })
            .collect())
    }

    /// A stored cluster by name.
    pub async fn cluster(&self, name: &str) -> sqlx::Result<Option<Cluster>> {
        let sql = "SELECT api_url, token, ca_pem FROM clusters WHERE name = $1";
        let row: Option<(String, String, String)> = on_pool!(self, pool => sqlx::query_as(sql).bind(name).fetch_optional(pool).await)?;
        Ok(row.map(|(api_url, token, ca_pem)| Cluster { api_url, token, ca_pem }))
    }

    /// Creates cluster `name`, or replaces its connection; returns its id.
    pub async fn put_cluster(&self, name: &str, cluster: &Cluster) -> sqlx::Result<u64> {
        let id = match self.clusters().await?.into_iter().find(|c| c.name == name) {
            Some(existing) => existing.id,
            None => self.next_id(Table::Clusters).await?,
        };
        let sql = "INSERT INTO clusters (id, name, api_url, token, ca_pem) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (id) DO UPDATE SET api_url = excluded.api_url, token = excluded.token, ca_pem = excluded.ca_pem";
        let binds = [Bind::Int(to_i64(id)), Bind::Text(name), Bind::Text(&cluster.api_url), Bind::Text(&cluster.token), Bind::Text(&cluster.ca_pem)];
        self.execute(sql, &binds).await?;
        Ok(id)
    }

    /// Replaces stored cluster `id`'s connection; false when there is none.
    pub async fn update_cluster(&self, id: u64, cluster: &Cluster) -> sqlx::Result<bool> {
        let sql = "UPDATE clusters SET api_url = $2, token = $3, ca_pem = $4 WHERE id = $1";
        let binds = [Bind::Int(to_i64(id)), Bind::Text(&cluster.api_url), Bind::Text(&cluster.token), Bind::Text(&cluster.ca_pem)];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    /// Deletes stored cluster `name` unless an environment names it: `Ok(None)`
    /// when there is no such cluster, `Ok(Some(users))` with the environment
    /// ids using it (nothing deleted unless empty).
    pub async fn delete_cluster(&self, name: &str) -> sqlx::Result<Option<Vec<u64>>> {
        // Checked and deleted in one statement: an environment created
        // meanwhile either keeps the cluster or is not counted.
        let sql = "DELETE FROM clusters WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM environments WHERE cluster = $1)";
        if self.execute(sql, &[Bind::Text(name)]).await? > 0 {
            return Ok(Some(Vec::new()));
        }
        let sql = "SELECT id FROM environments WHERE cluster = $1 ORDER BY id";
        let users: Vec<(i64,)> = on_pool!(self, pool => sqlx::query_as(sql).bind(name).fetch_all(pool).await)?;
        if users.is_empty() && self.cluster(name).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(users.into_iter().map(|(id,)| to_u64(id)).collect()))
    }

    /// Deletes environment `id` of `project_id`; false when there is none.
    pub async fn delete_environment(&self, project_id: u64, id: u64) -> sqlx::Result<bool> {
        let sql = "DELETE FROM environments WHERE project_id = $1 AND id = $2";
        Ok(self.execute(sql, &[Bind::Int(to_i64(project_id)), Bind::Int(to_i64(id))]).await? > 0)
    }

    // ---- application settings

    /// `terminal_max_session_time`: seconds, 0 = no limit (also when unset).
    pub async fn max_session_time(&self) -> sqlx::Result<u64> {
        Ok(self.setting("terminal_max_session_time").await?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// An application setting's stored text, if it was ever set.
    async fn setting(&self, name: &str) -> sqlx::Result<Option<String>> {
        let sql = "SELECT value FROM settings WHERE name = $1";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(sql).bind(name).fetch_optional(pool).await)?;
        Ok(row.map(|(v,)| v))
    }

    /// Stores an application setting.
    async fn set_setting(&self, name: &str, value: &str) -> sqlx::Result<()> {
        let sql = "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
        self.execute(sql, &[Bind::Text(name), Bind::Text(value)]).await.map(drop)
    }

    /// `terminal_recording`: on unless an admin turned it off.
    pub async fn terminal_recording(&self) -> sqlx::Result<bool> {
        Ok(self.setting("terminal_recording").await?.is_none_or(|v| v != "false"))
    }

    /// Sets `terminal_recording`.
    pub async fn set_terminal_recording(&self, on: bool) -> sqlx::Result<()> {
        self.set_setting("terminal_recording", if on { "true" } else { "false" }).await
    }

    /// `recording_retention_days`: days, 0 = forever;
    /// [`shared::api::DEFAULT_RECORDING_RETENTION_DAYS`] when unset.
    pub async fn recording_retention_days(&self) -> sqlx::Result<u64> {
        let stored = self.setting("recording_retention_days").await?;
        Ok(stored.and_then(|v| v.parse().ok()).unwrap_or(shared::api::DEFAULT_RECORDING_RETENTION_DAYS))
    }

    /// Sets `recording_retention_days` (0 = forever).
    pub async fn set_recording_retention_days(&self, days: u64) -> sqlx::Result<()> {
        self.set_setting("recording_retention_days", &days.to_string()).await
    }

    /// `terminal_idle_timeout`: seconds without keystrokes or output after
    /// which the relay ends a session, 0 = never (also when unset).
    pub async fn idle_timeout(&self) -> sqlx::Result<u64> {
        Ok(self.setting("terminal_idle_timeout").await?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Sets `terminal_idle_timeout` (seconds, 0 = never).
    pub async fn set_idle_timeout(&self, seconds: u64) -> sqlx::Result<()> {
        self.set_setting("terminal_idle_timeout", &seconds.to_string()).await
    }

    /// Sets `terminal_max_session_time` (seconds, 0 = no limit).
    pub async fn set_max_session_time(&self, seconds: u64) -> sqlx::Result<()> {
        self.set_setting("terminal_max_session_time", &seconds.to_string()).await
    }

    // ---- audit log

    /// Records a session the app authorized (`outcome` Opened) or refused
    /// (Refused, with the reason); returns the entry's id.
    pub async fn audit_start(&self, start: &AuditStart, outcome: AuditOutcome, reason: Option<&str>) -> sqlx::Result<String> {
        let id = crate::secrets::random_id(20);
        // Fields come from URLs: bounded, and without control characters
        // (PostgreSQL refuses NUL in TEXT).
        let clean = |s: &str| s.chars().filter(|c| !c.is_control()).take(255).collect::<String>();
        let start = AuditStart {
            username: start.username.as_deref().map(clean),
            project: clean(&start.project),
            target: clean(&start.target),
            pod: start.pod.as_deref().map(clean),
            container: start.container.as_deref().map(clean),
        };
        let reason = reason.map(clean);
        let reason = reason.as_deref();
        let now = now_ms();
        let ended = (outcome == AuditOutcome::Refused).then_some(now);
        let sql = "INSERT INTO audit_events (id, username, project, target, pod, container, outcome, started_at, ended_at, reason) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let binds = [
            Bind::Text(&id),
            Bind::OptText(start.username.as_deref()),
            Bind::Text(&start.project),
            Bind::Text(&start.target),
            Bind::OptText(start.pod.as_deref()),
            Bind::OptText(start.container.as_deref()),
            Bind::Text(outcome_name(outcome)),
            Bind::Int(now),
            Bind::OptInt(ended),
            Bind::OptText(reason),
        ];
        self.execute(sql, &binds).await?;
        Ok(id)
    }

    /// Asks the database a trivial question (readiness).
    pub async fn ping(&self) -> sqlx::Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    /// Records where resumable session `id` runs (replacing an old record).
    pub async fn put_relay_session(&self, id: &str, session: &shared::api::RelaySession) -> sqlx::Result<()> {
        let sql = "INSERT INTO relay_sessions (id, owner, token_sha256, username, created_at) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, token_sha256 = excluded.token_sha256, username = excluded.username";
        let binds = [
            Bind::Text(id),
            Bind::Text(&session.owner),
            Bind::Text(&session.token_sha256),
            Bind::OptText(session.username.as_deref()),
            Bind::Int(now_ms()),
        ];
        self.execute(sql, &binds).await.map(drop)
    }

    /// Where resumable session `id` runs, if it is registered.
    pub async fn relay_session(&self, id: &str) -> sqlx::Result<Option<shared::api::RelaySession>> {
        let sql = "SELECT owner, token_sha256, username FROM relay_sessions WHERE id = $1";
        let row: Option<(String, String, Option<String>)> = on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(owner, token_sha256, username)| shared::api::RelaySession { owner, token_sha256, username }))
    }

    /// Forgets resumable session `id`; false when it was not registered.
    pub async fn delete_relay_session(&self, id: &str) -> sqlx::Result<bool> {
        Ok(self.execute("DELETE FROM relay_sessions WHERE id = $1", &[Bind::Text(id)]).await? > 0)
    }

    /// Records how an opened session ended; false when there is no such
    /// open entry (unknown id, or already ended).
    pub async fn audit_end(&self, id: &str, ended: &shared::api::SessionEnded) -> sqlx::Result<bool> {
        let sql = "UPDATE audit_events SET outcome = 'ended', ended_at = $2, bytes_in = $3, bytes_out = $4, reason = $5, \
                   close_code = $6, exit_code = $7 WHERE id = $1 AND outcome = 'opened'";
        let binds = [
            Bind::Text(id),
            Bind::Int(now_ms()),
            Bind::Int(to_i64(ended.bytes_in)),
            Bind::Int(to_i64(ended.bytes_out)),
            Bind::Text(&ended.reason.chars().filter(|c| !c.is_control()).take(1024).collect::<String>()),
            Bind::Int(i64::from(ended.close_code)),
            Bind::OptInt(ended.exit_code.map(i64::from)),
        ];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    /// `limit` audit log entries after the newest `offset`, newest first.
    pub async fn audit_events(&self, limit: u32, offset: u64) -> sqlx::Result<Vec<AuditEvent>> {
        let sql = "SELECT id, username, project, target, pod, container, outcome, started_at, ended_at, bytes_in, bytes_out, reason, \
                   close_code, exit_code FROM audit_events ORDER BY started_at DESC, id LIMIT $1 OFFSET $2";
        let rows: Vec<AuditRow> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(i64::from(limit)).bind(to_i64(offset)).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, username, project, target, pod, container, outcome, started, ended, bytes_in, bytes_out, reason, close, exit)| {
                AuditEvent {
                    id,
                    username,
                    project,
                    target,
                    pod,
                    container,
                    outcome: match outcome.as_str() {
                        "refused" => AuditOutcome::Refused,
                        "ended" => AuditOutcome::Ended,
                        _ => AuditOutcome::Opened,
                    },
                    started_at: to_u64(started),
                    ended_at: ended.map(to_u64),
                    bytes_in: to_u64(bytes_in),
                    bytes_out: to_u64(bytes_out),
                    reason,
                    close_code: close.and_then(|c| u16::try_from(c).ok()),
                    exit_code: exit.and_then(|c| i32::try_from(c).ok()),
                    recording: false,
                }
            })
            .collect())
    }
}

fn outcome_name(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Opened => "opened",
        AuditOutcome::Refused => "refused",
        AuditOutcome::Ended => "ended",
    }
}

/// A value bound to a `$n` placeholder.
#[derive(Clone, Copy)]
enum Bind<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
}

/// Tables with numeric ids.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// `projects`.
    Projects,
    /// `environments`.
    Environments,
    /// `clusters`.
    Clusters,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Projects => "projects",
            Table::Environments => "environments",
            Table::Clusters => "clusters",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        (dir, db)
    }

    async fn projects_environments_and_clusters(db: &Database) {
        db.put_project(&Project { id: 3, path: "acme/shop".into() }).await.unwrap();
        assert_eq!(db.next_id(Table::Projects).await.unwrap(), 4);
        assert_eq!(db.project("acme/shop").await.unwrap().map(|p| p.id), Some(3));
        assert_eq!(db.project("3").await.unwrap().map(|p| p.path), Some("acme/shop".into()));
        let cluster = Cluster { api_url: "https://k:6443".into(), token: "t".into(), ca_pem: String::new() };
        assert_eq!(db.put_cluster("prod", &cluster).await.unwrap(), 1);
        assert_eq!(db.put_cluster("prod", &cluster).await.unwrap(), 1, "same name, same id");
        assert_eq!(db.cluster("prod").await.unwrap().map(|c| c.token), Some("t".into()));
        let env = Environment {
            id: 9,
            project_id: 3,
            name: "production".into(),
            slug: "production".into(),
            cluster: "prod".into(),
            namespace: "ns".into(),
            command: vec!["sh".into()],
        };
        db.put_environment(&env).await.unwrap();
        assert_eq!(db.environment(3, 9).await.unwrap(), Some(env.clone()));
        assert_eq!(db.environment(4, 9).await.unwrap(), None, "another project's environment");
        assert_eq!(db.environments(3).await.unwrap(), vec![env]);
        assert_eq!(db.delete_cluster("prod").await.unwrap(), Some(vec![9]), "in use: kept");
        let moved = Cluster { api_url: "https://k:7443".into(), ..cluster };
        assert!(db.update_cluster(1, &moved).await.unwrap());
        assert_eq!(db.cluster("prod").await.unwrap().map(|c| c.api_url), Some("https://k:7443".into()));
        assert!(db.delete_environment(3, 9).await.unwrap());
        assert!(!db.delete_environment(3, 9).await.unwrap());
        assert_eq!(db.delete_cluster("prod").await.unwrap(), Some(vec![]));
        assert_eq!(db.delete_cluster("prod").await.unwrap(), None);
    }

    async fn creating_takes_new_ids_and_refuses_taken_names(db: &Database) {
        let (a, b) = tokio::join!(db.create_project("acme/a"), db.create_project("acme/b"));
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert_ne!(a.id, b.id, "racing creates get different ids");
        assert_eq!(db.create_project("acme/a").await.unwrap(), None);
        let cluster = Cluster { api_url: "https://k".into(), token: "t".into(), ca_pem: String::new() };
        assert!(db.create_cluster("c", &cluster).await.unwrap().is_some());
        assert_eq!(db.create_cluster("c", &cluster).await.unwrap(), None);
        let env = Environment {
            id: 0,
            project_id: a.id,
            name: "prod".into(),
            slug: "prod".into(),
            cluster: "c".into(),
            namespace: "ns".into(),
            command: vec![],
        };
        assert!(db.create_environment(&env).await.unwrap().is_some());
        assert_eq!(db.create_environment(&env).await.unwrap(), None);
        assert!(db.put_user("u", "pw", false, false).await.unwrap());
        assert!(!db.put_user("u", "other", true, false).await.unwrap(), "a second create does not replace");
        assert_eq!(db.update_user("u", None, Some(true)).await.unwrap(), UserChange::Done);
        let u = db.user("u").await.unwrap().unwrap();
        assert!(u.admin && super::super::passwords::verify_password("pw".into(), u.password_hash).await, "password kept");
        db.set_membership("u", "acme/a", Role::Owner).await.unwrap();
        assert_eq!(db.update_user("u", None, Some(false)).await.unwrap(), UserChange::LastAdmin);
        assert_eq!(db.delete_user("u").await.unwrap(), UserChange::LastAdmin);
        assert!(db.put_user("v", "pw", true, false).await.unwrap());
        assert_eq!(db.delete_user("u").await.unwrap(), UserChange::Done, "v is an admin too");
        assert_eq!(db.update_user("v", None, Some(false)).await.unwrap(), UserChange::LastAdmin);
        assert_eq!(db.membership("u", "acme/a").await.unwrap(), None, "memberships go with the user");
        assert_eq!(db.update_user("u", Some("x"), None).await.unwrap(), UserChange::NoSuchUser);
        db.set_membership("someone", "acme/a", Role::Owner).await.unwrap();
        assert!(db.delete_project(&a).await.unwrap());
        assert_eq!(db.environments(a.id).await.unwrap(), vec![], "environments go with the project");
        assert_eq!(db.members("acme/a").await.unwrap(), vec![]);
        assert_eq!(db.project("acme/a").await.unwrap(), None);
        let newest = db.projects().await.unwrap().into_iter().map(|p| p.id).max().unwrap();
        assert!(db.delete_project(&Project { id: newest, path: String::new() }).await.unwrap());
        assert!(db.create_project("acme/c").await.unwrap().unwrap().id > newest, "ids are not reused");
    }

    async fn settings_and_audit_log(db: &Database) {
        assert_eq!(db.max_session_time().await.unwrap(), 0);
        db.set_max_session_time(30).await.unwrap();
        assert_eq!(db.max_session_time().await.unwrap(), 30);
        assert_eq!(db.idle_timeout().await.unwrap(), 0);
        db.set_idle_timeout(900).await.unwrap();
        assert_eq!(db.idle_timeout().await.unwrap(), 900);
        let start = AuditStart { username: Some("maintainer".into()), project: "demo/shop".into(), target: "environment production".into(), ..Default::default() };
        let id = db.audit_start(&start, AuditOutcome::Opened, None).await.unwrap();
        db.audit_start(&start, AuditOutcome::Refused, Some("no")).await.unwrap();
        let ended = shared::api::SessionEnded { bytes_in: 3, bytes_out: 5, close_code: 4000, reason: "exit".into(), exit_code: Some(0) };
        assert!(db.audit_end(&id, &ended).await.unwrap());
        assert!(!db.audit_end(&id, &ended).await.unwrap(), "an entry ends once");
        let events = db.audit_events(10, 0).await.unwrap();
        assert_eq!(db.audit_events(10, 1).await.unwrap(), events[1..]);
        assert_eq!(events.len(), 2);
        let e = events.iter().find(|e| e.id == id).unwrap();
        assert_eq!((e.outcome, e.bytes_in, e.bytes_out, e.exit_code, e.close_code), (AuditOutcome::Ended, 3, 5, Some(0), Some(4000)));
        assert!(events.iter().any(|e| e.outcome == AuditOutcome::Refused && e.reason.as_deref() == Some("no")));
    }

    /// Every scenario, on one database.
    async fn all(db: &Database) {
        projects_environments_and_clusters(db).await;
        creating_takes_new_ids_and_refuses_taken_names(db).await;
        settings_and_audit_log(db).await;
    }

    #[tokio::test]
    async fn on_sqlite() {
        let (_dir, db) = sqlite().await;
        all(&db).await;
    }

    /// The same queries on the machine's PostgreSQL (trust auth; `.ci/run`
    /// starts it), in a database of its own that is dropped afterwards.
    #[tokio::test]
    async fn on_postgresql() {
        let server = std::env::var("PORTHOLE_TEST_POSTGRES_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await.expect("the machine's PostgreSQL");
        let name = format!("porthole_db_test_{}", crate::secrets::random_id(12).to_lowercase());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        let db = Database::connect(&format!("{server}/{name}")).await.unwrap();
        all(&db).await;
        if let Database::Postgres(pool) = db {
            pool.close().await;
        }
        sqlx::query(&format!("DROP DATABASE {name}")).execute(&admin).await.unwrap();
    }
}

//! Where pods and jobs run, away from Porthole's own secrets.
//!
//! A local-cluster "pod" and a CI job are shells and scripts that anyone
//! with Developer (jobs) or Maintainer (environments) access controls. They
//! must not read or write anything of Porthole's: the Workhorse secret would
//! let them mint authorize JWTs, the database would let them make
//! themselves admin. So:
//!
//! - **Separate users.** Pods run as [`POD_USER`] (`--sandbox-user`) and
//!   jobs as [`JOB_USER`] (`--job-user`) when Porthole runs as root, each
//!   created at start with `useradd --system` when missing: a Developer's
//!   job cannot read the pods' folders that only Maintainers may enter. Not
//!   root, Porthole cannot switch users: they run as Porthole's own user,
//!   and the start logs a warning saying so.
//! - **Their own directory.** Pods and job folders live under
//!   `<data-dir>/sandbox/` ([`Sandbox::dir`]), each owned by the sandbox user.
//! - **Private files.** Porthole's umask is 077 from the start, so every
//!   file it creates (database, WAL, secrets, CA, kubeconfig) is 0600 and
//!   every folder 0700; [`Sandbox::prepare`] also tightens what an older
//!   version left. The data dir itself is 0711: the sandbox user may pass
//!   through it to `sandbox/` but not list it, and reads nothing in it.
//!
//! - **A view of their own.** As root, where the kernel allows, each of
//!   their processes gets its own hostname, process table and mount table,
//!   with Porthole's data dir covered and its folder at `/home/<hostname>`
//!   ([`enclosure`]). On a real cluster pods are containers and none of
//!   this applies.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub mod enclosure;
pub use enclosure::{Enclosure, SandboxUser, spawning};

/// The user local-cluster pods run as when Porthole runs as root and no
/// `--sandbox-user` is given.
pub const POD_USER: &str = "porthole-pod";

/// The user CI jobs (script and terminal) run as when Porthole runs as root
/// and no `--job-user` is given.
pub const JOB_USER: &str = "porthole-job";

/// Where pods and jobs run, and as whom.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// `<data-dir>/sandbox`: pods in `pods/`, job folders in `jobs/`.
    pub dir: PathBuf,
    /// Whom their processes run as; `None` = Porthole's own user (not root).
    pub user: Option<SandboxUser>,
    /// Folders their processes must not see ([`Enclosure::hidden`]): the
    /// data dir, and whatever else Porthole keeps ([`Sandbox::prepare`]).
    pub hidden: Vec<PathBuf>,
    /// Whether their processes get their own PID and mount namespaces
    /// ([`enclosure::probe`] at start).
    pub namespaces: bool,
}

impl Sandbox {
    /// Makes the data dir private (0711, Porthole's files in it 0600/0700),
    /// sets the process umask to 077, creates `<data-dir>/sandbox` and
    /// resolves the user: `user` by name (an error when it does not exist,
    /// or when Porthole is not root and it is not Porthole's own), or, when
    /// `None`, `default` if running as root (created when missing) and
    /// Porthole's own user otherwise. Their processes will not see the data
    /// dir nor `also_hidden` (recordings kept elsewhere, say); the probe
    /// checks that with this very list.
    pub fn prepare(data_dir: &Path, also_hidden: &[PathBuf], user: Option<&str>, default: &str) -> anyhow::Result<Sandbox> {
        // From here on, whatever Porthole creates is its own.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        std::fs::create_dir_all(data_dir)?;
        let dir = data_dir.join("sandbox");
        tighten(data_dir)?;
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
        // Which of the two this is, for the log.
        let who = if default == JOB_USER { "jobs" } else { "pods" };
        let me = nix::unistd::geteuid();
        let user = match (user, me.is_root()) {
            (Some(name), root) => {
                let user = lookup(name)?.ok_or_else(|| anyhow::anyhow!("sandbox user {name:?}: no such user"))?;
                anyhow::ensure!(root || user.uid == me.as_raw(), "sandbox user {name:?}: only root can run pods and jobs as another user");
                Some(user)
            }
            (None, true) => Some(system_user(default)?),
            (None, false) => None,
        };
        match user {
            Some(u) if u.uid == nix::unistd::geteuid().as_raw() => tracing::warn!(
                uid = u.uid,
                "{who} run as Porthole's own user: they can read its data dir and secrets (use --sandbox-user / --job-user)"
            ),
            Some(u) => tracing::info!(uid = u.uid, gid = u.gid, dir = %dir.display(), "{who} run as their own user"),
            None => tracing::warn!(
                "not running as root: {who} run as Porthole's own user and can read its data dir and secrets; \
                 start as root (they run as {POD_USER} and {JOB_USER}) or use real clusters and runners in production"
            ),
        }
        if user.is_some_and(|u| u.uid != nix::unistd::geteuid().as_raw()) {
            warn_if_unreachable(&dir);
        }
        let mut hidden = vec![std::path::absolute(data_dir)?];
        for folder in also_hidden {
            let folder = std::path::absolute(folder)?;
            if !hidden.iter().any(|h| folder.starts_with(h)) {
                hidden.push(folder);
            }
        }
        let namespaces = match me.is_root().then(|| enclosure::probe(&dir, &hidden)) {
            Some(Ok(())) => {
                tracing::info!("{who} get their own hostname, process table and mount table (namespaces)");
                true
            }
            Some(Err(why)) => {
                tracing::warn!(reason = %why, "{who} share the host's process table and files (no PID or mount namespaces)");
                false
            }
            None => false,
        };
        Ok(Sandbox { dir, user, hidden, namespaces })
    }

    /// How a process of the pod or job named `hostname` (cut to a DNS
    /// label) is enclosed; `None` when Porthole is not root (only root may
    /// make namespaces).
    pub fn enclosure(&self, hostname: &str) -> Option<Enclosure> {
        nix::unistd::geteuid().is_root().then(|| Enclosure {
            hostname: enclosure::dns_label(hostname).to_string(),
            full: self.namespaces,
            hidden: self.hidden.clone(),
        })
    }

    /// Creates `path` (and its parents) for a pod or job and gives it to the
    /// sandbox user, mode 0700.
    pub fn workspace(&self, path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path)?;
        // The folders between (`pods/<namespace>`, `jobs`) were made 0700 by
        // the umask: let the sandbox user pass through them.
        let mut between = path.parent();
        while let Some(dir) = between.filter(|d| d.starts_with(&self.dir) && *d != self.dir) {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
            between = dir.parent();
        }
        if let Some(user) = self.user {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
    }
}

/// What Porthole keeps in its data dir (older versions kept job folders in
/// `jobs`): only these are tightened, so a data dir given by mistake (`.`,
/// a home) loses no one's execute bits.
const OWN_ENTRIES: [&str; 8] =
    ["workhorse_secret", "runner_token", "porthole.db", "porthole.db-wal", "porthole.db-shm", "porthole.db-journal", "local-cluster", "jobs"];

/// Data dir 0711; Porthole's own entries in it 0600 (files) or 0700
/// (folders), one level deep (the folders' own contents were created
/// private). Symlinks are left alone.
fn tighten(data_dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o711))?;
    for name in OWN_ENTRIES {
        let path = data_dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let mode = if meta.is_dir() { 0o700 } else if meta.is_file() { 0o600 } else { continue };
        if meta.permissions().mode() & 0o777 != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Logs an error when a folder above `dir` keeps other users out: pods and
/// jobs could not even start in their folders.
fn warn_if_unreachable(dir: &Path) {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(ancestor) else { continue };
        if meta.permissions().mode() & 0o001 == 0 {
            tracing::error!(
                folder = %ancestor.display(),
                sandbox = %dir.display(),
                "the sandbox user cannot pass through this folder: pods and jobs will fail to start (chmod o+x, or move --data-dir)"
            );
            return;
        }
    }
}

/// The user named `name`, if it exists.
fn lookup(name: &str) -> anyhow::Result<Option<SandboxUser>> {
    let user = nix::unistd::User::from_name(name)?;
    Ok(user.map(|u| SandboxUser { uid: u.uid.as_raw(), gid: u.gid.as_raw() }))
}

/// The system user `name`, created (own group, no home, no login shell)
/// when missing. Serialized: several Portholes in one process (the tests)
/// must not race `useradd`; another process (a session server starting
/// beside the app) may, so a failed `useradd` is followed by a few lookups.
fn system_user(name: &str) -> anyhow::Result<SandboxUser> {
    static CREATING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(user) = lookup(name)? {
        return Ok(user);
    }
    // By path, not by PATH: Porthole is root here.
    let useradd = ["/usr/sbin/useradd", "/sbin/useradd"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("useradd");
    let status = std::process::Command::new(useradd)
        .args(["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
        .arg(name)
        .status();
    for _ in 0..20 {
        if let Some(user) = lookup(name)? {
            return Ok(user);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    anyhow::bail!("cannot create the sandbox user {name} ({useradd}: {status:?}); create it, or name another with --sandbox-user / --job-user")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_dir_is_private_and_the_sandbox_reachable() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("workhorse_secret"), "s").unwrap();
        std::fs::set_permissions(data.path().join("workhorse_secret"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(data.path().join("not_ours"), "s").unwrap();
        std::fs::set_permissions(data.path().join("not_ours"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let sandbox = Sandbox::prepare(data.path(), &[], None, POD_USER).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(data.path()), 0o711);
        assert_eq!(mode(&data.path().join("workhorse_secret")), 0o600);
        assert_eq!(mode(&data.path().join("not_ours")), 0o755, "only Porthole's own entries are tightened");
        assert_eq!(mode(&sandbox.dir), 0o711);
        std::fs::write(data.path().join("new_file"), "x").unwrap();
        assert_eq!(mode(&data.path().join("new_file")), 0o600, "umask 077");
        let pod = sandbox.dir.join("pods/ns/web");
        sandbox.workspace(&pod).unwrap();
        assert_eq!(mode(&pod), 0o700);
        if let Some(user) = sandbox.user {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(std::fs::metadata(&pod).unwrap().uid(), user.uid);
        }
    }

    #[test]
    fn an_unknown_sandbox_user_is_an_error() {
        let data = tempfile::tempdir().unwrap();
        let err = Sandbox::prepare(data.path(), &[], Some("no-such-user-porthole"), POD_USER).unwrap_err();
        assert!(err.to_string().contains("no such user"), "{err}");
    }
}

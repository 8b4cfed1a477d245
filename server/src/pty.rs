//! Processes in real PTYs, and making sure they end.
//!
//! Each process is spawned as the leader of a new session with the PTY as its
//! controlling terminal (pty-process does the `setsid` + `TIOCSCTTY`). Ending
//! a session ([`hang_up`]) is what closing a terminal window does, then more:
//! SIGHUP to the process group, the master closed (the kernel hangs up the
//! foreground job), and after a grace period SIGKILL to every process still in
//! the session — so a `sleep` started in the shell does not outlive it.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use pty_process::{OwnedReadPty, OwnedWritePty};
use shared::porthole::TerminalSize;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// argv; `argv[0]` is looked up in the `PATH` of `env`.
    pub argv: Vec<String>,
    /// The whole environment (nothing is inherited from porthole).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The PTY's initial size.
    pub size: TerminalSize,
    /// Whom it runs as; `None` = Porthole's own user.
    pub user: Option<crate::sandbox::SandboxUser>,
    /// Its own hostname, process table and mount table, as a pod's
    /// ([`crate::sandbox::Enclosure`]; as root); `None` = the host's.
    pub enclosure: Option<crate::sandbox::Enclosure>,
}

/// A running process and both halves of its PTY master.
pub struct PtyProcess {
    /// The child; `wait()` it for the exit status.
    pub child: tokio::process::Child,
    /// Its pid, which is also its process group and session id.
    pub pid: i32,
    /// Output from the PTY.
    pub reader: OwnedReadPty,
    /// Input to the PTY, and resize.
    pub writer: OwnedWritePty,
}

/// Spawns `spec` in a new PTY.
pub fn spawn(spec: &Spec) -> std::io::Result<PtyProcess> {
    // pty-process opens the master without O_CLOEXEC and sets it a moment
    // later: a child spawned in between would inherit another session's
    // terminal. One open-and-spawn at a time closes that window.
    let _one_at_a_time = crate::sandbox::spawning();
    let (pty, pts) = pty_process::open().map_err(std::io::Error::other)?;
    pty.resize(to_pty_size(spec.size)).map_err(std::io::Error::other)?;
    let (program, args) = spec.argv.split_first().ok_or_else(|| std::io::Error::other("empty command"))?;
    let path = spec.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("/usr/bin:/bin");
    let program = resolve(program, path).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("executable file not found in $PATH: {program:?}"))
    })?;
    let mut command = pty_process::Command::new(program);
    match apart(spec) {
        Apart::Nothing => {}
        // std drops the supplementary groups too when it switches user.
        Apart::User(user) => command = command.uid(user.uid).gid(user.gid),
        // SAFETY: as in `set_apart`: system calls only, in the child,
        // after pty-process's own hook made it lead the terminal's session.
        #[allow(unsafe_code)]
        Apart::Hook(hook) => command = unsafe { command.pre_exec(hook) },
    }
    let child = command
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .spawn(pts)
        .map_err(std::io::Error::other)?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).ok_or_else(|| std::io::Error::other("child has no pid"))?;
    let (reader, writer) = pty.into_split();
    Ok(PtyProcess { child, pid, reader, writer })
}

/// How a process is set apart from Porthole: nothing, another user (std's
/// own uid/gid switch, which drops supplementary groups too), or a hook
/// that encloses it and then switches user (std switches user before any
/// hook runs, and only root may make namespaces).
enum Apart {
    Nothing,
    User(crate::sandbox::SandboxUser),
    Hook(crate::sandbox::enclosure::Hook),
}

/// `spec`'s user and enclosure.
fn apart(spec: &Spec) -> Apart {
    match (crate::sandbox::enclosure::hook(spec.enclosure.as_ref(), spec.user), spec.user) {
        (Some(hook), _) => Apart::Hook(hook),
        (None, Some(user)) => Apart::User(user),
        (None, None) => Apart::Nothing,
    }
}

/// Sets a process spawned with pipes (an exec without a TTY) apart as
/// [`spawn`] does a PTY's: the same user and enclosure.
#[allow(unsafe_code)]
pub fn set_apart(command: &mut tokio::process::Command, spec: &Spec) {
    match apart(spec) {
        Apart::Nothing => {}
        // std drops the supplementary groups too when it switches user.
        Apart::User(user) => {
            command.uid(user.uid).gid(user.gid);
        }
        // SAFETY: the hook runs in the forked child before exec and makes
        // only async-signal-safe system calls; it allocates nothing
        // (`crate::sandbox::enclosure::hook`).
        Apart::Hook(hook) => unsafe {
            command.pre_exec(hook);
        },
    }
}

/// `program` itself when it has a slash, else the first executable match in
/// `path` (the child's PATH, not porthole's).
pub(crate) fn resolve(program: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path.split(':').map(|dir| PathBuf::from(dir).join(program)).find(|candidate| {
        std::fs::metadata(candidate).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// pty-process's size type from ours.
pub fn to_pty_size(size: TerminalSize) -> pty_process::Size {
    pty_process::Size::new(size.rows, size.cols)
}

/// The exit code as a container runtime reports it: the code, or 128+signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(255)
}

/// Ends a session whose terminal went away: SIGHUP to the process group now
/// (the caller drops the PTY master, which hangs up the foreground job), then
/// after `grace` SIGKILL to whatever is left in the session, and reaps the
/// child. Runs in the background; returns at once.
pub fn hang_up(child: tokio::process::Child, pid: i32, grace: Duration) {
    tokio::spawn(hang_up_now(child, pid, grace));
}

/// [`hang_up`], awaited: returns once the session is gone.
pub async fn hang_up_now(mut child: tokio::process::Child, pid: i32, grace: Duration) {
    let _ = killpg(Pid::from_raw(pid), Signal::SIGHUP);
    let _ = tokio::time::timeout(grace, child.wait()).await;
    // Sweep before reaping the leader: while it is unreaped (a zombie at
    // worst) its pid, which is the session id, cannot be reused.
    kill_session(pid);
    let _ = child.kill().await;
}

/// SIGKILLs every process whose session id or process group is `leader`
/// (found in `/proc`): a PTY process leads its session, a piped one its
/// process group; this includes jobs that left the group.
pub fn kill_session(leader: i32) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if group_and_session_of(pid).is_some_and(|(pgid, sid)| pgid == leader || sid == leader) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The process group and session ids of `pid`, from `/proc/<pid>/stat`
/// (fields 5 and 6).
fn group_and_session_of(pid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

#[cfg(test)]
fn session_of(pid: i32) -> Option<i32> {
    group_and_session_of(pid).map(|(_, sid)| sid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn spec(argv: &[&str]) -> Spec {
        Spec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("TERM".into(), "xterm-256color".into())],
            cwd: std::env::temp_dir(),
            size: TerminalSize { cols: 77, rows: 11 },
            user: None,
            enclosure: None,
        }
    }

    async fn read_all(reader: &mut OwnedReadPty) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // The PTY reports EIO once the child side is closed and drained.
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn runs_in_a_sized_tty_with_the_given_env() {
        let mut p = spawn(&spec(&["sh", "-c", "stty size; echo $TERM; test -t 0 && echo tty; exit 3"])).unwrap();
        let out = read_all(&mut p.reader).await;
        assert!(out.contains("11 77"), "{out}");
        assert!(out.contains("xterm-256color"), "{out}");
        assert!(out.contains("tty"), "{out}");
        assert_eq!(exit_code(p.child.wait().await.unwrap()), 3);
    }

    #[tokio::test]
    async fn killed_by_a_signal_is_128_plus_signal() {
        let mut p = spawn(&spec(&["sh", "-c", "kill -9 $$"])).unwrap();
        assert_eq!(exit_code(p.child.wait().await.unwrap()), 137);
    }

    #[tokio::test]
    async fn unknown_programs_are_not_found() {
        let err = spawn(&spec(&["no-such-program-here"])).err().expect("must fail");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn hang_up_kills_background_jobs_too() {
        let p = spawn(&spec(&["sh", "-c", "sleep 31337 & sleep 31338; echo done"])).unwrap();
        let pid = p.pid;
        // Wait until both sleeps are in the session.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while members(pid) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "sleeps never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop((p.reader, p.writer));
        hang_up(p.child, pid, Duration::from_millis(200));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while members(pid) > 0 {
            assert!(tokio::time::Instant::now() < deadline, "session still has processes");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn members(sid: i32) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
            .filter(|pid| session_of(*pid) == Some(sid))
            .filter(|pid| !is_zombie(*pid))
            .count()
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s[s.rfind(')').unwrap() + 1..].split_whitespace().next() == Some("Z"))
            .unwrap_or(true)
    }
}

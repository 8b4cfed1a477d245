//! A pod's or job's own view of the machine: Linux namespaces, entered
//! between fork and exec.
//!
//! As root, each process a pod or job runs (a terminal's shell, an exec, a
//! job's script) gets, where the kernel allows (probed at start,
//! [`probe`]):
//!
//! - its own **hostname** (UTS namespace): the pod's name, `job-<id>`;
//! - its own **process table** (PID namespace): PID 1 is `pod-init` (a
//!   fork of Porthole named so, its command line replaced), the program
//!   PID 2, and `ps` shows only them and what the program starts: not
//!   Porthole, not the host's processes;
//! - its own **mount table** (mount namespace, private propagation): a
//!   fresh `/proc`, Porthole's data dir (and recordings) covered with an
//!   empty read-only tmpfs, `/home` a tmpfs holding only its own folder at
//!   `/home/<hostname>`, its home and working folder.
//!
//! Unsharing a PID namespace moves only the children of the caller into
//! it, so the forked child of `std::process::Command` unshares, forks once
//! more and stays outside as a **stand-by**: it keeps the pid Porthole
//! knows, leads the session (or process group) Porthole hangs up, forwards
//! SIGHUP/SIGTERM/SIGINT/SIGQUIT inwards and exits with the program's
//! status (128 + signal when it was killed, as a container runtime reports
//! it). Inside, PID 1 (`pod-init`) forks the program and does the same:
//! forwards signals, reaps orphans, exits as the program did. PID 1 dies
//! with the stand-by (`PR_SET_PDEATHSIG`), and with PID 1 everything in the
//! namespace. The program is not PID 1 because PID 1 ignores signals it
//! has no handler for: `kill -9 $$` must end a shell, as in a pod.
//!
//! Both stand-bys exec the small `porthole-standby` binary where it is
//! found ([`relaunch_stand_bys`]), so that a session does not keep a
//! copy-on-write copy of Porthole's memory.
//!
//! Where a namespace cannot be made (not root, a container without
//! `CAP_SYS_ADMIN`, a kernel without them), the probe says why in the log
//! and processes get at most their hostname: the sandbox user is what keeps
//! Porthole's files safe.
//!
//! Each exec gets namespaces of its own: two shells in one pod do not see
//! each other's processes, unlike two `kubectl exec`s into one container.
// Forking, signal handlers and `pre_exec` hooks are unsafe; each use says
// why it holds.
#![allow(unsafe_code)]

use nix::mount::MsFlags;
use nix::sys::signal::Signal;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// A user pods and jobs run as (`setuid`/`setgid` before `exec`, with no
/// supplementary groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Held while a PTY is opened and its process spawned, and while any other
/// pod or job process is spawned: pty-process opens the master without
/// O_CLOEXEC and sets it a moment later, and a process spawned in between
/// would inherit another session's terminal.
pub fn spawning() -> std::sync::MutexGuard<'static, ()> {
    static OPEN_AND_SPAWN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    OPEN_AND_SPAWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a pod or job sees of the machine; made by
/// [`super::Sandbox::enclosure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enclosure {
    /// Its hostname (UTS namespace): a pod's name or `job-<id>`, at most 63
    /// bytes (a DNS label: [`dns_label`]).
    pub hostname: String,
    /// Its own process and mount tables too (PID + mount namespaces), as
    /// [`probe`] found at start; `false` = only the hostname.
    pub full: bool,
    /// Host folders it must not see, each covered with an empty read-only
    /// tmpfs (with `full`): Porthole's data dir, the recordings.
    pub hidden: Vec<PathBuf>,
}

impl Enclosure {
    /// Where the process's working folder (`dir` on the host) appears to
    /// it, also its `HOME`: `/home/<hostname>` with its own mount table, else
    /// `dir` itself.
    pub fn home(enclosure: Option<&Enclosure>, dir: &Path) -> PathBuf {
        match enclosure {
            Some(e) if e.full => Path::new("/home").join(&e.hostname),
            _ => dir.to_path_buf(),
        }
    }
}

/// A `pre_exec` hook: runs in the forked child, before `exec`.
pub type Hook = Box<dyn FnMut() -> std::io::Result<()> + Send + Sync>;

/// The hook that encloses a process (as root) and then switches to `user`;
/// `None` when there is nothing to do or Porthole is not root (std's own
/// `uid`/`gid` then do the user switch, see `crate::pty`).
///
/// The hook expects to start in the process's working folder (std changes
/// to it before hooks run) and, with a PTY, to lead the terminal's session
/// already (pty-process's own hook runs first).
pub fn hook(enclosure: Option<&Enclosure>, user: Option<SandboxUser>) -> Option<Hook> {
    let enclosure = enclosure.filter(|_| nix::unistd::geteuid().is_root())?;
    let hostname = enclosure.hostname.clone();
    if !enclosure.full {
        return Some(Box::new(move || {
            // Best effort: the user switch is what keeps Porthole's files safe.
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).is_ok() {
                let _ = nix::unistd::sethostname(&hostname);
            }
            switch_user(user)
        }));
    }
    // Everything the child needs is made now: after the fork it may only
    // make system calls, not allocate.
    let hidden: Vec<CString> = enclosure.hidden.iter().filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok()).collect();
    let home = CString::new(format!("/home/{hostname}")).ok()?;
    let area = command_line_area();
    Some(Box::new(move || {
        use nix::sched::CloneFlags;
        // Held back until each stand-by forwards them (PID 1 would drop a
        // signal it has no handler for) and until the program execs.
        hold_signals(nix::sys::signal::SigmaskHow::SIG_BLOCK)?;
        nix::sched::unshare(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)?;
        // SAFETY: this process has one thread (a fork's child); both sides
        // go on with system calls only.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Parent { child } => stand_by(child, Role::Outside),
            nix::unistd::ForkResult::Child => {}
        }
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        nix::unistd::sethostname(&hostname)?;
        enter_own_mounts(&hidden, &home)?;
        // PID 1 of the namespace stays behind as its init, so that the
        // program is an ordinary process, as an exec in a pod is (PID 1
        // ignores signals it has no handler for: `kill -9 $$` would not
        // kill a shell that were PID 1).
        // SAFETY: as above.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Parent { child } => stand_by(child, Role::Init(area)),
            nix::unistd::ForkResult::Child => {
                take_the_terminal();
                wait_for_init_name();
            }
        }
        hold_signals(nix::sys::signal::SigmaskHow::SIG_UNBLOCK)?;
        switch_user(user)
    }))
}

/// PID 1 names itself `pod-init` a moment after it forked the program
/// (after its exec, when relaunched): the program waits (at most 1 s) so
/// that what it runs first never sees another name in `/proc/1/comm` or
/// its command line half made. System calls only, on a stack buffer.
fn wait_for_init_name() {
    for _ in 0..1000 {
        let mut name = [0u8; 16];
        if let Ok(fd) = nix::fcntl::open(c"/proc/1/comm", nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) {
            let _ = nix::unistd::read(&fd, &mut name);
        }
        if name.starts_with(b"pod-init") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The signals a stand-by forwards.
const FORWARDED: [Signal; 4] = [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];

/// Blocks or unblocks [`FORWARDED`] (a mask survives fork and exec).
fn hold_signals(how: nix::sys::signal::SigmaskHow) -> nix::Result<()> {
    let mut set = nix::sys::signal::SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    nix::sys::signal::sigprocmask(how, Some(&set), None)
}

/// Makes the program a process group of its own and, with a terminal, its
/// foreground group: a shell's job control finds its own group there and
/// can give the terminal back when it exits (the stand-by's group is not
/// visible inside the namespace: dash would exit 2 with "Cannot set tty
/// process group"). Best effort: without a terminal only the group is made.
fn take_the_terminal() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
    // Not std::io::stdin(): it allocates, and a fork's child must not.
    // SAFETY: descriptor 0 stays open for this whole function.
    let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
    if !nix::unistd::isatty(stdin).unwrap_or(false) {
        return;
    }
    // A background group that sets the foreground group gets SIGTTOU:
    // ignored for the call, then restored (dispositions outlive exec).
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: only SIG_IGN and the previous disposition are installed.
    if let Ok(previous) = unsafe { sigaction(Signal::SIGTTOU, &ignore) } {
        let _ = nix::unistd::tcsetpgrp(stdin, nix::unistd::getpgrp());
        // SAFETY: as above.
        let _ = unsafe { sigaction(Signal::SIGTTOU, &previous) };
    }
}

/// What PID 1 of an enclosure shows in `ps`: `pod-init`, not a copy of
/// Porthole's name and command line (which may hold secrets, and which
/// `/proc/1/cmdline` shows everyone). The command line is overwritten in
/// place (`area`, from [`command_line_area`]): `PR_SET_MM` would need
/// `CAP_SYS_RESOURCE`, which containers often drop. [`probe`] checks that
/// it took.
fn become_init(area: Option<(usize, usize)>) {
    const NAME: &CStr = c"pod-init";
    let _ = nix::sys::prctl::set_name(NAME);
    if let Some((start, end)) = area {
        let name = NAME.to_bytes();
        // SAFETY: [start, end) holds this process's own argument strings
        // (on its stack, writable); this fork has one thread and nothing in
        // it reads them again.
        unsafe {
            std::ptr::write_bytes(start as *mut u8, 0, end - start);
            std::ptr::copy_nonoverlapping(name.as_ptr(), start as *mut u8, name.len().min(end - start - 1));
        }
    }
}

/// Where this process's command line lies in memory, `[start, end)`:
/// fields 48 and 49 of `/proc/self/stat`; read once.
fn command_line_area() -> Option<(usize, usize)> {
    static AREA: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *AREA.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields from the 3rd on follow the name, which may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let start: usize = fields.get(48 - 3)?.parse().ok()?;
        let end: usize = fields.get(49 - 3)?.parse().ok()?;
        (start < end).then_some((start, end))
    })
}

/// The mount table of [`Enclosure`]: a fresh `/proc`, the hidden folders
/// covered, the working folder at `home` (a tmpfs `/home` holding only it),
/// and `home` the working folder.
fn enter_own_mounts(hidden: &[CString], home: &CStr) -> nix::Result<()> {
    use nix::fcntl::OFlag;
    use nix::mount::mount;
    const NONE: Option<&CStr> = None;
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // Held by descriptor: a hidden folder or the new /home may cover it.
    let own = nix::fcntl::open(c".", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?;
    // Nothing mounted here reaches the host's mount table.
    mount(NONE, c"/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)?;
    mount(Some(c"proc"), c"/proc", Some(c"proc"), quiet, NONE)?;
    for folder in hidden {
        match mount(Some(c"tmpfs"), folder.as_c_str(), Some(c"tmpfs"), quiet | MsFlags::MS_RDONLY, Some(c"size=4k,mode=0555")) {
            // Nothing there (recordings not written yet): nothing to hide.
            Err(nix::errno::Errno::ENOENT) => {}
            other => other?,
        }
    }
    mount(Some(c"tmpfs"), c"/home", Some(c"tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(c"size=64k,mode=0755"))?;
    nix::unistd::mkdir(home, nix::sys::stat::Mode::from_bits_truncate(0o755))?;
    let mut path = [0u8; 48];
    mount(Some(numbered(b"/proc/self/fd/", std::os::fd::AsRawFd::as_raw_fd(&own), &mut path)), home, NONE, MsFlags::MS_BIND, NONE)?;
    drop(own);
    nix::unistd::chdir(home)
}

/// `<prefix><n>` as a C string, written into `buf` without allocating
/// (a fork's child may not); `/nonexistent` if it does not fit.
fn numbered<'a>(prefix: &[u8], n: i32, buf: &'a mut [u8; 48]) -> &'a CStr {
    let mut digits = [0u8; 10];
    let mut rest = n.unsigned_abs();
    let mut count = 0;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if prefix.len() + count >= buf.len() {
        return c"/nonexistent";
    }
    buf[..prefix.len()].copy_from_slice(prefix);
    for i in 0..count {
        buf[prefix.len() + i] = digits[count - 1 - i];
    }
    buf[prefix.len() + count] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/nonexistent")
}

/// The program's pid, for [`forward`].
static PROGRAM: AtomicI32 = AtomicI32::new(0);

/// Signal handler of the stand-by: passes the signal on to the program.
extern "C" fn forward(signal: nix::libc::c_int) {
    let program = PROGRAM.load(Ordering::Relaxed);
    if program > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { nix::libc::kill(program, signal) };
    }
}

/// The `porthole-standby` binary stand-bys exec ([`relaunch_stand_bys`]).
static RELAUNCH: std::sync::OnceLock<CString> = std::sync::OnceLock::new();

/// The variable that tells `porthole-standby` for which pid it stands by:
/// `PORTHOLE_STAND_BY=<pid>`.
pub const STAND_BY_ENV: &str = "PORTHOLE_STAND_BY";

/// From now on a stand-by (outside, and PID 1 inside) execs `binary`
/// (`porthole-standby`, beside `porthole`) with only [`STAND_BY_ENV`] set,
/// which runs [`stand_by_if_asked`]. A fork that stays a fork keeps
/// Porthole's heap as it was at the fork (copy-on-write: each page Porthole
/// writes later is copied once more), megabytes per session; the small
/// binary holds a few hundred KiB. Without it (or when it cannot be
/// reached, e.g. under a hidden folder) the fork stands by itself.
pub fn relaunch_stand_bys(binary: &Path) {
    if let Ok(path) = CString::new(binary.as_os_str().as_bytes()) {
        let _ = RELAUNCH.set(path);
    }
}

/// In a relaunched stand-by ([`STAND_BY_ENV`] set): does its job and
/// never returns. Otherwise returns at once.
pub fn stand_by_if_asked() {
    let Some(program) = std::env::var(STAND_BY_ENV).ok().and_then(|pid| pid.parse::<i32>().ok()) else { return };
    if std::env::args_os().next().is_some_and(|name| name == "pod-init") {
        let _ = nix::sys::prctl::set_name(c"pod-init");
    } else {
        let _ = nix::sys::prctl::set_name(c"porthole-standb");
    }
    wait_for_program(nix::unistd::Pid::from_raw(program))
}

/// Which stand-by: outside the namespaces, or PID 1 inside (with where
/// its command line lies, for [`become_init`]).
enum Role {
    Outside,
    Init(Option<(usize, usize)>),
}

/// The stand-by (see the module docs): forwards signals to `program`,
/// waits for it and exits as it did; relaunched as `porthole-standby` when
/// it can be. Never returns.
fn stand_by(program: nix::unistd::Pid, role: Role) -> ! {
    close_others();
    let name = match role {
        Role::Outside => c"porthole-stand-by",
        Role::Init(_) => c"pod-init",
    };
    if let Some(binary) = RELAUNCH.get() {
        let mut variable = [0u8; 48];
        let variable = numbered(b"PORTHOLE_STAND_BY=", program.as_raw(), &mut variable);
        let argv = [name.as_ptr(), std::ptr::null()];
        let envp = [variable.as_ptr(), std::ptr::null()];
        // SAFETY: both arrays end in NULL and point at live C strings; the
        // signal mask (HUP/TERM/INT/QUIT held) carries over to the new
        // image, which forwards them once its handlers are in place.
        // Returns only on failure.
        unsafe { nix::libc::execve(binary.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    }
    if let Role::Init(area) = role {
        become_init(area);
    }
    wait_for_program(program)
}

/// Every descriptor but the terminal's (0–2): above all std's exec-error
/// pipe, which the spawner reads until every copy is closed (the
/// program's copy closes when it execs, or reports its error).
fn close_others() {
    // SAFETY: close_range closes descriptors this process alone uses now.
    if unsafe { nix::libc::syscall(nix::libc::SYS_close_range, 3u32, u32::MAX, 0u32) } != 0 {
        // Before Linux 5.9: every descriptor the limit allows.
        let mut limit = nix::libc::rlimit { rlim_cur: 1024, rlim_max: 1024 };
        // SAFETY: getrlimit writes into `limit` only.
        unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit) };
        for fd in 3..limit.rlim_cur.min(1 << 20) as i32 {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// The stand-by's loop: forwards [`FORWARDED`] to `program`, reaps every
/// child (PID 1 adopts orphans) and exits as `program` did (128 + signal
/// when it was killed).
fn wait_for_program(program: nix::unistd::Pid) -> ! {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    use nix::sys::wait::{WaitStatus, waitpid};
    PROGRAM.store(program.as_raw(), Ordering::Relaxed);
    let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, SigSet::empty());
    for signal in FORWARDED {
        // SAFETY: `forward` only reads an atomic and calls kill.
        let _ = unsafe { sigaction(signal, &action) };
    }
    // What arrived while they were held is forwarded now.
    let _ = hold_signals(nix::sys::signal::SigmaskHow::SIG_UNBLOCK);
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => exit_now(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => exit_now(128 + signal as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => exit_now(255),
        }
    }
}

/// Ends the stand-by at once with `code`: no destructors or atexit
/// handlers, which belong to the Porthole it was forked from.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and ends only this process.
    unsafe { nix::libc::_exit(code) }
}

/// Drops root for `user`: no supplementary groups, its group, its uid.
fn switch_user(user: Option<SandboxUser>) -> std::io::Result<()> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    if let Some(user) = user {
        setgroups(&[])?;
        setgid(Gid::from_raw(user.gid))?;
        setuid(Uid::from_raw(user.uid))?;
    }
    Ok(())
}

/// At most 63 bytes of `name`, cut at a character boundary (a DNS label;
/// Linux takes 64).
pub fn dns_label(name: &str) -> &str {
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Whether full enclosures work here: runs `sh` enclosed (hiding
/// `hidden`, in `dir`) and checks it is PID 2 under `pod-init` (name and
/// command line) in `/home/porthole-probe`.
/// `Err` says why not, for the log.
pub fn probe(dir: &Path, hidden: &[PathBuf]) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    if !nix::unistd::geteuid().is_root() {
        return Err("not running as root".into());
    }
    let enclosure = Enclosure { hostname: "porthole-probe".into(), full: true, hidden: hidden.to_vec() };
    let mut hook = hook(Some(&enclosure), None).ok_or("no hook")?;
    let mut command = std::process::Command::new("/bin/sh");
    command
        .args(["-c", r#"test $$ = 2 && test $PPID = 1 && test "$(cat /proc/1/comm)" = pod-init && test "$(tr -d '\0' < /proc/1/cmdline)" = pod-init && test "$(pwd)" = /home/porthole-probe && test "$(hostname)" = porthole-probe"#])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: the hook makes system calls only (see `hook`).
    unsafe { command.pre_exec(move || hook()) };
    let _one_at_a_time = spawning();
    let output = command.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("the probe ended with {}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_whole() {
        let mut buf = [0u8; 48];
        assert_eq!(numbered(b"/proc/self/fd/", 7, &mut buf), c"/proc/self/fd/7");
        assert_eq!(numbered(b"/proc/self/fd/", 1234567890, &mut buf), c"/proc/self/fd/1234567890");
        assert_eq!(numbered(b"PORTHOLE_STAND_BY=", 0, &mut buf), c"PORTHOLE_STAND_BY=0");
        assert_eq!(numbered(&[b'x'; 40], 12345678, &mut buf), c"/nonexistent");
    }

    #[test]
    fn hostnames_are_cut_to_a_dns_label_at_a_character_boundary() {
        assert_eq!(dns_label("web"), "web");
        assert_eq!(dns_label(&"a".repeat(80)).len(), 63);
        let long = format!("{}é", "a".repeat(62));
        assert_eq!(dns_label(&long), "a".repeat(62));
    }

    #[test]
    fn home_is_inside_only_with_a_mount_table_of_its_own() {
        let dir = Path::new("/data/sandbox/pods/ns/web");
        let mut enclosure = Enclosure { hostname: "web".into(), full: true, hidden: vec![] };
        assert_eq!(Enclosure::home(Some(&enclosure), dir), Path::new("/home/web"));
        enclosure.full = false;
        assert_eq!(Enclosure::home(Some(&enclosure), dir), dir);
        assert_eq!(Enclosure::home(None, dir), dir);
    }

    /// As root on a kernel that allows it: a process is PID 2 under
    /// `pod-init`, with a
    /// hostname and home of its own, and cannot see a hidden folder.
    #[test]
    fn an_enclosed_process_sees_only_itself() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("secret"), "s3cr3t").unwrap();
        let own = data.path().join("own");
        std::fs::create_dir(&own).unwrap();
        if let Err(why) = probe(&own, &[data.path().to_path_buf()]) {
            eprintln!("skipped: no namespaces here ({why})");
            return;
        }
        use std::os::unix::process::CommandExt;
        let enclosure = Enclosure { hostname: "web-1".into(), full: true, hidden: vec![data.path().to_path_buf()] };
        let mut hook = hook(Some(&enclosure), None).unwrap();
        let script = format!(
            "echo pid=$$; echo init=$(cat /proc/1/comm); echo pwd=$(pwd); echo host=$(hostname); cat {}/secret; echo procs=$(ls /proc | grep -c '^[0-9]')",
            data.path().display()
        );
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", &script]).current_dir(&own);
        // SAFETY: as in `probe`.
        unsafe { command.pre_exec(move || hook()) };
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("pid=2\n") && stdout.contains("init=pod-init\n"), "{stdout}");
        assert!(stdout.contains("pwd=/home/web-1\n"), "{stdout}");
        assert!(stdout.contains("host=web-1\n"), "{stdout}");
        assert!(!stdout.contains("s3cr3t"), "{stdout}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("No such file"), "{output:?}");
        // pod-init, sh, the subshell of $(…), and ls and grep in its pipeline.
        let procs: usize = stdout.split("procs=").nth(1).and_then(|s| s.trim().parse().ok()).unwrap();
        assert!(procs <= 5, "{stdout}");
        assert!(output.status.success(), "{output:?}");
    }

    #[test]
    fn the_exit_status_passes_through_the_stand_by() {
        let dir = tempfile::tempdir().unwrap();
        if let Err(why) = probe(dir.path(), &[]) {
            eprintln!("skipped: no namespaces here ({why})");
            return;
        }
        use std::os::unix::process::CommandExt;
        let enclosure = Enclosure { hostname: "job-7".into(), full: true, hidden: vec![] };
        for (script, code) in [("exit 3", 3), ("kill -9 $$", 137), ("touch made-inside", 0)] {
            let mut hook = hook(Some(&enclosure), None).unwrap();
            let mut command = std::process::Command::new("/bin/sh");
            command.args(["-c", script]).current_dir(dir.path());
            // SAFETY: as in `probe`.
            unsafe { command.pre_exec(move || hook()) };
            assert_eq!(command.status().unwrap().code(), Some(code), "{script}");
        }
        assert!(dir.path().join("made-inside").exists(), "home is the working folder");
    }
}

//! Pods and jobs cannot reach Porthole's secrets: they run as their own
//! users (`porthole-pod`, `porthole-job` when Porthole runs as root) in
//! `<data-dir>/sandbox`, and the data dir's files are Porthole's alone.

mod common;

use common::*;
use std::time::Duration;

/// What a shell in a pod or a job tries, as the break-in attempt did: list
/// the data dir, read each secret.
fn attempts(data: &std::path::Path) -> String {
    let files = ["workhorse_secret", "runner_token", "porthole.db", "local-cluster/token", "local-cluster/kubeconfig"];
    let cats: Vec<String> = files.iter().map(|f| format!("(cat {}/{f} || echo cat-failed)", data.display())).collect();
    format!("echo uid=$(id -u); echo listed=[$(ls {} 2>&1)]; {} ; echo 'done'-$((40+2))", data.display(), cats.join(" ; "))
}

/// Checks the output of [`attempts`]: another uid, nothing listed, every
/// read refused (the data dir closed to the sandbox user, or out of sight
/// in an enclosure), no secret's bytes.
fn assert_refused(output: &str, data: &std::path::Path) {
    assert!(!output.contains("uid=0\r") && !output.contains("uid=0\n"), "runs as root: {output}");
    assert!(output.contains("uid="), "{output}");
    let listed = output.split("listed=[").nth(1).and_then(|s| s.split(']').next()).unwrap_or_default();
    assert!(!listed.contains("porthole.db") && !listed.contains("secret"), "the data dir was listed: {output}");
    // Lines of their own: a terminal also echoes the command as typed.
    assert_eq!(output.lines().filter(|l| l.trim() == "cat-failed").count(), 5, "{output}");
    for secret in ["workhorse_secret", "runner_token"] {
        let value = std::fs::read_to_string(data.join(secret)).unwrap();
        assert!(!output.contains(value.trim()), "{secret} leaked: {output}");
    }
}

/// Whether pods and jobs here get their own PID and mount namespaces.
fn namespaces_here() -> bool {
    let dir = tempfile::tempdir().unwrap();
    match server::sandbox::enclosure::probe(dir.path(), &[]) {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipped: no namespaces here ({why})");
            false
        }
    }
}

/// What a shell checks of its enclosure: its pid and its parent's, the
/// name and command line of PID 1, how many processes it sees, where it is.
const WHERE_AM_I: &str = "echo pid=$$ ppid=$PPID init=$(cat /proc/1/comm) cmdline=$(tr -d '\\0' < /proc/1/cmdline) procs=$(ls /proc | grep -c '^[0-9]') pwd=$(pwd) end-$((6*7))";

/// Checks the answer to [`WHERE_AM_I`] of a shell enclosed as `hostname`:
/// PID 2 of its own process table under `pod-init` (whose command line is
/// not Porthole's), which holds only them and the shell's pipeline (not
/// Porthole, not the host's processes), in `/home/<hostname>`.
fn assert_enclosed(output: &str, hostname: &str) {
    // The answer, not the command as a terminal echoes it; a terminal may
    // put an escape sequence (bracketed paste off) before it.
    let line = output.lines().filter(|l| !l.contains("echo pid=")).find_map(|l| l.find("pid=").map(|at| &l[at..]));
    let line = line.unwrap_or_else(|| panic!("no answer: {output}"));
    assert!(line.starts_with("pid=2 ppid=1 init=pod-init cmdline=pod-init procs="), "not in an enclosure of its own: {output}");
    let procs: usize = line.split("procs=").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(procs <= 6, "sees the host's processes: {output}");
    assert!(line.contains(&format!("pwd=/home/{hostname} end-42")), "{output}");
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[tokio::test]
async fn an_environment_terminal_cannot_read_porthole_s_files() {
    if !running_as_root() {
        eprintln!("skipped: only root can run pods as another user");
        return;
    }
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let output = client.run(&attempts(porthole.data.path()), "done-42").await;
    assert_refused(&output, porthole.data.path());
    // A pod's own hostname (a UTS namespace), as a pod has.
    let output = client.run("echo host-is-$(hostname)", "host-is-shop").await;
    assert!(output.contains("host-is-shop-web-7c9d5b8f4-q2x7z"), "{output}");
    // Its own folder is its own.
    let output = client.run("touch mine && echo wrote-$((1+1))", "wrote-2").await;
    assert!(!output.contains("Permission denied"), "{output}");
    let pod_dir = porthole.data.path().join("sandbox/pods/shop-production/shop-web-7c9d5b8f4-q2x7z");
    assert!(pod_dir.join("mine").exists(), "written in the pod's folder");
    if namespaces_here() {
        let output = client.run(WHERE_AM_I, "end-42").await;
        assert_enclosed(&output, "shop-web-7c9d5b8f4-q2x7z");
        // Its stand-bys are the small binary, not forks of Porthole that
        // would keep a copy of its memory.
        let standby = std::fs::canonicalize(env!("CARGO_BIN_EXE_porthole-standby")).unwrap();
        let relaunched = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            cmdline == b"porthole-stand-by\0" && std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == standby)
        });
        assert!(relaunched, "no porthole-stand-by process runs {}", standby.display());
    }
    client.close().await;
}

#[tokio::test]
async fn a_ci_job_cannot_read_porthole_s_files() {
    if !running_as_root() {
        eprintln!("skipped: only root can run jobs as another user");
        return;
    }
    let porthole = start_configured(|c| {
        let mut ss = server::session_server::SessionServerConfig::new("127.0.0.1:0".parse().unwrap());
        ss.poll_interval = Duration::from_millis(100);
        c.session_server = Some(ss);
    })
    .await;
    let script = format!("{WHERE_AM_I}; {}; {}", pod_folder_attempt(porthole.data.path()), attempts(porthole.data.path()));
    let id = post_job(&porthole, &script, 0).await;
    let url = format!("{}/api/v4/projects/1/jobs/{id}", porthole.url());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let trace = loop {
        let job: serde_json::Value = porthole.http().get(&url).send().await.unwrap().json().await.unwrap();
        if let Some(trace) = job["trace"].as_str().filter(|t| t.contains("done-42")) {
            break trace.to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "the job never finished its script: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A Developer's job cannot enter a pod's folder either.
    assert!(trace.contains("pod-folder: refused"), "{trace}");
    assert_refused(&trace, porthole.data.path());
    if namespaces_here() {
        assert_enclosed(&trace, &format!("job-{id}"));
    }
}

/// A job looking into a pod's folder (only Maintainers may open its shell).
fn pod_folder_attempt(data: &std::path::Path) -> String {
    let pod = data.join("sandbox/pods/shop-production/shop-web-7c9d5b8f4-q2x7z");
    format!("(ls {} >/dev/null 2>&1 && echo pod-folder: listed || echo pod-folder: refused)", pod.display())
}

#[tokio::test]
async fn the_data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let porthole = start().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = porthole.data.path();
    assert_eq!(mode(data), 0o711, "others may pass through to the sandbox, not list");
    for file in ["workhorse_secret", "runner_token", "porthole.db", "local-cluster/token", "local-cluster/kubeconfig"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&data.join("local-cluster")), 0o700);
}

#[tokio::test]
async fn an_exec_without_a_terminal_is_set_apart_too() {
    if !running_as_root() {
        eprintln!("skipped: only root can run pods as another user");
        return;
    }
    let porthole = start().await;
    let secret = porthole.data.path().join("workhorse_secret");
    let script = format!("id -u; hostname; cat {} || echo refused; {WHERE_AM_I}", secret.display());
    let out = tokio::time::timeout(
        DEADLINE,
        tokio::process::Command::new("kubectl")
            .args(["exec", "shop-web-7c9d5b8f4-q2x7z", "-c", "web", "--", "sh", "-c", &script])
            .env("KUBECONFIG", &porthole.porthole.cluster.as_ref().unwrap().kubeconfig)
            .output(),
    )
    .await
    .expect("kubectl in time")
    .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_ne!(lines.next(), Some("0"), "runs as root: {stdout}");
    assert_eq!(lines.next(), Some("shop-web-7c9d5b8f4-q2x7z"), "{stdout}");
    assert_eq!(lines.next(), Some("refused"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Permission denied") || stderr.contains("No such file"), "{stderr}");
    if namespaces_here() {
        assert_enclosed(&stdout, "shop-web-7c9d5b8f4-q2x7z");
    }
}

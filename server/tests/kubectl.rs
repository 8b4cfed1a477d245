//! The local cluster is a Kubernetes API that real clients use: kubectl (the
//! machine's, which speaks exec over WebSocket v5) and the Python
//! `kubernetes` client (v4).

mod common;

use common::*;
use server::pty::{self, Spec};
use shared::porthole::TerminalSize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const POD: &str = "shop-web-7c9d5b8f4-q2x7z";

async fn kubectl(porthole: &TestPorthole, args: &[&str]) -> std::process::Output {
    tokio::time::timeout(
        DEADLINE,
        tokio::process::Command::new("kubectl").args(args).env("KUBECONFIG", &porthole.porthole.cluster.as_ref().unwrap().kubeconfig).output(),
    )
    .await
    .expect("kubectl finished in time")
    .expect("kubectl runs (it is on the machine image)")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn kubectl_get_pods_as_a_table_and_as_json() {
    let porthole = start().await;
    let out = kubectl(&porthole, &["get", "pods", "-A"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(table.lines().any(|l| l.starts_with("shop-production") && l.contains(POD) && l.contains("2/2") && l.contains("Running")), "{table}");

    let out = kubectl(&porthole, &["get", "pods", "-o", "json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(list["items"][0]["metadata"]["annotations"]["app.gitlab.com/app"], "demo-shop");
}

#[tokio::test]
async fn kubectl_exec_prints_and_exits_with_the_commands_status() {
    let porthole = start().await;
    let out = kubectl(&porthole, &["exec", POD, "-c", "web", "--", "sh", "-c", "echo ok; echo oops >&2; exit 7"]).await;
    assert_eq!(text(&out.stdout), "ok\n");
    assert!(text(&out.stderr).starts_with("oops\n"), "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(7));
}

#[tokio::test]
async fn kubectl_exec_it_follows_its_terminals_size() {
    let porthole = start().await;
    let kubeconfig = porthole.porthole.cluster.as_ref().unwrap().kubeconfig.display().to_string();
    let mut kubectl = pty::spawn(&Spec {
        argv: ["kubectl", "exec", "-it", POD, "-c", "web", "--", "sh"].map(String::from).to_vec(),
        env: vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), porthole.data.path().display().to_string()),
            ("KUBECONFIG".into(), kubeconfig),
            ("TERM".into(), "xterm".into()),
        ],
        cwd: porthole.data.path().to_path_buf(),
        size: TerminalSize { cols: 100, rows: 30 },
        user: None,
        enclosure: None,
    })
    .unwrap();
    let mut seen = Vec::new();
    // Ask until the answer shows: the first ask may beat the shell's start,
    // and a resize travels as its own message.
    let mut ask_until = async |kubectl: &mut pty::PtyProcess, want: &str| {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut next_ask = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_ask {
                kubectl.writer.write_all(b"echo size=$(stty size)=\r").await.unwrap();
                next_ask = tokio::time::Instant::now() + Duration::from_millis(500);
            }
            let mut buf = [0u8; 4096];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), kubectl.reader.read(&mut buf)).await {
                assert!(n > 0, "kubectl closed its terminal: {}", text(&seen));
                seen.extend_from_slice(&buf[..n]);
            }
            if text(&seen).contains(&format!("size={want}=")) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {want:?} in {:?}", text(&seen));
        }
    };
    ask_until(&mut kubectl, "30 100").await;
    kubectl.writer.resize(pty::to_pty_size(TerminalSize { cols: 120, rows: 40 })).unwrap();
    ask_until(&mut kubectl, "40 120").await;
    kubectl.writer.write_all(b"exit 3\r").await.unwrap();
    let status = tokio::time::timeout(DEADLINE, kubectl.child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(3));
}

#[tokio::test]
async fn kubectl_delete_pod_removes_it() {
    let porthole = start().await;
    let out = kubectl(&porthole, &["delete", "pod", "metrics-agent-x8k2p", "--wait=false"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kubectl(&porthole, &["get", "pods", "-o", "name"]).await;
    let names = text(&out.stdout);
    assert!(!names.contains("metrics-agent-x8k2p"), "{names}");
    assert!(names.contains(POD), "{names}");
}

#[tokio::test]
async fn the_python_kubernetes_client_streams_stdout_and_the_exit_code() {
    let venv_python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(venv_python.exists(), "{} is missing: run scripts/install-tools.sh", venv_python.display());
    let porthole = start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/k8s_python_exec.py");
    let out = tokio::time::timeout(
        DEADLINE,
        tokio::process::Command::new(venv_python).arg(script).arg(&porthole.porthole.cluster.as_ref().unwrap().kubeconfig).arg(POD).output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("stdout=from-python\n"), "{stdout}");
    assert!(stdout.contains("returncode=5\n"), "{stdout}");
}

#[tokio::test]
async fn kubectl_get_pods_with_label_and_field_selectors() {
    let porthole = start().await;
    let names = |out: std::process::Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut names: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
        names.sort();
        names
    };
    let shop = names(kubectl(&porthole, &["get", "pods", "-l", "app=shop", "-o", "name"]).await);
    assert_eq!(shop, ["pod/shop-web-7c9d5b8f4-m8k3p", "pod/shop-web-7c9d5b8f4-q2x7z"]);
    let not_shop = names(kubectl(&porthole, &["get", "pods", "-l", "app!=shop", "-o", "name"]).await);
    assert_eq!(not_shop, ["pod/metrics-agent-x8k2p"]);
    let one = names(kubectl(&porthole, &["get", "pods", "--field-selector", &format!("metadata.name={POD}"), "-o", "name"]).await);
    assert_eq!(one, [format!("pod/{POD}")]);
    let out = kubectl(&porthole, &["get", "pods", "-l", "app in (shop)"]).await;
    assert!(!out.status.success(), "set-based selectors are not served");
}

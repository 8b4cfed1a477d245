//! The `porthole` binary as an operator meets it: its log lines for log
//! shippers (`--log-format json`, one line per session end).

mod common;

use common::binary::Binary;
use common::eventually;
use std::time::Duration;

/// Each log line of `porthole` as JSON; panics on a line that is not.
fn json_lines(porthole: &Binary) -> Vec<serde_json::Value> {
    let log = porthole.log.lock().unwrap();
    for line in log.iter() {
        // serde_json would keep the last of two: a field must not be named `message`.
        assert!(line.matches("\"message\":").count() == 1, "one message per line: {line}");
    }
    log.iter().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))).collect()
}

/// The `session ended` lines so far.
fn session_ends(porthole: &Binary) -> Vec<serde_json::Value> {
    json_lines(porthole).into_iter().filter(|line| line["fields"]["message"] == "session ended").map(|line| line["fields"].clone()).collect()
}

#[tokio::test]
async fn every_log_line_is_json_and_a_session_end_is_one_line_with_who_what_and_how() {
    let porthole = Binary::start(&["--log-format", "json"], "info");
    // A refusal logs its own words beside the event's name, not over it.
    let signed_out = common::Client::try_connect(&format!("{}{}", porthole.url, common::ENV_WS), "v1.porthole").await;
    assert!(signed_out.is_err());
    let mut client = porthole.connect("v1.porthole").await;
    client.expect_prompt().await;
    client.run("echo logged-$((6*7))", "logged-42").await;
    client.send_input(b"exit 3\r").await;
    let (code, reason) = client.expect_close().await;
    eventually("the session-end log line", Duration::from_secs(10), || !session_ends(&porthole).is_empty()).await;
    let ends = session_ends(&porthole);
    assert_eq!(ends.len(), 1, "{ends:?}");
    let end = &ends[0];
    assert_eq!(end["role"], "terminal", "{end}");
    assert_eq!(end["user"], "maintainer", "{end}");
    assert_eq!(end["project"], "demo/shop", "{end}");
    assert_eq!(end["environment"], 1, "{end}");
    assert!(end["pod"].as_str().is_some_and(|pod| !pod.is_empty()), "{end}");
    assert!(end["container"].as_str().is_some_and(|c| !c.is_empty()), "{end}");
    assert!(end["duration_ms"].as_u64().is_some(), "{end}");
    assert!(end["bytes_in"].as_u64().is_some_and(|n| n >= "echo logged-$((6*7))\rexit 3\r".len() as u64), "{end}");
    assert!(end["bytes_out"].as_u64().is_some_and(|n| n >= "logged-42".len() as u64), "{end}");
    assert_eq!(end["close_code"], code, "{end}");
    assert_eq!(end["reason"], reason.as_str(), "{end}");
    assert_eq!(end["exit_code"], 3, "{end}");
    let refused = json_lines(&porthole).into_iter().find(|l| l["fields"]["message"] == "app refused");
    let log = porthole.log.lock().unwrap().clone();
    assert!(refused.as_ref().is_some_and(|l| l["fields"]["status"].is_u64() && l["fields"]["reason"].is_string()), "no refusal line: {refused:?} in {log:?}");
    // Each line carries its level and time.
    let first = &json_lines(&porthole)[0];
    assert!(first["level"].is_string() && first["timestamp"].is_string(), "{first}");
}

/// docs/configuration.md.
fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md")).unwrap()
}

/// A flag as `--help` or the reference gives it: `--name`, its variable,
/// its default (when `--help` shows one).
#[derive(Debug, Clone, PartialEq)]
struct Flag {
    name: String,
    env: String,
    default: Option<String>,
}

/// The flags of `porthole <args> --help` (clap's long help), but `--help`
/// and `--version`.
fn help_flags(args: &[&str]) -> Vec<Flag> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porthole")).args(args).arg("--help").env_clear().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut flags: Vec<Flag> = Vec::new();
    for line in text.lines().map(str::trim) {
        // `--name <NAME>` or `-h, --help`; not a `- value: …` line.
        if line.starts_with("--") || (line.starts_with('-') && line.contains(", --")) {
            let name = line.split([' ', ',']).find(|w| w.starts_with("--")).unwrap().to_string();
            flags.push(Flag { name, env: String::new(), default: None });
        } else if let (Some(flag), Some(env)) = (flags.last_mut(), line.strip_prefix("[env: ")) {
            flag.env = env.split(['=', ']']).next().unwrap().to_string();
        } else if let (Some(flag), Some(default)) = (flags.last_mut(), line.strip_prefix("[default: ")) {
            flag.default = Some(default.trim_end_matches(']').to_string());
        }
    }
    flags.retain(|f| f.name != "--help" && f.name != "--version");
    flags
}

/// The rows ``| `--name` | `ENV` | default | meaning |`` of the table under
/// the heading that starts with `heading`; the default column as written.
fn documented_flags(heading: &str) -> Vec<Flag> {
    let reference = reference();
    let section = reference.split("\n## ").find(|s| s.starts_with(heading)).unwrap_or_else(|| panic!("no section {heading}"));
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix("`--")?.strip_suffix('`')?;
            Some(Flag { name: format!("--{name}"), env: cells[2].trim_matches('`').to_string(), default: Some(cells[3].to_string()) })
        })
        .collect()
}

/// Every flag of `--help` is in the reference with its variable and
/// default, and the reference names no flag `--help` lacks.
fn assert_reference_matches(args: &[&str], heading: &str) {
    let help = help_flags(args);
    let documented = documented_flags(heading);
    assert!(help.len() >= 6, "{help:?}");
    for flag in &help {
        let row = documented.iter().find(|d| d.name == flag.name).unwrap_or_else(|| panic!("{} is not in docs/configuration.md ({heading})", flag.name));
        assert_eq!(row.env, flag.env, "the variable of {}", flag.name);
        if let Some(default) = &flag.default {
            let column = row.default.as_deref().unwrap();
            assert!(column.contains(&format!("`{default}`")), "{}: --help says the default is {default}, the reference {column}", flag.name);
        }
    }
    for row in &documented {
        assert!(help.iter().any(|f| f.name == row.name), "the reference names {}, which `porthole {}` does not take", row.name, args.join(" "));
    }
}

#[test]
fn the_configuration_reference_matches_help() {
    assert_reference_matches(&[], "`porthole` (");
    assert_reference_matches(&["session-server"], "`porthole session-server`");
}

/// `porthole check-config <file>`: (success, stdout, stderr).
/// `porthole check-config FILE` as in a pod: the kubelet's two service
/// variables set (for `in_cluster`).
fn check_config(file: &std::path::Path) -> (bool, String, String) {
    let in_a_pod = [("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("KUBERNETES_SERVICE_PORT", "443")];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porthole")).arg("check-config").arg(file).envs(in_a_pod).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_config_accepts_the_reference_file_and_names_a_wrong_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference();
    let example = reference.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
    // The files it names, made here.
    let token = dir.path().join("production.token");
    std::fs::write(&token, "token-123\n").unwrap();
    let ca = dir.path().join("production-ca.crt");
    let ca_pem = server::tls::LocalCa::generate().unwrap().ca_pem;
    std::fs::write(&ca, &ca_pem).unwrap();
    let kubeconfig = dir.path().join("staging.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: staging\nclusters:\n- name: s\n  cluster: {server: 'https://127.0.0.1:6443'}\n\
         users:\n- name: u\n  user: {token: t0k3n}\ncontexts:\n- name: staging\n  context: {cluster: s, user: u}\n",
    )
    .unwrap();
    let service_account = dir.path().join("serviceaccount");
    std::fs::create_dir(&service_account).unwrap();
    std::fs::write(service_account.join("token"), "eyJ.projected\n").unwrap();
    std::fs::write(service_account.join("ca.crt"), &ca_pem).unwrap();
    let example = example
        .replace("/var/run/secrets/kubernetes.io/serviceaccount", &service_account.display().to_string())
        .replace("/etc/porthole/production.token", &token.display().to_string())
        .replace("/etc/porthole/production-ca.crt", &ca.display().to_string())
        .replace("/etc/porthole/staging.kubeconfig", &kubeconfig.display().to_string());
    let file = dir.path().join("porthole.toml");
    std::fs::write(&file, &example).unwrap();
    let (ok, stdout, stderr) = check_config(&file);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok (3 clusters, 1 projects, 1 environments, job terminals on)"), "{stdout}");

    // A misspelled key: named, with its line.
    let line = example.lines().position(|l| l.starts_with("namespace = ")).unwrap() + 1;
    std::fs::write(&file, example.replace("namespace = ", "namespac = ")).unwrap();
    let (ok, _, stderr) = check_config(&file);
    assert!(!ok);
    assert!(stderr.contains("unknown field `namespac`") && stderr.contains(&format!("line {line}")), "{stderr}");

    // An environment naming a cluster the file lacks.
    std::fs::write(&file, example.replace("cluster = \"production\"", "cluster = \"prod\"")).unwrap();
    let (ok, _, stderr) = check_config(&file);
    assert!(!ok);
    assert!(stderr.contains("no cluster \"prod\""), "{stderr}");

    // Mistakes that only start-up used to find.
    let twice = format!("{example}\n[[projects.environments]]\nid = 7\nname = \"again\"\ncluster = \"local\"\nnamespace = \"x\"\n");
    std::fs::write(&file, twice).unwrap();
    let (ok, _, stderr) = check_config(&file);
    assert!(!ok && stderr.contains("id 7 is used twice"), "{stderr}");
    std::fs::write(&file, example.replace("advertise_address = \"", "advertise_address = \"https://")).unwrap();
    let (ok, _, stderr) = check_config(&file);
    assert!(!ok && stderr.contains("without a scheme"), "{stderr}");

    // in_cluster outside a pod: the missing variable named.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porthole"))
        .arg("check-config")
        .arg(&file)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cluster \"here\"") && stderr.contains("KUBERNETES_SERVICE_HOST"), "{stderr}");

    // A CA file that is not PEM.
    std::fs::write(&ca, "notpem").unwrap();
    let (ok, _, stderr) = check_config(&file);
    assert!(!ok && stderr.contains("cluster \"production\"") && stderr.contains("the CA"), "{stderr}");
    std::fs::write(&ca, &ca_pem).unwrap();

    // A token file that is not there.
    std::fs::remove_file(&token).unwrap();
    std::fs::write(&file, &example).unwrap();
    let (ok, _, stderr) = check_config(&file);
    assert!(!ok);
    assert!(stderr.contains("production.token"), "{stderr}");
}

/// `porthole <args>` that must refuse to start: its exit and stderr.
fn refused_start(args: &[&str], config: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_porthole"));
    command.args(["--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path().join("data")).args(args);
    if let Some(text) = config {
        let file = dir.path().join("porthole.toml");
        std::fs::write(&file, text).unwrap();
        command.arg("--config").arg(file);
    }
    let out = command.env_clear().output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn without_the_local_cluster_nothing_may_need_it() {
    // The demo runs in it.
    let stderr = refused_start(&["--no-local-cluster"], None);
    assert!(stderr.contains("set demo = false"), "{stderr}");
    // So does an environment on `local`.
    let config = "demo = false\n[[projects]]\nid = 2\npath = \"a/b\"\n[[projects.environments]]\nid = 3\nname = \"dev\"\ncluster = \"local\"\nnamespace = \"x\"\n";
    let stderr = refused_start(&["--no-local-cluster"], Some(config));
    assert!(stderr.contains("environment \"dev\" is on the local cluster"), "{stderr}");
    // check-config says so too, given the same flag.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("porthole.toml");
    std::fs::write(&file, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porthole")).arg("--no-local-cluster").arg("check-config").arg(&file).env_clear().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("environment \"dev\" is on the local cluster"), "{stderr}");
}

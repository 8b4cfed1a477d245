//! `deploy/kubernetes` and the `Dockerfile`, checked against the binary
//! they run. No container runtime runs here: `kubectl kustomize` renders
//! the manifests (what `kubectl apply -k` would send), each object is read
//! into k8s-openapi's types, the Deployment's flags are parsed by the real
//! `porthole` (with the rendered configuration file), and the RBAC, probes,
//! ports and the image's user are compared with what they must match.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, ServiceAccount, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeSet;
use std::path::Path;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Every object `kubectl kustomize deploy/kubernetes` renders, as JSON.
fn render() -> Vec<serde_json::Value> {
    let out = std::process::Command::new("kubectl").arg("kustomize").arg(Path::new(REPO).join("deploy/kubernetes")).output().expect("kubectl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// The one object of `kind` (its name starting with `name`), in its type.
fn one<T: serde::de::DeserializeOwned>(objects: &[serde_json::Value], kind: &str, name: &str) -> T {
    let found: Vec<_> = objects.iter().filter(|o| o["kind"] == kind && o["metadata"]["name"].as_str().unwrap().starts_with(name)).collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    serde_json::from_value(found[0].clone()).unwrap()
}

fn kinds<'a>(objects: &'a [serde_json::Value], kind: &'a str) -> impl Iterator<Item = &'a serde_json::Value> {
    objects.iter().filter(move |o| o["kind"] == kind)
}

fn container(deployment: &Deployment) -> Container {
    deployment.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].clone()
}

/// The value of `--name=value` among `args`.
fn flag<'a>(args: &'a [String], name: &str) -> &'a str {
    args.iter().find_map(|a| a.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("no {name} in {args:?}"))
}

fn port_of(address: &str) -> i32 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// The configuration file the ConfigMap carries.
fn config_file(objects: &[serde_json::Value]) -> String {
    let map: k8s_openapi::api::core::v1::ConfigMap = one(objects, "ConfigMap", "porthole-config");
    map.data.unwrap()["porthole.toml"].clone()
}

#[test]
fn the_deployment_runs_flags_the_binary_takes_with_a_file_it_accepts() {
    let objects = render();
    let deployment: Deployment = one(&objects, "Deployment", "porthole");
    let container = container(&deployment);
    let args = container.args.clone().unwrap();

    // porthole parses every flag (a misspelled one is a usage error) and
    // accepts the ConfigMap's file, as in a pod: the kubelet's variables
    // set and a service account directory (made here) where it would be.
    let dir = tempfile::tempdir().unwrap();
    let service_account = dir.path().join("serviceaccount");
    std::fs::create_dir(&service_account).unwrap();
    std::fs::write(service_account.join("token"), "eyJ.projected\n").unwrap();
    std::fs::write(service_account.join("ca.crt"), server::tls::LocalCa::generate().unwrap().ca_pem).unwrap();
    let file = dir.path().join("porthole.toml");
    let toml = config_file(&objects);
    assert!(toml.contains("in_cluster = true\n"), "{toml}");
    std::fs::write(&file, toml.replace("in_cluster = true\n", &format!("in_cluster = true\nservice_account_dir = \"{}\"\n", service_account.display()))).unwrap();
    let pod_ip_args: Vec<String> = args.iter().map(|a| a.replace("$(POD_IP)", "10.1.2.3")).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porthole"))
        .args(&pod_ip_args)
        .arg("check-config")
        .arg(&file)
        .env_clear()
        .envs([("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("KUBERNETES_SERVICE_PORT", "443")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 clusters, 1 projects, 1 environments, job terminals off)"));

    // No local cluster: its pods would run in this container, beside the
    // secrets (the database URL, the relay ↔ app secret, the token).
    assert!(args.iter().any(|a| a == "--no-local-cluster"));

    // Every variable it sets is porthole's (or one its args refer to).
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_porthole")).arg("--help").env_clear().output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for var in container.env.as_ref().unwrap() {
        let referred = args.iter().any(|a| a.contains(&format!("$({})", var.name)));
        assert!(referred || help.contains(&format!("[env: {}", var.name)), "{} is neither porthole's nor used by its args", var.name);
    }
    let env = |name: &str| container.env.as_ref().unwrap().iter().find(|v| v.name == name).cloned().unwrap();
    // The database URL comes from a Secret, never from the manifest.
    let database = env("PORTHOLE_DATABASE_URL");
    assert!(database.value.is_none() && database.value_from.unwrap().secret_key_ref.is_some());
    assert_eq!(env("POD_IP").value_from.unwrap().field_ref.unwrap().field_path, "status.podIP");

    // Ports: named as the flags say; probes on GitLab's paths on the web port.
    let ports = container.ports.clone().unwrap();
    let port = |name: &str| ports.iter().find(|p| p.name.as_deref() == Some(name)).unwrap().container_port;
    assert_eq!(port("http"), port_of(flag(&args, "--listen")));
    assert_eq!(port("metrics"), port_of(flag(&args, "--metrics-listen")));
    assert!(flag(&args, "--relay-url").ends_with(&format!(":{}", port("http"))));
    for (probe, path) in [(container.liveness_probe.clone(), "/-/liveness"), (container.readiness_probe.clone(), "/-/readiness")] {
        let get = probe.unwrap().http_get.unwrap();
        assert_eq!((get.path.as_deref(), get.port), (Some(path), IntOrString::String("http".into())));
    }
    let requests = container.resources.clone().unwrap().requests.unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));

    // Drain: Kubernetes waits longer than porthole's grace before SIGKILL.
    let pod = deployment.spec.as_ref().unwrap().template.spec.clone().unwrap();
    let grace: i64 = flag(&args, "--shutdown-grace").parse().unwrap();
    assert!(pod.termination_grace_period_seconds.unwrap() > grace);
    assert!(deployment.spec.as_ref().unwrap().replicas.unwrap() >= 2);

    // Not root, nothing to escalate to; the identity the RBAC binds.
    let security = pod.security_context.clone().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    assert_ne!(security.run_as_user, Some(0));
    let own = container.security_context.clone().unwrap();
    assert_eq!((own.allow_privilege_escalation, own.read_only_root_filesystem), (Some(false), Some(true)));
    let account: ServiceAccount = one(&objects, "ServiceAccount", "porthole");
    assert_eq!(pod.service_account_name.as_deref(), account.metadata.name.as_deref());
    assert_ne!(pod.automount_service_account_token, Some(false), "in_cluster reads the mounted token");

    // The config volume is the generated ConfigMap, mounted where --config points.
    let config = flag(&args, "--config");
    let volumes = pod.volumes.clone().unwrap();
    let config_volume = volumes.iter().find(|v| v.config_map.is_some()).unwrap();
    let generated = kinds(&objects, "ConfigMap").next().unwrap()["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(config_volume.config_map.as_ref().unwrap().name, generated);
    let mount = container.volume_mounts.clone().unwrap().into_iter().find(|m| m.name == config_volume.name).unwrap();
    assert_eq!(config, format!("{}/porthole.toml", mount.mount_path));
    // Everything porthole writes is on a volume (the root file system is read-only).
    // Porthole makes its data dir private (chmod), which it can only do to
    // a folder it created: inside a volume, not a volume's root.
    for dir in [flag(&args, "--data-dir"), flag(&args, "--recordings-dir")] {
        let mounts = container.volume_mounts.clone().unwrap();
        assert!(mounts.iter().any(|m| dir.starts_with(&format!("{}/", m.mount_path))), "{dir} is not a folder in a volume");
    }

    // The Service and the disruption budget select the Deployment's pods.
    let labels = deployment.spec.as_ref().unwrap().template.metadata.clone().unwrap().labels.unwrap();
    let service: Service = one(&objects, "Service", "porthole");
    let spec = service.spec.unwrap();
    assert!(spec.selector.unwrap().iter().all(|(k, v)| labels.get(k) == Some(v)));
    for p in spec.ports.unwrap() {
        let IntOrString::String(target) = p.target_port.unwrap() else { panic!("target ports by name") };
        assert!(ports.iter().any(|c| c.name.as_deref() == Some(&target)), "the Service targets {target}");
    }
    let budget: PodDisruptionBudget = one(&objects, "PodDisruptionBudget", "porthole");
    assert!(budget.spec.unwrap().selector.unwrap().match_labels.unwrap().iter().all(|(k, v)| labels.get(k) == Some(v)));
}

#[test]
fn rbac_grants_pods_and_exec_only_in_the_environments_namespaces() {
    let objects = render();
    let role: ClusterRole = one(&objects, "ClusterRole", "porthole-terminal");
    let rules: BTreeSet<(String, String)> = role
        .rules
        .unwrap()
        .into_iter()
        .flat_map(|r| {
            assert_eq!(r.api_groups.as_deref(), Some(&[String::new()][..]), "the core group only");
            let verbs = r.verbs.clone();
            r.resources.unwrap().into_iter().flat_map(move |res| verbs.clone().into_iter().map(move |v| (res.clone(), v)))
        })
        .collect();
    let want = [("pods", "get"), ("pods", "list"), ("pods", "watch"), ("pods/exec", "create"), ("pods/exec", "get")];
    assert_eq!(rules, want.iter().map(|(r, v)| (r.to_string(), v.to_string())).collect());

    // Granted namespace by namespace: never cluster-wide, and exactly in
    // the namespaces the configuration's environments use.
    assert_eq!(kinds(&objects, "ClusterRoleBinding").count(), 0);
    assert_eq!(kinds(&objects, "Role").count(), 0);
    let file: server::app::config_file::FileConfig = toml::from_str(&config_file(&objects)).unwrap();
    let namespaces: BTreeSet<String> = file.projects.iter().flat_map(|p| p.environments.iter().map(|e| e.namespace.clone())).collect();
    let mut bound = BTreeSet::new();
    for binding in kinds(&objects, "RoleBinding") {
        let binding: RoleBinding = serde_json::from_value(binding.clone()).unwrap();
        assert_eq!((binding.role_ref.kind.as_str(), binding.role_ref.name.as_str()), ("ClusterRole", "porthole-terminal"));
        let subjects = binding.subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!((subjects[0].kind.as_str(), subjects[0].name.as_str(), subjects[0].namespace.as_deref()), ("ServiceAccount", "porthole", Some("porthole")));
        bound.insert(binding.metadata.namespace.unwrap());
    }
    assert_eq!(bound, namespaces);
}

/// The value of `ARG NAME=value` (Dockerfile) or `NAME=value` (shell).
fn assignment(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.trim_start_matches("ARG ").strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}"))
        .to_string()
}

#[test]
fn the_image_is_multi_stage_unprivileged_and_carries_what_the_deployment_runs() {
    let dockerfile = std::fs::read_to_string(Path::new(REPO).join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    assert!(stages.len() >= 2, "a build stage and a run stage");
    let run = stages.last().unwrap();
    assert!(run.starts_with("debian:") && run.contains("-slim"), "{run}");
    // Both binaries (a stand-by execs porthole-standby beside porthole) and the frontend.
    for wanted in ["/release/porthole ", "/release/porthole-standby ", "/frontend/dist /usr/share/porthole/dist"] {
        assert!(run.lines().any(|l| l.starts_with("COPY --from=build") && l.contains(wanted)), "the image lacks {wanted}");
    }
    let user = run.lines().find_map(|l| l.strip_prefix("USER ")).expect("a USER");
    let uid: u32 = user.split(':').next().unwrap().parse().expect("a numeric user (runAsNonRoot can check it)");
    assert_ne!(uid, 0);

    // The same tool pins as the install script.
    let install = std::fs::read_to_string(Path::new(REPO).join("scripts/install-tools.sh")).unwrap();
    for pin in ["TRUNK_VERSION", "WASM_BINDGEN_VERSION"] {
        assert_eq!(assignment(&dockerfile, pin), assignment(&install, pin), "{pin}");
    }

    // The Deployment's user, ports and frontend are the image's.
    let objects = render();
    let deployment: Deployment = one(&objects, "Deployment", "porthole");
    let pod = deployment.spec.as_ref().unwrap().template.spec.clone().unwrap();
    assert_eq!(pod.security_context.unwrap().run_as_user, Some(i64::from(uid)));
    let container = container(&deployment);
    let exposed: BTreeSet<i32> = run.lines().find_map(|l| l.strip_prefix("EXPOSE ")).unwrap().split(' ').map(|p| p.parse().unwrap()).collect();
    let ports: BTreeSet<i32> = container.ports.clone().unwrap().iter().map(|p| p.container_port).collect();
    assert_eq!(exposed, ports);
    assert_eq!(flag(&container.args.unwrap(), "--dist-dir"), "/usr/share/porthole/dist");
}

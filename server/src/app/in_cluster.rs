//! In-cluster credentials: Porthole running in a pod uses its own service
//! account, as client-go's `rest.InClusterConfig` and the kube crate's
//! `Config::incluster_env` do.
//!
//! - API server: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
//!   (the kubelet sets both in every container; an IPv6 host gets brackets).
//! - Token: `<dir>/token`, CA: `<dir>/ca.crt`, with `<dir>` =
//!   [`SERVICE_ACCOUNT_DIR`] unless the config file names another
//!   (`service_account_dir`).
//!
//! The token is a projected one: the kubelet replaces it before it expires
//! (by default it lives an hour), so the app reads the file again on every
//! use ([`super::App::cluster`]) instead of keeping what it read at start.
//! The kube crate's own in-cluster loader is not used because its paths
//! are fixed: a configured directory (and this module's tests) could not
//! be given to it, and the rules above are all it does.

use super::discovery::Cluster;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// Where the kubelet mounts a pod's service account: `token`, `ca.crt`,
/// `namespace`.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The API server's URL from the two variables `env` gives; an error names
/// the one missing (outside a pod both are).
pub fn api_url(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    let (Some(host), Some(port)) = (get("KUBERNETES_SERVICE_HOST"), get("KUBERNETES_SERVICE_PORT")) else {
        bail!("in_cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (they are inside a pod)");
    };
    let port: u16 = port.parse().with_context(|| format!("in_cluster: KUBERNETES_SERVICE_PORT {port:?} is not a port"))?;
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    Ok(format!("https://{host}:{port}"))
}

/// The cluster Porthole's own pod is in, and the token file to read again
/// at every use. Errors name the missing variable or file.
pub fn resolve(dir: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<(Cluster, PathBuf)> {
    let api_url = api_url(env)?;
    let token_file = dir.join("token");
    let token = read_token(&token_file)?;
    let ca_file = dir.join("ca.crt");
    let ca_pem = std::fs::read_to_string(&ca_file).with_context(|| format!("in_cluster: reading {}", ca_file.display()))?;
    Ok((Cluster { api_url, token, ca_pem }, token_file))
}

/// A bearer token file's content without surrounding whitespace; an empty
/// file is an error (a kubelet mid-rotation never leaves one, a mistake does).
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let token = token.trim();
    anyhow::ensure!(!token.is_empty(), "{} is empty", path.display());
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_url_comes_from_the_service_variables() {
        let url = api_url(env(&[("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("KUBERNETES_SERVICE_PORT", "443")])).unwrap();
        assert_eq!(url, "https://10.96.0.1:443");
        let url = api_url(env(&[("KUBERNETES_SERVICE_HOST", "fd00::1"), ("KUBERNETES_SERVICE_PORT", "6443")])).unwrap();
        assert_eq!(url, "https://[fd00::1]:6443");
        let missing = api_url(env(&[("KUBERNETES_SERVICE_HOST", "10.96.0.1")])).unwrap_err();
        assert!(missing.to_string().contains("KUBERNETES_SERVICE_PORT"), "{missing}");
        let bad = api_url(env(&[("KUBERNETES_SERVICE_HOST", "h"), ("KUBERNETES_SERVICE_PORT", "https")])).unwrap_err();
        assert!(bad.to_string().contains("not a port"), "{bad}");
    }

    #[test]
    fn token_and_ca_come_from_the_service_account_dir() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("KUBERNETES_SERVICE_HOST", "127.0.0.1"), ("KUBERNETES_SERVICE_PORT", "6443")];
        let no_token = resolve(dir.path(), env(&vars)).unwrap_err();
        assert!(format!("{no_token:#}").contains("token"), "{no_token:#}");
        std::fs::write(dir.path().join("token"), "eyJ.x.y\n").unwrap();
        let no_ca = resolve(dir.path(), env(&vars)).unwrap_err();
        assert!(format!("{no_ca:#}").contains("ca.crt"), "{no_ca:#}");
        std::fs::write(dir.path().join("ca.crt"), "PEM").unwrap();
        let (cluster, token_file) = resolve(dir.path(), env(&vars)).unwrap();
        assert_eq!((cluster.api_url.as_str(), cluster.token.as_str(), cluster.ca_pem.as_str()), ("https://127.0.0.1:6443", "eyJ.x.y", "PEM"));
        assert_eq!(token_file, dir.path().join("token"));
        std::fs::write(dir.path().join("token"), " \n").unwrap();
        assert!(read_token(&token_file).unwrap_err().to_string().contains("empty"));
    }
}

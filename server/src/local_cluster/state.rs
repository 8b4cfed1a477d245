//! What the local cluster's handlers share: its pods, tokens and exec
//! settings.

use super::pods::LocalPod;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// What the handlers share.
pub struct ClusterState {
    /// The pods, in order.
    pub pods: std::sync::RwLock<Vec<LocalPod>>,
    /// The admin bearer token.
    pub token: String,
    /// The read-only bearer token.
    pub viewer_token: String,
    /// After SIGHUP, how long before SIGKILL.
    pub kill_grace: Duration,
    /// Whom execs run as, and how they are enclosed ([`crate::sandbox`]).
    pub sandbox: crate::sandbox::Sandbox,
    /// Ends every exec.
    pub shutdown: Shutdown,
    /// How many execs are running.
    pub live_execs: Arc<tokio::sync::watch::Sender<usize>>,
}

impl ClusterState {
    /// The pods matching `keep`, in order.
    pub fn pods(&self, keep: impl Fn(&LocalPod) -> bool) -> Vec<LocalPod> {
        let pods = self.pods.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        pods.iter().filter(|p| keep(p)).cloned().collect()
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<LocalPod> {
        self.pods(|p| p.namespace == namespace && p.name == name).into_iter().next()
    }

    /// Removes a pod and ends its execs.
    pub fn delete(&self, namespace: &str, name: &str) -> Option<LocalPod> {
        let mut pods = self.pods.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = pods.iter().position(|p| p.namespace == namespace && p.name == name)?;
        let pod = pods.remove(index);
        pod.gone.send_replace(true);
        Some(pod)
    }
}

impl LocalPod {
    /// The environment of an exec in this pod's `container`: a clean one,
    /// nothing inherited from porthole.
    pub fn exec_env(&self, container: &str, home: &std::path::Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
            ("HOSTNAME".to_string(), self.name.clone()),
            ("HOME".to_string(), home.display().to_string()),
            ("TERM".to_string(), "xterm-256color".to_string()),
            ("PORTHOLE_CONTAINER".to_string(), container.to_string()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }
}

//! The real `porthole` binary as an operator runs it: its own process with
//! a fresh data dir, stdout read for the "listening" line, stderr (the log)
//! kept line by line for the test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `porthole`; killed on drop.
pub struct Binary {
    pub child: Child,
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    /// Its log lines (stderr) so far.
    pub log: Arc<Mutex<Vec<String>>>,
    _data: tempfile::TempDir,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// Starts `porthole --listen 127.0.0.1:0 <args>` with the demo users
    /// and `PORTHOLE_LOG=<log>`; returns once it listens.
    pub fn start(args: &[&str], log: &str) -> Binary {
        Binary::start_with_env(args, log, &[])
    }

    /// As [`Binary::start`], with more environment variables.
    pub fn start_with_env(args: &[&str], log: &str, env: &[(&str, &str)]) -> Binary {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_porthole"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(args)
            .envs(env.iter().copied())
            .env("PORTHOLE_LOG", log)
            .env("PORTHOLE_DEMO_PASSWORD", super::DEMO_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = stdout.next().expect("porthole exited before listening").unwrap();
            if let Some(url) = line.strip_prefix("porthole listening on ") {
                break url.replacen("http://", "ws://", 1);
            }
        };
        // Keep draining stdout so the child never blocks on it.
        std::thread::spawn(move || stdout.for_each(drop));
        Binary { child, url, log: lines, _data: data }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_url(&self) -> String {
        self.url.replacen("ws://", "http://", 1)
    }

    /// Signs the maintainer in and opens the demo terminal.
    pub async fn connect(&self, protocol: &str) -> super::Client {
        let cookie = super::sign_in(&self.http_url(), "maintainer").await;
        super::Client::try_connect_with(&format!("{}{}", self.url, super::ENV_WS), protocol, &[("cookie", &cookie)]).await.unwrap()
    }
}

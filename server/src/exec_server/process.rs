//! A served process: in a PTY when the client asked for a terminal, else
//! with pipes, stdout and stderr apart (streams 1 and 2, the Kubernetes
//! channel numbers), as the kubelet runs them.

use crate::pty::{self, Spec};
use bytes::Bytes;
use shared::k8s;
use shared::porthole::TerminalSize;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncWriteExt};

/// Which streams the client asked for (`stdin`, `stdout`, `stderr`, `tty`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streams {
    /// Channel 0 is read.
    pub stdin: bool,
    /// Channel 1 is written.
    pub stdout: bool,
    /// Channel 2 is written (never with a tty: the terminal merges it).
    pub stderr: bool,
    /// A terminal.
    pub tty: bool,
}

/// One output stream and its number.
pub struct Output {
    /// 1 (stdout) or 2 (stderr).
    pub stream: u8,
    /// The stream.
    pub reader: Box<dyn AsyncRead + Unpin + Send>,
}

/// Where stdin goes.
pub enum Input {
    /// The PTY master.
    Pty(pty_process::OwnedWritePty),
    /// A PTY whose input broke: writes are dropped, resizes still apply.
    BrokenPty(pty_process::OwnedWritePty),
    /// The child's stdin pipe; `None` once closed, or when stdin was not asked for.
    Pipe(Option<tokio::process::ChildStdin>),
}

impl Input {
    /// Writes stdin bytes; they are dropped once stdin was closed.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Input::Pty(w) => w.write_all(bytes).await,
            Input::Pipe(Some(w)) => w.write_all(bytes).await,
            Input::Pipe(None) | Input::BrokenPty(_) => Ok(()),
        }
    }

    /// After a failed write: drop stdin, keep the rest working.
    pub fn close_broken(&mut self) {
        let this = std::mem::replace(self, Input::Pipe(None));
        *self = match this {
            Input::Pty(w) | Input::BrokenPty(w) => Input::BrokenPty(w),
            Input::Pipe(_) => Input::Pipe(None),
        };
    }

    /// Resizes the terminal; nothing without one.
    pub fn resize(&self, size: TerminalSize) {
        if let Input::Pty(w) | Input::BrokenPty(w) = self {
            let _ = w.resize(pty::to_pty_size(size));
        }
    }

    /// Closes stdin (the v5 close signal): EOF on a pipe, EOT on a terminal,
    /// which is what a person closing input at the keyboard sends.
    pub async fn close(&mut self) -> std::io::Result<()> {
        match self {
            Input::Pty(w) => w.write_all(b"\x04").await,
            Input::BrokenPty(_) => Ok(()),
            Input::Pipe(stdin) => {
                stdin.take();
                Ok(())
            }
        }
    }
}

/// A started process.
pub struct Process {
    /// The child.
    pub child: tokio::process::Child,
    /// Its pid: session leader (tty) or process group leader (pipes).
    pub pid: i32,
    /// Its stdin.
    pub input: Input,
    /// Its output streams (one with a tty, up to two without).
    pub outputs: Vec<Output>,
}

/// Starts `spec` with the requested streams.
pub fn start(spec: &Spec, streams: Streams) -> std::io::Result<Process> {
    if streams.tty {
        let p = pty::spawn(spec)?;
        return Ok(Process {
            child: p.child,
            pid: p.pid,
            input: Input::Pty(p.writer),
            outputs: vec![Output { stream: k8s::STDOUT, reader: Box::new(p.reader) }],
        });
    }
    let (program, args) = spec.argv.split_first().ok_or_else(|| std::io::Error::other("empty command"))?;
    let path = spec.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("/usr/bin:/bin");
    let program = pty::resolve(program, path).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("executable file not found in $PATH: {program:?}"))
    })?;
    let piped = |wanted: bool| if wanted { Stdio::piped() } else { Stdio::null() };
    let mut command = tokio::process::Command::new(program);
    // The same user and hostname as with a TTY.
    pty::set_apart(&mut command, spec);
    let spawning = crate::sandbox::spawning();
    let mut child = command
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        // Its own process group, so that hanging up reaches its children.
        .process_group(0)
        .stdin(piped(streams.stdin))
        .stdout(piped(streams.stdout))
        .stderr(piped(streams.stderr))
        .spawn()?;
    drop(spawning);
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).ok_or_else(|| std::io::Error::other("child has no pid"))?;
    let mut outputs = Vec::new();
    if let Some(out) = child.stdout.take() {
        outputs.push(Output { stream: k8s::STDOUT, reader: Box::new(out) });
    }
    if let Some(err) = child.stderr.take() {
        outputs.push(Output { stream: k8s::STDERR, reader: Box::new(err) });
    }
    let input = Input::Pipe(child.stdin.take());
    Ok(Process { child, pid, input, outputs })
}

/// Stdin that came before the process started, replayed into it.
pub async fn replay(input: &mut Input, early: Vec<Bytes>) {
    for bytes in early {
        if input.write(&bytes).await.is_err() {
            return;
        }
    }
}

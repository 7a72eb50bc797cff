//! Running the built `n2n` binary and reading its output line by line.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for one expected line before failing. Generous:
/// CI machines are slow; nothing here measures speed.
pub const WAIT: Duration = Duration::from_secs(60);

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A running `n2n` process.
pub struct N2n {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything read so far (stdout and stderr), for failure messages.
    log: Arc<Mutex<String>>,
}

impl N2n {
    /// Start `n2n ARGS`, stdin piped (kept open until [`N2n::close_stdin`]).
    pub fn start(name: &str, args: &[&str]) -> TestResult<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_n2n"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (l1, l2) = (log.clone(), log.clone());
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                l1.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&format!("out: {line}\n"));
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l2.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&format!("err: {line}\n"));
            }
        });
        let stdin = child.stdin.take();
        Ok(N2n {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            log,
        })
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Wait for a stdout line satisfying `pred`; lines before it are skipped.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> TestResult<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: no line {what} within {WAIT:?}; output:\n{}",
                        self.name,
                        self.log()
                    )
                    .into())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{}: exited before printing {what}; output:\n{}",
                        self.name,
                        self.log()
                    )
                    .into())
                }
            }
        }
    }

    /// Wait for a line starting with `prefix`.
    pub fn wait_prefix(&self, prefix: &str) -> TestResult<String> {
        self.wait_for(&format!("starting with {prefix:?}"), |l| {
            l.starts_with(prefix)
        })
    }

    /// Type one line.
    pub fn send_line(&mut self, line: &str) -> TestResult {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Kill it (SIGKILL) and reap it.
    pub fn kill(&mut self) -> TestResult {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Wait for it to exit.
    pub fn wait_exit(&mut self) -> TestResult<ExitStatus> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: did not exit within {WAIT:?}; output:\n{}",
                    self.name,
                    self.log()
                )
                .into());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for N2n {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `n2n ARGS` to completion: (status, stdout, stderr).
pub fn run(args: &[&str]) -> TestResult<(ExitStatus, String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_n2n"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()?;
    Ok((
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

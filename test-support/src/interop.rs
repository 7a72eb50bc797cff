//! Interop with libwebrtc (Google's WebRTC, as browsers ship it) through
//! the npm package `@roamhq/wrtc`, driven by `interop/peer.js`.
//!
//! [`run_echo_test`] is a whole test: it installs the npm packages if
//! they are missing ([`ensure_npm_packages`], once, under a file lock),
//! re-executes the test inside a loopback-only network namespace
//! ([`crate::netns`]), and there runs the echo scenario against the
//! transport the test builds: 200 frames of several sizes echoed back
//! whole and in order, then our side closes and libwebrtc sees the
//! channel close.
//!
//! Needs `node` and `npm` (Node.js 18 or later), and `unshare -n` (root).
//! A missing piece fails the test, saying what is missing. To skip it on
//! purpose (a machine without node or namespaces), set `N2N_SKIP_INTEROP=1`;
//! CI never sets it.

use std::fs::OpenOptions;
use std::future::Future;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::netns;
use crate::TestResult;

/// Set to skip the interop tests deliberately.
pub const SKIP: &str = "N2N_SKIP_INTEROP";

/// Frames echoed per scenario.
const FRAMES: u32 = 200;

/// The workspace's `interop/` directory (the libwebrtc peer).
pub fn interop_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).join("interop")
}

/// Whether every package `package.json` depends on (`dependencies`,
/// `devDependencies`) is in `node_modules`: a dependency added later
/// triggers a new install.
fn installed(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else {
        return false;
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|section| manifest.get(section).and_then(|d| d.as_object()))
        .flat_map(|deps| deps.keys())
        .all(|name| {
            dir.join("node_modules")
                .join(name)
                .join("package.json")
                .exists()
        })
}

/// Make sure `interop/node_modules` holds the packages `interop/package.json`
/// names: if one is missing, run `npm install --no-audit --no-fund` in `interop/`. Done
/// once per process, under a file lock (`interop/.npm-install.lock`) so
/// that test processes running at the same time install once.
///
/// # Errors
/// If `npm` is missing or the install fails, with what to do.
pub fn ensure_npm_packages() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| install(&interop_dir())).clone()
}

fn install(dir: &Path) -> Result<(), String> {
    if installed(dir) {
        return Ok(());
    }
    let lock_path = dir.join(".npm-install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // Another process may have installed while we waited for the lock.
    if installed(dir) {
        return Ok(());
    }
    eprintln!(
        "interop: installing the libwebrtc peer's npm packages in {} (once)",
        dir.display()
    );
    let output = std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => format!(
                "`npm` was not found: the libwebrtc interop tests need Node.js 18 or later with npm \
                 (`apt-get install nodejs npm`, or https://nodejs.org). Install it, or run \
                 `npm install` in {} yourself, or set {SKIP}=1 to skip these tests deliberately",
                dir.display()
            ),
            _ => format!("cannot run `npm install` in {}: {e}", dir.display()),
        })?;
    if !output.status.success() || !installed(dir) {
        return Err(format!(
            "`npm install` in {} failed ({}); fix it and run it there by hand, or set {SKIP}=1 \
             to skip these tests deliberately. Its output:\n{}{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// The whole interop test `test` (its name in this test binary): outside
/// the namespace, install the npm packages and re-execute `test` inside
/// `unshare -n`; inside, run the echo scenario with `role` on the
/// transport `make` builds (called inside a tokio runtime), which `name`
/// names in messages.
///
/// # Errors
/// Whatever fails, with the reason; see the [module docs](self).
pub fn run_echo_test<T, F>(test: &str, name: &str, role: Role, make: F) -> TestResult
where
    T: Transport,
    F: FnOnce() -> Result<T, Box<dyn std::error::Error>>,
{
    run_in_netns(
        test,
        async move { echo_scenario(make()?, name, role).await },
    )
}

/// A libwebrtc interop test `test` (its name in this test binary) whose
/// body is `scenario`: skipped when [`SKIP`] is set; outside the
/// namespace, install the npm packages and re-execute `test` inside
/// `unshare -n`; inside, run `scenario` on a two-thread tokio runtime
/// (outside, `scenario` is dropped unpolled).
///
/// # Errors
/// Whatever fails, with the reason; see the [module docs](self).
pub fn run_in_netns(test: &str, scenario: impl Future<Output = TestResult>) -> TestResult {
    if std::env::var_os(SKIP).is_some() {
        println!("{test}: skipped ({SKIP} is set)");
        return Ok(());
    }
    if !netns::in_netns() {
        // npm needs the network: install before entering the namespace.
        ensure_npm_packages()?;
        return netns::reexec_in_netns(test, SKIP);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(scenario)
}

/// What `interop/peer.js` printed on one stdout line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsLine {
    /// A signal for our side, exactly as libwebrtc gave it.
    Signal(Signal),
    /// `{"event":"open"}`: its data channel opened.
    Open,
    /// `{"event":"closed"}`: its data channel closed.
    Closed,
    /// Another event (by name).
    Event(String),
}

/// `interop/peer.js` as a child process: our signals go to its stdin, its
/// signals and events come from its stdout, one JSON object a line.
/// Killed when dropped.
#[derive(Debug)]
pub struct JsPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Option<ChildStderr>,
}

impl JsPeer {
    /// Start the libwebrtc peer facing our `role` (it answers our offer
    /// when we initiate). With `capture_stderr`, its stderr is kept for
    /// [`JsPeer::finish`]; otherwise it goes to the test's.
    ///
    /// # Errors
    /// When `node` cannot be started.
    pub fn spawn(role: Role, capture_stderr: bool) -> Result<Self, Box<dyn std::error::Error>> {
        let js_role = if role == Role::Initiator {
            "answer"
        } else {
            "offer"
        };
        let mut child = Command::new("node")
            .arg(interop_dir().join("peer.js"))
            .arg(js_role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start node ({e}); set {SKIP}=1 to skip deliberately"))?;
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let stderr = child.stderr.take();
        Ok(JsPeer {
            child,
            stdin,
            lines,
            stderr,
        })
    }

    /// Give it one of our signals.
    ///
    /// # Errors
    /// When its stdin is closed.
    pub async fn send(&mut self, signal: &Signal) -> TestResult {
        let line = serde_json::to_string(signal)?;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the libwebrtc peer's stdin is closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(())
    }

    /// Its next line.
    ///
    /// # Errors
    /// When it exited, reported an error, or printed something that is
    /// neither a signal nor an event.
    pub async fn next(&mut self) -> Result<JsLine, Box<dyn std::error::Error>> {
        let line = self
            .lines
            .next_line()
            .await?
            .ok_or("the libwebrtc peer exited early")?;
        let v: serde_json::Value = serde_json::from_str(&line)?;
        Ok(match v.get("event").and_then(|e| e.as_str()) {
            Some("open") => JsLine::Open,
            Some("closed") => JsLine::Closed,
            Some("error") => return Err(format!("libwebrtc peer: {}", v["message"]).into()),
            Some(other) => JsLine::Event(other.to_owned()),
            // Exactly what libwebrtc gave, through the tolerant reader.
            None => JsLine::Signal(serde_json::from_value(v)?),
        })
    }

    /// Wait up to `within` for its channel to close; whether it did.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                if line.contains("\"closed\"") {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }

    /// Close its stdin and wait up to `within` for it to exit: its exit
    /// status (`None` if it did not exit in time) and what it wrote on
    /// stderr (empty unless captured).
    ///
    /// # Errors
    /// When waiting for it fails.
    pub async fn finish(
        mut self,
        within: Duration,
    ) -> Result<(Option<ExitStatus>, String), Box<dyn std::error::Error>> {
        self.stdin = None;
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => Some(status?),
            Err(_) => None,
        };
        let mut errors = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = tokio::time::timeout(within, stderr.read_to_string(&mut errors)).await;
        }
        Ok((status, errors))
    }
}

/// A frame whose content says its index, of one of five sizes.
fn frame(i: u32) -> Bytes {
    let len = [4usize, 100, 1200, 5000, 16 * 1024][i as usize % 5];
    let mut v = vec![(i % 251) as u8; len];
    v[..4].copy_from_slice(&i.to_be_bytes());
    Bytes::from(v)
}

/// Our transport `t` (named `name`) in `role` against `interop/peer.js`:
/// open one connection, have 200 frames echoed back whole and in
/// order, close it and see libwebrtc see the close. Must run where the
/// npm packages are installed (and, for a clean test, inside a
/// loopback-only namespace).
///
/// # Errors
/// What failed or stalled.
pub async fn echo_scenario<T: Transport>(mut t: T, name: &str, role: Role) -> TestResult {
    let mut js = JsPeer::spawn(role, false)?;

    let conn = ConnId(1);
    let started = Instant::now();
    t.handle_command(Instant::now(), Cmd::Open { conn, role })?;

    let (mut opened, mut js_open, mut next_send, mut echoed, mut js_candidates) =
        (false, false, 0u32, 0u32, 0u32);
    let (mut in_flight, window) = (0usize, t.send_window());
    let mut open_after = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while echoed < FRAMES {
        if opened && js_open {
            while next_send < FRAMES && in_flight + frame(next_send).len() <= window {
                let f = frame(next_send);
                in_flight += f.len();
                t.handle_command(Instant::now(), Cmd::Send { conn, frame: f })?;
                next_send += 1;
            }
        }
        tokio::select! {
            ev = std::future::poll_fn(|cx| t.poll_event(cx)) => match ev {
                Ev::Signal { signal, .. } => js.send(&signal).await?,
                Ev::Opened { .. } => {
                    opened = true;
                    open_after = Some(started.elapsed());
                }
                Ev::Sent { bytes, .. } => in_flight -= bytes,
                Ev::Frame { frame: f, .. } => {
                    assert_eq!(f, frame(echoed), "echo {echoed} wrong or out of order");
                    echoed += 1;
                }
                Ev::Closed { reason, .. } => return Err(format!("{name} side closed: {reason}").into()),
                other => return Err(format!("unexpected {other:?}").into()),
            },
            line = js.next() => match line? {
                JsLine::Open => js_open = true,
                JsLine::Signal(signal) => {
                    if matches!(signal, Signal::Candidate { .. }) {
                        js_candidates += 1;
                    }
                    t.handle_command(Instant::now(), Cmd::Signal { conn, signal })?;
                }
                other => return Err(format!("libwebrtc peer: {other:?} before the echoes").into()),
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(format!("stalled: opened {opened}, js open {js_open}, sent {next_send}, echoed {echoed}").into());
            }
        }
    }
    println!(
        "{name} as {role:?}: open after {:.1} ms, {FRAMES} frames echoed by libwebrtc; libwebrtc trickled {js_candidates} candidates",
        open_after.map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    assert!(
        js_candidates > 0,
        "libwebrtc trickles its candidates (our tolerance was exercised)"
    );

    // We close; libwebrtc sees the channel close and exits cleanly.
    t.handle_command(Instant::now(), Cmd::Close { conn })?;
    assert!(
        js.closed_within(Duration::from_secs(20)).await,
        "libwebrtc saw the channel close"
    );
    let (status, _) = js.finish(Duration::from_secs(10)).await?;
    let status = status.ok_or("the libwebrtc peer did not exit")?;
    assert!(status.success(), "libwebrtc peer exit: {status}");
    Ok(())
}

//! `n2n demo` on the default backend, `n2n sim`, and the one-line errors.

mod common;

use common::{run, TestResult};

/// A fresh directory under the system's temp dir.
fn out_dir(name: &str) -> TestResult<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("n2n-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(dir)
}

/// The numbers of the `messages: S sent, D delivered, L lost` line.
fn messages(stdout: &str) -> Option<(u64, u64, u64)> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("messages: ") && l.contains(" sent, "))?;
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match nums.as_slice() {
        [s, d, l, ..] => Some((*s, *d, *l)),
        _ => None,
    }
}

/// `n2n ARGS`: it exits 0 and delivered every message it sent; its stdout.
fn run_delivering_everything(args: &[&str]) -> TestResult<String> {
    let (status, out, err) = run(args)?;
    assert!(
        status.success(),
        "exit {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    let (sent, delivered, lost) =
        messages(&out).ok_or_else(|| format!("no messages line:\n{out}"))?;
    assert!(sent > 0 && sent == delivered && lost == 0, "{out}");
    Ok(out)
}

/// `n2n demo --backend BACKEND --peers PEERS --out DIR`: as
/// [`run_delivering_everything`], and its first line says what ran.
fn demo_delivers_everything(
    backend: &str,
    peers: usize,
    dir: &std::path::Path,
) -> TestResult<String> {
    let peers = peers.to_string();
    let out = run_delivering_everything(&[
        "demo",
        "--backend",
        backend,
        "--peers",
        &peers,
        "--out",
        dir.to_str().ok_or("path")?,
    ])?;
    assert!(
        out.starts_with(&format!("n2n demo: {peers} peers on {backend}")),
        "{out}"
    );
    Ok(out)
}

#[test]
fn demo_on_the_default_backend_runs_and_exits_0() -> TestResult {
    let dir = out_dir("demo")?;
    let out = demo_delivers_everything("str0m", 6, &dir)?;
    // Five newcomers joined through the server; the rest came from bridges.
    assert!(
        out.contains("connections: ") && out.contains("(5 through the signaling server, "),
        "{out}"
    );
    let svg = std::fs::read_to_string(dir.join("topology.svg"))?;
    assert!(
        svg.starts_with("<svg") && svg.matches("<title>peer ").count() == 6,
        "{svg}"
    );
    let dot = std::fs::read_to_string(dir.join("topology.dot"))?;
    assert!(dot.starts_with("digraph overlay"), "{dot}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn sim_prints_the_same_summary() -> TestResult {
    let dir = out_dir("sim")?;
    let args = [
        "sim",
        "--peers",
        "40",
        "--seed",
        "3",
        "--out",
        dir.to_str().ok_or("path")?,
    ];
    let out = run_delivering_everything(&args)?;
    assert!(out.contains("(39 through the signaling server, "), "{out}");
    assert!(out.contains("invariants hold"), "{out}");
    // Same seed, same run.
    let (_, again, _) = run(&args)?;
    let table = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("simulated in"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(table(&out), table(&again));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Exit code 1 and exactly one line on stderr, containing `what`.
fn one_line_error(args: &[&str], what: &str) -> TestResult {
    let (status, out, err) = run(args)?;
    assert_eq!(status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(what),
        "{err}"
    );
    Ok(())
}

#[test]
fn unreachable_server_is_one_line_with_what_to_do() -> TestResult {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    one_line_error(
        &["peer", "--signal", &url, "--backend", "memory"],
        "memory backend",
    )?;
    one_line_error(
        &["peer", "--signal", &url],
        "cannot reach the signaling server",
    )
}

#[test]
fn port_in_use_is_one_line_with_what_to_do() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    one_line_error(&["signal", "--listen", &addr], "--listen")
}

/// The same demo on webrtc-rs (only in builds with `--features webrtc-rs`).
#[cfg(feature = "webrtc-rs")]
#[test]
fn demo_on_webrtc_rs_runs_and_exits_0() -> TestResult {
    let dir = out_dir("demo-webrtc-rs")?;
    demo_delivers_everything("webrtc-rs", 5, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

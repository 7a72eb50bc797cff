//! A hub: one overlay node on str0m (one UDP socket) holding `n`
//! connections at once, each to a client node of another process.
//!
//! The hub runs in a fresh process of its own, so its resident memory is
//! the hub's alone: the `n` client nodes (one socket each) run in a second
//! process, and the two carry each handshake's signals as JSON lines over
//! the client process's stdin/stdout (what a signaling server would carry).
//! At most `window` handshakes are in flight at once (the engine bounds
//! pending handshakes; a real hub sees arrivals spread out). Measured on the
//! hub: the time from the first offer to the `n`-th arc open, the resident
//! growth per connection one second after the last opened, and the CPU the
//! hub process uses over 5 s while all connections stay open and idle.
//!
//! A binary that calls [`hub_in_child`] must call
//! [`child_main_if_requested`] first thing in `main` (the hub and client
//! processes are re-executions of it).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use overlay_core::{Direction, Event, HandshakeId, Node, ProtocolHandle, SignalEnvelope};
use rtc_common::RtcConfig;
use tokio::sync::{mpsc, Semaphore};
use transport_str0m::Str0mTransport;

use crate::scale::{rss_kib, runtime};
use crate::{bench_peer, BenchError};

const ENV: &str = "N2N_BENCH_HUB";
const TAG: &str = "N2N_HUB_RESULT";
/// How long the hub waits for all connections to open.
const LIMIT: Duration = Duration::from_secs(180);
/// Handshakes a client tries before it gives up.
const ATTEMPTS: u32 = 3;
/// How long the idle CPU is measured.
const IDLE: Duration = Duration::from_secs(5);

/// What one hub run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HubResult {
    /// Connections opened (all at once, `window` in flight).
    pub conns: usize,
    /// From the first offer to the last arc open at the hub.
    pub setup: Duration,
    /// Hub-process resident growth per open, idle connection, KiB.
    pub kib_per_conn: f64,
    /// CPU of the hub process while idle, in % of one core.
    pub idle_cpu_percent: f64,
    /// CPU the hub process spent per connection while they opened (its
    /// own work, whatever else the machine runs): one idle core could
    /// open `1 / setup_cpu_per_conn` connections per second.
    pub setup_cpu_per_conn: Duration,
    /// Connections the hub reports open after the idle period.
    pub open_after_idle: usize,
}

impl HubResult {
    /// Connections opened per second.
    pub fn rate(&self) -> f64 {
        self.conns as f64 / self.setup.as_secs_f64().max(1e-9)
    }
}

/// CPU time of this process so far (all its threads), from
/// `/proc/self/task/*/schedstat` (nanoseconds on the CPU).
pub fn cpu_time() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

fn str0m_factory() -> impl FnMut() -> std::future::Ready<Result<Str0mTransport, BenchError>> {
    || std::future::ready(Str0mTransport::bind(&RtcConfig::loopback()).map_err(Into::into))
}

/// Run one hub of `n` connections in fresh processes (hub and clients).
///
/// # Errors
/// If a process fails or reports an error.
pub fn hub_in_child(n: usize, window: usize) -> Result<HubResult, BenchError> {
    let out = Command::new(std::env::current_exe()?)
        .env(ENV, format!("hub:{n}:{window}"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(TAG))
        .ok_or_else(|| format!("hub process exited ({}) without a result", out.status))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.as_slice() {
        ["error", ..] => Err(line
            .trim()
            .trim_start_matches("error")
            .trim()
            .to_owned()
            .into()),
        [setup, kib, cpu, open, per] => Ok(HubResult {
            conns: n,
            setup: Duration::from_secs_f64(setup.parse()?),
            setup_cpu_per_conn: Duration::from_secs_f64(per.parse()?),
            kib_per_conn: kib.parse()?,
            idle_cpu_percent: cpu.parse()?,
            open_after_idle: open.parse()?,
        }),
        _ => Err(format!("bad hub output: {line}").into()),
    }
}

/// If this process is a hub or client process of [`hub_in_child`], do its
/// part and exit.
pub fn child_main_if_requested() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        ["hub", n, w] => {
            let r = (|| run_hub(n.parse()?, w.parse()?))();
            match r {
                Ok(r) => println!(
                    "{TAG} {} {} {} {} {}",
                    r.setup.as_secs_f64(),
                    r.kib_per_conn,
                    r.idle_cpu_percent,
                    r.open_after_idle,
                    r.setup_cpu_per_conn.as_secs_f64()
                ),
                Err(e) => println!("{TAG} error {e}"),
            }
        }
        ["clients", n] => {
            if let Err(e) = n
                .parse::<usize>()
                .map_err(BenchError::from)
                .and_then(run_clients)
            {
                eprintln!("hub clients: {e}");
            }
        }
        _ => eprintln!("{ENV}: unknown spec {spec}"),
    }
    std::process::exit(0);
}

/// Lines from a reader, into a channel (on a thread of its own).
fn read_lines(r: impl std::io::Read + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A channel whose lines go to a writer, flushed when the channel is empty.
fn write_lines(w: impl Write + Send + 'static) -> std::sync::mpsc::Sender<String> {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut w = BufWriter::new(w);
        while let Ok(line) = rx.recv() {
            let mut ok = writeln!(w, "{line}").is_ok();
            while let Ok(line) = rx.try_recv() {
                ok &= writeln!(w, "{line}").is_ok();
            }
            if !ok || w.flush().is_err() {
                break;
            }
        }
    });
    tx
}

fn signal_line(i: usize, env: &SignalEnvelope) -> Result<String, BenchError> {
    Ok(format!("S {i} {}", serde_json::to_string(env)?))
}

fn parse_signal(line: &str) -> Option<(usize, SignalEnvelope)> {
    let (i, json) = line.strip_prefix("S ")?.split_once(' ')?;
    Some((i.parse().ok()?, serde_json::from_str(json).ok()?))
}

fn run_hub(n: usize, window: usize) -> Result<HubResult, BenchError> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut make = str0m_factory();
        let mut hub = bench_peer(&mut make).await?;
        let mut child = Command::new(std::env::current_exe()?)
            .env(ENV, format!("clients:{n}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut lines = read_lines(child.stdout.take().ok_or("no child stdout")?);
        let out = write_lines(child.stdin.take().ok_or("no child stdin")?);
        loop {
            match lines.recv().await.as_deref() {
                Some("R") => break,
                Some(_) => {}
                None => return Err("the client process ended before it was ready".into()),
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib();
        let setup_cpu0 = cpu_time();
        let start = Instant::now();
        out.send(format!("G {window}"))?;
        let dispatcher = tokio::spawn(dispatch(hub.node.clone(), lines, out.clone()));
        let mut open = 0;
        let deadline = tokio::time::Instant::now() + LIMIT;
        while open < n {
            match tokio::time::timeout_at(deadline, hub.events.recv()).await {
                Ok(Some(Event::ArcOpened {
                    direction: Direction::In,
                    ..
                })) => open += 1,
                Ok(Some(_)) => {}
                Ok(None) => return Err("the hub node stopped".into()),
                Err(_) => return Err(format!("{open} of {n} open after {LIMIT:?}").into()),
            }
        }
        let setup = start.elapsed();
        let setup_cpu = cpu_time().saturating_sub(setup_cpu0);
        // The signal pipes are done: free their routes before measuring.
        out.send("C".into())?;
        dispatcher.await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib();
        let cpu0 = cpu_time();
        tokio::time::sleep(IDLE).await;
        let cpu = cpu_time().saturating_sub(cpu0);
        let open_after_idle = hub.node.connections().await?.len();
        let _ = out.send("Q".into());
        drop(out);
        let _ = child.wait();
        Ok(HubResult {
            conns: n,
            setup,
            kib_per_conn: after.saturating_sub(before) as f64 / n as f64,
            idle_cpu_percent: cpu.as_secs_f64() / IDLE.as_secs_f64() * 100.0,
            open_after_idle,
            setup_cpu_per_conn: setup_cpu / u32::try_from(n.max(1)).unwrap_or(u32::MAX),
        })
    })
}

/// The hub's side of the signal pipes: the first signal of a client
/// (its offer) starts an acceptor; later ones go to the hub node.
async fn dispatch(
    node: Node,
    mut lines: mpsc::UnboundedReceiver<String>,
    out: std::sync::mpsc::Sender<String>,
) {
    let mut routes: HashMap<HandshakeId, mpsc::UnboundedSender<SignalEnvelope>> = HashMap::new();
    while let Some(line) = lines.recv().await {
        if line == "C" {
            break;
        }
        let Some((i, env)) = parse_signal(&line) else {
            continue;
        };
        if let Some(tx) = routes.get(&env.handshake) {
            // A late signal for an ended handshake is dropped.
            let _ = tx.send(env);
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        routes.insert(env.handshake, tx);
        tokio::spawn(hub_side(node.clone(), i, env, rx, out.clone()));
    }
}

async fn hub_side(
    node: Node,
    i: usize,
    offer: SignalEnvelope,
    mut rx: mpsc::UnboundedReceiver<SignalEnvelope>,
    out: std::sync::mpsc::Sender<String>,
) {
    let mut accepted = match node.accept_out_of_band(offer).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hub: client {i} refused: {e}");
            return;
        }
    };
    let mut rx_open = true;
    loop {
        tokio::select! {
            s = accepted.next_signal() => match s {
                Some(env) => match signal_line(i, &env) {
                    Ok(l) => { let _ = out.send(l); }
                    Err(e) => eprintln!("hub: {e}"),
                },
                None => break,
            },
            e = rx.recv(), if rx_open => match e {
                Some(env) => { let _ = node.handle_signal(env).await; }
                None => rx_open = false,
            },
        }
    }
}

fn run_clients(n: usize) -> Result<(), BenchError> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut make = str0m_factory();
        let mut peers = Vec::with_capacity(n);
        for _ in 0..n {
            peers.push(bench_peer(&mut make).await?);
        }
        let out = write_lines(std::io::stdout());
        let mut lines = read_lines(std::io::stdin());
        out.send("R".into())?;
        let window = loop {
            match lines.recv().await {
                Some(l) => {
                    if let Some(w) = l.strip_prefix("G ") {
                        break w.parse::<usize>()?;
                    }
                }
                None => return Ok(()),
            }
        };
        let permits = Arc::new(Semaphore::new(window.max(1)));
        let mut routes = Vec::with_capacity(n);
        for (i, p) in peers.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            routes.push(Some(tx));
            tokio::spawn(client_side(
                i,
                p.handle.clone(),
                rx,
                out.clone(),
                permits.clone(),
            ));
        }
        while let Some(line) = lines.recv().await {
            match line.as_str() {
                "C" => {
                    routes = Vec::new();
                    out.send("C".into())?;
                }
                "Q" => break,
                _ => {
                    if let Some((i, env)) = parse_signal(&line) {
                        if let Some(Some(tx)) = routes.get(i) {
                            let _ = tx.send(env);
                        }
                    }
                }
            }
        }
        drop(routes);
        drop(peers);
        Ok(())
    })
}

async fn client_side(
    i: usize,
    handle: ProtocolHandle,
    mut rx: mpsc::UnboundedReceiver<SignalEnvelope>,
    out: std::sync::mpsc::Sender<String>,
    permits: Arc<Semaphore>,
) {
    let Ok(_permit) = permits.acquire_owned().await else {
        return;
    };
    // A client whose handshake failed (the hub's pending timeout on a
    // loaded machine) tries again, as a real one would.
    for attempt in 1..=ATTEMPTS {
        let mut oob = match handle.connect_out_of_band().await {
            Ok(o) => o,
            Err(e) => {
                eprintln!("client {i}: {e}");
                return;
            }
        };
        let handshake = oob.handshake();
        let mut rx_open = true;
        loop {
            tokio::select! {
                s = oob.next_signal() => match s {
                    Some(env) => match signal_line(i, &env) {
                        Ok(l) => { let _ = out.send(l); }
                        Err(e) => eprintln!("client {i}: {e}"),
                    },
                    None => break,
                },
                e = rx.recv(), if rx_open => match e {
                    // Only this attempt's signals (a late one of an
                    // earlier attempt is dropped).
                    Some(env) if env.handshake == handshake => {
                        let _ = handle.node().handle_signal(env).await;
                    }
                    Some(_) => {}
                    None => rx_open = false,
                },
            }
        }
        match oob.finished().await {
            Ok(_) => return,
            Err(e) => eprintln!("client {i}: attempt {attempt} of {ATTEMPTS} failed: {e}"),
        }
    }
}

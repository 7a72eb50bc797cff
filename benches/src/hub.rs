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
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use overlay_core::{
    Direction, Event, HandshakeId, Node, ProtocolHandle, SignalEnvelope, Transport,
    TransportCommand, TransportEvent,
};
use rtc_common::RtcConfig;
use tokio::sync::{mpsc, Semaphore};
use transport_str0m::{NodeRtcConfig, Stats, Str0mTransport};

use crate::scale::{rss_kib, runtime};
use crate::{bench_peer, BenchError};

const ENV: &str = "N2N_BENCH_HUB";
const TAG: &str = "N2N_HUB_RESULT";
/// How long the hub waits for all connections to open
/// (`N2N_HUB_LIMIT_S` overrides it: a loaded machine needs longer).
const LIMIT: Duration = Duration::from_secs(180);
/// Handshakes a client tries before it gives up.
const ATTEMPTS: u32 = 10;

fn limit() -> Duration {
    std::env::var("N2N_HUB_LIMIT_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(LIMIT, Duration::from_secs)
}
/// How long the idle CPU is measured (`N2N_HUB_IDLE_MS` overrides it, to
/// profile the idle hub).
const IDLE: Duration = Duration::from_secs(5);

fn idle_period() -> Duration {
    std::env::var("N2N_HUB_IDLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(IDLE, Duration::from_millis)
}

/// How a hub run is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubOptions {
    /// Handshakes in flight at once.
    pub window: usize,
    /// [`RtcConfig::keepalive_interval`] of the hub and the clients
    /// (`None`: the default).
    pub keepalive: Option<Duration>,
    /// [`RtcConfig::silence_timeout`] of the hub and the clients (`None`:
    /// the default).
    pub silence: Option<Duration>,
    /// The hub accepts with ICE-lite
    /// ([`NodeRtcConfig::with_lite_acceptor`]).
    pub lite: bool,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            window: 128,
            keepalive: None,
            silence: None,
            lite: false,
        }
    }
}

impl HubOptions {
    /// The transports' configuration.
    pub fn rtc_config(&self) -> RtcConfig {
        let mut c = RtcConfig::loopback();
        if let Some(k) = self.keepalive {
            c = c.with_keepalive_interval(k);
        }
        if let Some(s) = self.silence {
            c = c.with_silence_timeout(s);
        }
        c
    }

    fn spec(&self) -> String {
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis());
        format!(
            "{}:{}:{}:{}",
            self.window,
            ms(self.keepalive),
            ms(self.silence),
            u8::from(self.lite)
        )
    }

    fn parse(window: &str, keepalive: &str, silence: &str, lite: &str) -> Result<Self, BenchError> {
        let ms = |v: &str| -> Result<Option<Duration>, BenchError> {
            let ms: u64 = v.parse()?;
            Ok((ms > 0).then(|| Duration::from_millis(ms)))
        };
        Ok(HubOptions {
            window: window.parse()?,
            keepalive: ms(keepalive)?,
            silence: ms(silence)?,
            lite: lite == "1",
        })
    }
}

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
    /// CPU the client process (all `n` client nodes) spent per
    /// connection while they opened.
    pub client_setup_cpu_per_conn: Duration,
    /// CPU of the client process while idle, in % of one core.
    pub client_idle_cpu_percent: f64,
    /// Connections the hub reports open after the idle period.
    pub open_after_idle: usize,
    /// Datagrams the hub's socket sent and received per connection per
    /// second while idle (keep-alive checks and their answers).
    pub idle_datagrams_per_conn: f64,
    /// Timer wake-ups of the hub's connections per connection per second
    /// while idle.
    pub idle_wakeups_per_conn: f64,
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
    cpu_time_of("self")
}

/// CPU time of process `pid` (`"self"` or a number) so far, all its
/// threads.
fn cpu_time_of(pid: &str) -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
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

fn str0m_factory(
    config: RtcConfig,
) -> impl FnMut() -> std::future::Ready<Result<Str0mTransport, BenchError>> {
    move || std::future::ready(Str0mTransport::bind(&config).map_err(Into::into))
}

/// A str0m transport whose counters stay readable after it moved into its
/// node (copied each time the node's driver goes back to sleep).
struct Counted {
    inner: Str0mTransport,
    stats: Arc<Mutex<Stats>>,
}

impl Transport for Counted {
    type Error = <Str0mTransport as Transport>::Error;

    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), Self::Error> {
        self.inner.handle_command(now, cmd)
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        let p = self.inner.poll_event(cx);
        if p.is_pending() {
            if let Ok(mut s) = self.stats.lock() {
                *s = self.inner.stats();
            }
        }
        p
    }

    fn send_window(&self) -> usize {
        self.inner.send_window()
    }

    fn rtt(&self, conn: overlay_core::ConnId) -> Option<Duration> {
        self.inner.rtt(conn)
    }

    fn connection_count(&self) -> Option<usize> {
        Transport::connection_count(&self.inner)
    }
}

/// Run one hub of `n` connections in fresh processes (hub and clients).
///
/// # Errors
/// If a process fails or reports an error.
pub fn hub_in_child(n: usize, window: usize) -> Result<HubResult, BenchError> {
    hub_in_child_with(
        n,
        &HubOptions {
            window,
            ..HubOptions::default()
        },
    )
}

/// [`hub_in_child`] with keep-alive settings.
///
/// # Errors
/// If a process fails or reports an error.
pub fn hub_in_child_with(n: usize, options: &HubOptions) -> Result<HubResult, BenchError> {
    let out = Command::new(std::env::current_exe()?)
        .env(ENV, format!("hub:{n}:{}", options.spec()))
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
        [setup, kib, cpu, open, per, dgrams, wakes, cper, cidle] => Ok(HubResult {
            conns: n,
            client_setup_cpu_per_conn: Duration::from_secs_f64(cper.parse()?),
            client_idle_cpu_percent: cidle.parse()?,
            setup: Duration::from_secs_f64(setup.parse()?),
            setup_cpu_per_conn: Duration::from_secs_f64(per.parse()?),
            kib_per_conn: kib.parse()?,
            idle_cpu_percent: cpu.parse()?,
            open_after_idle: open.parse()?,
            idle_datagrams_per_conn: dgrams.parse()?,
            idle_wakeups_per_conn: wakes.parse()?,
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
        ["hub", n, w, k, s, l] => {
            let r = (|| run_hub(n.parse()?, HubOptions::parse(w, k, s, l)?))();
            match r {
                Ok(r) => println!(
                    "{TAG} {} {} {} {} {} {} {} {} {}",
                    r.setup.as_secs_f64(),
                    r.kib_per_conn,
                    r.idle_cpu_percent,
                    r.open_after_idle,
                    r.setup_cpu_per_conn.as_secs_f64(),
                    r.idle_datagrams_per_conn,
                    r.idle_wakeups_per_conn,
                    r.client_setup_cpu_per_conn.as_secs_f64(),
                    r.client_idle_cpu_percent,
                ),
                Err(e) => println!("{TAG} error {e}"),
            }
        }
        ["clients", n, w, k, s, l] => {
            let r = (|| run_clients(n.parse()?, HubOptions::parse(w, k, s, l)?))();
            if let Err(e) = r {
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

/// A signal in flight between the pipes and a handshake's task, boxed: a
/// channel allocates its slots in blocks of 32, and an envelope is a few
/// hundred bytes.
type Boxed = Box<SignalEnvelope>;

fn parse_signal(line: &str) -> Option<(usize, Boxed)> {
    let (i, json) = line.strip_prefix("S ")?.split_once(' ')?;
    Some((i.parse().ok()?, serde_json::from_str(json).ok()?))
}

fn run_hub(n: usize, options: HubOptions) -> Result<HubResult, BenchError> {
    let window = options.window;
    let rt = runtime()?;
    rt.block_on(async {
        let stats = Arc::new(Mutex::new(Stats::default()));
        let counted = stats.clone();
        let config = options.rtc_config();
        let port = Arc::new(Mutex::new(0u16));
        let bound = port.clone();
        let lite = options.lite;
        let mut make = move || {
            std::future::ready(
                NodeRtcConfig::new()
                    .and_then(|p| {
                        Str0mTransport::bind_prepared(&config, p.with_lite_acceptor(lite))
                    })
                    .map(|inner| {
                        if let Ok(mut p) = bound.lock() {
                            *p = inner.local_addr().port();
                        }
                        Counted {
                            inner,
                            stats: counted.clone(),
                        }
                    })
                    .map_err(BenchError::from),
            )
        };
        let mut hub = bench_peer(&mut make).await?;
        let port = port.lock().map(|p| *p).unwrap_or(0);
        let mut child = Command::new(std::env::current_exe()?)
            .env(ENV, format!("clients:{n}:{}", options.spec()))
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
        let client_pid = child.id().to_string();
        let client_cpu0 = cpu_time_of(&client_pid);
        let mut open = 0;
        let limit = limit();
        let deadline = tokio::time::Instant::now() + limit;
        let read = || stats.lock().map(|s| s.clone()).unwrap_or_default();
        // Where the CPU per opened connection goes as connections
        // accumulate: one row per tenth of `n`.
        let step = (n / 10).max(1);
        let mut mark = Mark::now(0, &client_pid, port, &read());
        eprintln!("{STEP_HEADER}");
        while open < n {
            match tokio::time::timeout_at(deadline, hub.events.recv()).await {
                Ok(Some(Event::ArcOpened {
                    direction: Direction::In,
                    ..
                })) => {
                    open += 1;
                    if open % step == 0 || open == n {
                        let next = Mark::now(open, &client_pid, port, &read());
                        eprintln!("{}", next.row_since(&mark));
                        mark = next;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err("the hub node stopped".into()),
                Err(_) => return Err(format!("{open} of {n} open after {limit:?}").into()),
            }
        }
        let setup = start.elapsed();
        let setup_cpu = cpu_time().saturating_sub(setup_cpu0);
        let client_setup_cpu = cpu_time_of(&client_pid).saturating_sub(client_cpu0);
        // The signal pipes are done: free their routes before measuring.
        out.send("C".into())?;
        dispatcher.await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib();
        let (cpu0, s0, t0) = (cpu_time(), read(), Instant::now());
        let client_idle0 = cpu_time_of(&client_pid);
        tokio::time::sleep(idle_period()).await;
        let cpu = cpu_time().saturating_sub(cpu0);
        let client_idle = cpu_time_of(&client_pid).saturating_sub(client_idle0);
        let (s1, idle) = (read(), t0.elapsed().as_secs_f64());
        let per_conn = |v: u64| v as f64 / n.max(1) as f64 / idle;
        let dgrams = per_conn(
            (s1.datagrams_in + s1.datagrams_out).saturating_sub(s0.datagrams_in + s0.datagrams_out),
        );
        let wakes = per_conn(s1.timeouts.saturating_sub(s0.timeouts));
        let open_after_idle = hub.node.connections().await?.len();
        let _ = out.send("Q".into());
        drop(out);
        let _ = child.wait();
        Ok(HubResult {
            conns: n,
            setup,
            kib_per_conn: after.saturating_sub(before) as f64 / n as f64,
            idle_cpu_percent: cpu.as_secs_f64() / idle * 100.0,
            open_after_idle,
            setup_cpu_per_conn: setup_cpu / u32::try_from(n.max(1)).unwrap_or(u32::MAX),
            client_setup_cpu_per_conn: client_setup_cpu
                / u32::try_from(n.max(1)).unwrap_or(u32::MAX),
            client_idle_cpu_percent: client_idle.as_secs_f64() / idle * 100.0,
            idle_datagrams_per_conn: dgrams,
            idle_wakeups_per_conn: wakes,
        })
    })
}

const STEP_HEADER: &str = "| connections held | opened in step | step time | hub CPU per connection opened | client CPU per connection opened | hub run-queue wait per connection opened | hub datagrams per connection opened | hub timer wake-ups per connection opened | datagrams dropped at the hub socket (receive buffer full) | UDP receive-buffer drops, whole machine | hub: unrouted / send would block / pair collisions |\n|---|---|---|---|---|---|---|---|---|---|---|";

/// On-CPU and run-queue wait time of process `pid` so far, all its
/// threads (`/proc/PID/task/*/schedstat`).
fn sched_times(pid: &str) -> (Duration, Duration) {
    let (mut run, mut wait) = (0u64, 0u64);
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            let mut f = s.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
            run += f.next().unwrap_or(0);
            wait += f.next().unwrap_or(0);
        }
    }
    (Duration::from_nanos(run), Duration::from_nanos(wait))
}

/// Datagrams the kernel dropped at the UDP socket bound to `port`
/// (its receive buffer was full), from `/proc/net/udp`.
fn socket_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1)?.ends_with(&port)).then(|| f.last()?.parse::<u64>().ok())?
        })
        .sum()
}

/// The machine's UDP receive-buffer drops (`RcvbufErrors` of
/// `/proc/net/snmp`: every process's sockets).
fn machine_rcvbuf_errors() -> u64 {
    n2n_test_support::probe::udp_counter("RcvbufErrors")
}

/// The two processes' counters when the hub had `open` connections.
struct Mark {
    open: usize,
    at: Instant,
    hub_cpu: Duration,
    hub_wait: Duration,
    client_cpu: Duration,
    stats: Stats,
    socket_drops: u64,
    machine_drops: u64,
}

impl Mark {
    fn now(open: usize, client_pid: &str, port: u16, stats: &Stats) -> Mark {
        let (hub_cpu, hub_wait) = sched_times("self");
        Mark {
            open,
            at: Instant::now(),
            hub_cpu,
            hub_wait,
            client_cpu: cpu_time_of(client_pid),
            stats: stats.clone(),
            socket_drops: socket_drops(port),
            machine_drops: machine_rcvbuf_errors(),
        }
    }

    /// A row of the step table: what it cost to go from `before` to here.
    fn row_since(&self, before: &Mark) -> String {
        let opened = self.open.saturating_sub(before.open).max(1);
        let per = |d: Duration| d.as_secs_f64() * 1e3 / opened as f64;
        let (s, b) = (&self.stats, &before.stats);
        let per_n = |v: u64| v as f64 / opened as f64;
        format!(
            "| {} | {} | {:.0} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} | {:.1} | {} | {} | {} / {} / {} |",
            before.open,
            opened,
            self.at.duration_since(before.at).as_secs_f64() * 1e3,
            per(self.hub_cpu.saturating_sub(before.hub_cpu)),
            per(self.client_cpu.saturating_sub(before.client_cpu)),
            per(self.hub_wait.saturating_sub(before.hub_wait)),
            per_n((s.datagrams_in + s.datagrams_out).saturating_sub(b.datagrams_in + b.datagrams_out)),
            per_n(s.timeouts.saturating_sub(b.timeouts)),
            self.socket_drops.saturating_sub(before.socket_drops),
            self.machine_drops.saturating_sub(before.machine_drops),
            s.unrouted.saturating_sub(b.unrouted),
            s.send_would_block.saturating_sub(b.send_would_block),
            s.pair_collisions.saturating_sub(b.pair_collisions),
        )
    }
}

/// The hub's side of the signal pipes: the first signal of a client
/// (its offer) starts an acceptor; later ones go to the hub node.
async fn dispatch(
    node: Node,
    mut lines: mpsc::UnboundedReceiver<String>,
    out: std::sync::mpsc::Sender<String>,
) {
    let mut routes: HashMap<HandshakeId, mpsc::UnboundedSender<Boxed>> = HashMap::new();
    // Routes of ended handshakes are dropped in amortized sweeps: a kept
    // sender keeps its channel's block of slots allocated.
    let mut sweep_at = 256;
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
        if routes.len() >= sweep_at {
            routes.retain(|_, tx| !tx.is_closed());
            sweep_at = (routes.len() * 2).max(256);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        routes.insert(env.handshake, tx);
        tokio::spawn(hub_side(node.clone(), i, *env, rx, out.clone()));
    }
}

async fn hub_side(
    node: Node,
    i: usize,
    offer: SignalEnvelope,
    mut rx: mpsc::UnboundedReceiver<Boxed>,
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
                Some(env) => { let _ = node.handle_signal(*env).await; }
                None => rx_open = false,
            },
        }
    }
}

fn run_clients(n: usize, options: HubOptions) -> Result<(), BenchError> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut make = str0m_factory(options.rtc_config());
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
    mut rx: mpsc::UnboundedReceiver<Boxed>,
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
                        let _ = handle.node().handle_signal(*env).await;
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

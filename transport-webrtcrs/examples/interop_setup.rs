//! Connection setup time between this backend (webrtc-rs) and other WebRTC
//! stacks, both offer directions, next to each stack's own same-stack
//! setup: a table of median, p90 and max over N connections.
//!
//! ```text
//! cargo run --release -p transport-webrtcrs --example interop_setup -- \
//!     [--n 20] [--stacks str0m,webrtc-rs,libwebrtc,libdatachannel,chromium] \
//!     [--compare] [--compare-description] [--compare-check-wait] [--compare-certificate]
//!     [--threads 2] [--strict]
//! ```
//!
//! `--threads 1` runs everything in this process on one thread (a tokio
//! current-thread runtime) instead of two worker threads: on a loaded
//! machine every hop between threads costs a scheduler wake-up, which
//! the str0m reference (both ends in one task) never pays.
//!
//! `--strict` makes the run fail if any setup failed (CI's smoke run).
//!
//! - `str0m`: our str0m backend (`transport-str0m`), in this process.
//! - `webrtc-rs`: this backend on both ends.
//! - `libwebrtc`, `libdatachannel`, `chromium`: `interop/setup-peer.js`
//!   on npm `@roamhq/wrtc`, npm `node-datachannel` or Debian's Chromium
//!   (npm `puppeteer-core`), one process per stack holding every
//!   connection; signals go through its stdin and stdout. The example
//!   installs the npm packages if missing (`npm install` in `interop/`) and
//!   re-executes itself in a loopback-only network namespace
//!   (`unshare -n`, root), as the interop tests do.
//!
//! Setup is measured from the `Open` command (or, when the other stack
//! offers, from asking it to) until the data channel is open on both sides;
//! signals are passed as soon as they appear (trickle ICE). A row
//! "X → Y" means X makes the offer. With `--compare`, every row where
//! webrtc-rs offers is measured a second time with
//! `Options::hold_early_packets` off (the library's drops of early
//! datagrams, as before this workaround), and so is every row where the
//! other stack offers. With `--compare-description`, every row with a
//! webrtc-rs end is measured once more with
//! `Options::candidates_in_description` off (the offer or answer sent at
//! once, candidates only trickled after it), and with
//! `--compare-check-wait` with `Options::remote_check_wait` zero (the
//! answer applied as soon as it arrives), and with `--compare-certificate`
//! with `Options::certificate_per_node` off (the library makes a
//! certificate for each connection, inside the measured setup; the node's
//! one is made when the transport binds, before the clock starts, as in a
//! node that opens many connections). Connections are opened one at a
//! time; `early held/released, checks replayed` are this backend's
//! counters over the row (`Stats::early_held`, `early_released`,
//! `checks_replayed`).
//! Timing on a shared machine is noisy: compare rows of one run.

use std::io::ErrorKind;
use std::process::Stdio;
use std::time::{Duration, Instant};

use n2n_test_support::interop::{ensure_npm_packages, interop_dir};
use n2n_test_support::netns;
use n2n_test_support::pair::{Pair, Side};
use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use transport_str0m::Str0mTransport;
use transport_webrtcrs::{Options, WebRtcTransport};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Longest a single setup may take before it counts as failed.
const SETUP_LIMIT: Duration = Duration::from_secs(10);
/// Pause between two connections.
const GAP: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    Str0m,
    WebRtcRs,
    LibWebRtc,
    LibDataChannel,
    Chromium,
}

impl Stack {
    fn parse(s: &str) -> Res<Self> {
        Ok(match s {
            "str0m" => Stack::Str0m,
            "webrtc-rs" => Stack::WebRtcRs,
            "libwebrtc" => Stack::LibWebRtc,
            "libdatachannel" => Stack::LibDataChannel,
            "chromium" => Stack::Chromium,
            other => return Err(format!("unknown stack {other:?}").into()),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Stack::Str0m => "str0m",
            Stack::WebRtcRs => "webrtc-rs",
            Stack::LibWebRtc => "libwebrtc",
            Stack::LibDataChannel => "libdatachannel",
            Stack::Chromium => "chromium",
        }
    }

    /// The stack's name for `interop/setup-peer.js`, if it runs there.
    fn js(self) -> Option<&'static str> {
        match self {
            Stack::LibWebRtc => Some("wrtc"),
            Stack::LibDataChannel => Some("ndc"),
            Stack::Chromium => Some("chromium"),
            Stack::Str0m | Stack::WebRtcRs => None,
        }
    }
}

struct Args {
    n: usize,
    stacks: Vec<Stack>,
    compare: bool,
    compare_description: bool,
    compare_check_wait: bool,
    compare_certificate: bool,
    threads: usize,
    strict: bool,
}

/// The settings of the webrtc-rs end of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The backend's defaults.
    Default,
    /// `Options::hold_early_packets` off.
    DropEarly,
    /// `Options::candidates_in_description` off.
    TrickleOnly,
    /// `Options::remote_check_wait` zero.
    NoCheckWait,
    /// `Options::certificate_per_node` off.
    CertPerConnection,
}

impl Variant {
    fn options(self) -> Options {
        match self {
            Variant::Default => Options::default(),
            Variant::DropEarly => Options::default().with_hold_early_packets(false),
            Variant::TrickleOnly => Options::default().with_candidates_in_description(false),
            Variant::NoCheckWait => Options::default().with_remote_check_wait(Duration::ZERO),
            Variant::CertPerConnection => Options::default().with_certificate_per_node(false),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Default => "defaults",
            Variant::DropEarly => "early packets dropped",
            Variant::TrickleOnly => "candidates only trickled",
            Variant::NoCheckWait => "answer applied at once",
            Variant::CertPerConnection => "a certificate per connection",
        }
    }
}

fn args() -> Res<Args> {
    let mut a = Args {
        n: 20,
        stacks: vec![
            Stack::Str0m,
            Stack::WebRtcRs,
            Stack::LibWebRtc,
            Stack::LibDataChannel,
            Stack::Chromium,
        ],
        compare: false,
        compare_description: false,
        compare_check_wait: false,
        compare_certificate: false,
        threads: 2,
        strict: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--n" => a.n = it.next().ok_or("--n needs a number")?.parse()?,
            "--stacks" => {
                a.stacks = it
                    .next()
                    .ok_or("--stacks needs a list")?
                    .split(',')
                    .map(Stack::parse)
                    .collect::<Res<_>>()?;
            }
            "--compare" => a.compare = true,
            "--compare-description" => a.compare_description = true,
            "--compare-check-wait" => a.compare_check_wait = true,
            "--compare-certificate" => a.compare_certificate = true,
            "--threads" => a.threads = it.next().ok_or("--threads needs a number")?.parse()?,
            "--strict" => a.strict = true,
            other => {
                return Err(format!("unknown argument {other:?} (see the example's docs)").into())
            }
        }
    }
    if a.n == 0 {
        return Err("--n must be at least 1".into());
    }
    Ok(a)
}

/// One row of the table.
struct Row {
    what: String,
    ms: Vec<f64>,
    failed: usize,
    early: Option<(u64, u64, u64)>,
}

impl Row {
    fn new(what: String) -> Self {
        Row {
            what,
            ms: Vec::new(),
            failed: 0,
            early: None,
        }
    }

    fn cells(&self) -> String {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .map_or("-".to_owned(), |x| format!("{x:.1}"))
        };
        let early = self
            .early
            .map_or("-".to_owned(), |(h, r, p)| format!("{h}/{r}/{p}"));
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            self.what,
            pick(0.5),
            pick(0.9),
            v.last().map_or("-".to_owned(), |x| format!("{x:.1}")),
            v.len(),
            self.failed,
            early
        )
    }
}

fn webrtcrs(v: Variant) -> Res<WebRtcTransport> {
    Ok(WebRtcTransport::bind_with_options(
        &RtcConfig::loopback(),
        v.options(),
    )?)
}

/// N setups of a pair of in-process transports, `offerer` offering.
async fn pair_row<A, B>(
    what: String,
    n: usize,
    offerer: Side,
    mut make: impl FnMut() -> Res<(A, B)>,
    early: impl Fn(&A, &B) -> Option<(u64, u64, u64)>,
) -> Res<Row>
where
    A: Transport,
    B: Transport,
{
    let mut row = Row::new(what);
    let mut sum = None::<(u64, u64, u64)>;
    for _ in 0..n {
        let (a, b) = make()?;
        let mut pair = Pair::new(a, b);
        let t0 = Instant::now();
        match tokio::time::timeout(SETUP_LIMIT, pair.open(offerer)).await {
            Ok(()) => row.ms.push(t0.elapsed().as_secs_f64() * 1e3),
            Err(_) => row.failed += 1,
        }
        if let Some((h, r, p)) = early(&pair.a, &pair.b) {
            let s = sum.get_or_insert((0, 0, 0));
            s.0 += h;
            s.1 += r;
            s.2 += p;
        }
        drop(pair);
        tokio::time::sleep(GAP).await;
    }
    row.early = sum;
    Ok(row)
}

fn early_of(t: &WebRtcTransport) -> (u64, u64, u64) {
    let s = t.stats();
    (s.early_held, s.early_released, s.checks_replayed)
}

/// `interop/setup-peer.js` serving one stack.
struct JsStack {
    _child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl JsStack {
    async fn start(js: &str) -> Res<Self> {
        let mut child = Command::new("node")
            .arg(interop_dir().join("setup-peer.js"))
            .args([js, "serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let mut s = JsStack {
            _child: child,
            stdin,
            lines,
        };
        loop {
            let v = s.next().await?;
            match v.get("event").and_then(|e| e.as_str()) {
                Some("ready") => return Ok(s),
                Some("error") => return Err(format!("{js}: {}", v["message"]).into()),
                _ => {}
            }
        }
    }

    /// Close its stdin (it then closes its stack: a Chromium browser, say)
    /// and give it 5 s to exit before it is killed: killed at once, it
    /// would leave its browser running.
    async fn stop(self) {
        let JsStack {
            mut _child, stdin, ..
        } = self;
        drop(stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), _child.wait()).await;
    }

    async fn next(&mut self) -> Res<serde_json::Value> {
        let line = self
            .lines
            .next_line()
            .await?
            .ok_or("setup-peer.js exited")?;
        Ok(serde_json::from_str(&line)?)
    }

    async fn send(&mut self, id: u64, mut msg: serde_json::Value) -> Res<()> {
        msg["id"] = id.into();
        self.stdin.write_all(format!("{msg}\n").as_bytes()).await?;
        Ok(())
    }
}

/// N setups between one webrtc-rs transport and one JS stack; `role` is
/// ours.
async fn js_row(what: String, n: usize, js: &str, role: Role, v: Variant) -> Res<Row> {
    let mut peer = JsStack::start(js).await?;
    let row = js_setups(&mut peer, what, n, js, role, v).await;
    peer.stop().await;
    row
}

async fn js_setups(
    peer: &mut JsStack,
    what: String,
    n: usize,
    js: &str,
    role: Role,
    v: Variant,
) -> Res<Row> {
    let mut row = Row::new(what);
    let mut t = webrtcrs(v)?;
    for i in 1..=n as u64 {
        let conn = ConnId(i);
        let t0 = Instant::now();
        t.handle_command(Instant::now(), Cmd::Open { conn, role })?;
        if role == Role::Acceptor {
            peer.send(i, serde_json::json!({ "type": "start" })).await?;
        }
        let (mut ours, mut theirs) = (false, false);
        let deadline = tokio::time::Instant::now() + SETUP_LIMIT;
        while !(ours && theirs) {
            tokio::select! {
                ev = std::future::poll_fn(|cx| t.poll_event(cx)) => match ev {
                    Ev::Signal { conn: c, signal } if c == conn => {
                        peer.send(i, serde_json::to_value(&signal)?).await?;
                    }
                    Ev::Opened { conn: c, .. } if c == conn => ours = true,
                    Ev::Closed { conn: c, reason } if c == conn => {
                        eprintln!("{js}: connection {i} closed while opening: {reason}");
                        break;
                    }
                    _ => {}
                },
                v = peer.next() => {
                    let mut v = v?;
                    match v.get("event").and_then(|e| e.as_str()) {
                        Some("error") if v.get("id").is_none() => {
                            return Err(format!("{js}: {}", v["message"]).into());
                        }
                        Some("warning") => eprintln!("{js}: connection {i}: {}", v["message"]),
                        _ => {}
                    }
                    if v.get("id").and_then(|x| x.as_u64()) != Some(i) {
                        continue;
                    }
                    match v.get("event").and_then(|e| e.as_str()) {
                        Some("open") => theirs = true,
                        Some("error") => {
                            eprintln!("{js}: connection {i}: {}", v["message"]);
                            break;
                        }
                        Some(_) => {}
                        None => {
                            if let Some(o) = v.as_object_mut() {
                                o.remove("id");
                            }
                            let signal: Signal = serde_json::from_value(v)?;
                            t.handle_command(Instant::now(), Cmd::Signal { conn, signal })?;
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if ours && theirs {
            row.ms.push(t0.elapsed().as_secs_f64() * 1e3);
        } else {
            row.failed += 1;
        }
        t.handle_command(Instant::now(), Cmd::Close { conn })?;
        peer.send(i, serde_json::json!({ "type": "close" })).await?;
        // Let the closes settle (and drain what they report).
        let settle = tokio::time::sleep(GAP);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = std::future::poll_fn(|cx| t.poll_event(cx)) => {}
                v = peer.next() => { v?; }
                () = &mut settle => break,
            }
        }
    }
    row.early = Some(early_of(&t));
    Ok(row)
}

/// `row`, or a row of `n` failures that says why.
fn or_failed(what: String, n: usize, row: Res<Row>) -> Row {
    row.unwrap_or_else(|err| {
        eprintln!("{what}: {err}");
        let mut row = Row::new(format!("{what} (stopped: see stderr)"));
        row.failed = n;
        row
    })
}

/// The JS stack's own setup: two of its connections in one process.
async fn js_self_row(what: String, n: usize, js: &str) -> Res<Row> {
    let out = Command::new("node")
        .arg(interop_dir().join("setup-peer.js"))
        .args([js, "self", &n.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .await?;
    let mut row = Row::new(what);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        match v.get("event").and_then(|e| e.as_str()) {
            Some("self") => {
                row.ms = v["ms"]
                    .as_array()
                    .ok_or("no ms")?
                    .iter()
                    .filter_map(|x| x.as_f64())
                    .collect();
            }
            Some("error") => {
                eprintln!("{js} self: {}", v["message"]);
                row.failed = n - row.ms.len();
            }
            _ => {}
        }
    }
    if row.ms.is_empty() && row.failed == 0 {
        eprintln!("{js} self: no result ({})", out.status);
        row.failed = n;
    }
    Ok(row)
}

async fn run(a: Args) -> Res<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "setup, {} connections per row, one at a time, {} runtime thread(s); load average {}",
        a.n,
        a.threads,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut rows = Vec::new();
    let mut variants = vec![Variant::Default];
    if a.compare {
        variants.push(Variant::DropEarly);
    }
    if a.compare_description {
        variants.push(Variant::TrickleOnly);
    }
    if a.compare_check_wait {
        variants.push(Variant::NoCheckWait);
    }
    if a.compare_certificate {
        variants.push(Variant::CertPerConnection);
    }
    let several = variants.len() > 1;
    let label = |base: String, v: Variant| {
        if several {
            format!("{base} ({})", v.label())
        } else {
            base
        }
    };
    for &stack in &a.stacks {
        let name = stack.name();
        let started = Instant::now();
        match stack {
            Stack::Str0m => {
                // webrtc-rs offering (side A opens), then str0m offering.
                let directions = [
                    (Side::A, format!("webrtc-rs → {name}")),
                    (Side::B, format!("{name} → webrtc-rs")),
                ];
                for (side, what) in directions {
                    for &v in &variants {
                        rows.push(
                            pair_row(
                                label(what.clone(), v),
                                a.n,
                                side,
                                || {
                                    Ok((
                                        webrtcrs(v)?,
                                        Str0mTransport::bind(&RtcConfig::loopback())?,
                                    ))
                                },
                                |w, _| Some(early_of(w)),
                            )
                            .await?,
                        );
                    }
                }
                rows.push(
                    pair_row(
                        format!("{name} → {name} (reference)"),
                        a.n,
                        Side::A,
                        || {
                            Ok((
                                Str0mTransport::bind(&RtcConfig::loopback())?,
                                Str0mTransport::bind(&RtcConfig::loopback())?,
                            ))
                        },
                        |_, _| None,
                    )
                    .await?,
                );
            }
            Stack::WebRtcRs => {
                for &v in &variants {
                    rows.push(
                        pair_row(
                            label("webrtc-rs → webrtc-rs".to_owned(), v),
                            a.n,
                            Side::A,
                            || Ok((webrtcrs(v)?, webrtcrs(v)?)),
                            |x, y| {
                                let (p, q) = (early_of(x), early_of(y));
                                Some((p.0 + q.0, p.1 + q.1, p.2 + q.2))
                            },
                        )
                        .await?,
                    );
                }
            }
            js_stack => {
                let js = js_stack.js().ok_or("not a JS stack")?;
                for &v in &variants {
                    let what = label(format!("webrtc-rs → {name}"), v);
                    rows.push(or_failed(
                        what.clone(),
                        a.n,
                        js_row(what, a.n, js, Role::Initiator, v).await,
                    ));
                }
                for &v in &variants {
                    let what = label(format!("{name} → webrtc-rs"), v);
                    rows.push(or_failed(
                        what.clone(),
                        a.n,
                        js_row(what, a.n, js, Role::Acceptor, v).await,
                    ));
                }
                rows.push(js_self_row(format!("{name} → {name} (reference)"), a.n, js).await?);
            }
        }
        eprintln!("{name}: done in {:.1} s", started.elapsed().as_secs_f64());
    }
    println!();
    println!("| setup (offerer → answerer) | median ms | p90 ms | max ms | n | failed | early held/released, checks replayed |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{}", row.cells());
    }
    let failed: usize = rows.iter().map(|r| r.failed).sum();
    if a.strict && failed > 0 {
        return Err(format!("{failed} setups failed (--strict)").into());
    }
    Ok(())
}

/// npm packages of `interop/package.json`, the optional ones included.
fn ensure_js_packages() -> Res<()> {
    ensure_npm_packages()?;
    let dir = interop_dir();
    let missing = ["node-datachannel", "puppeteer-core"].iter().any(|p| {
        !dir.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    });
    if missing {
        eprintln!("installing the optional npm packages in {}", dir.display());
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => "`npm` not found: install Node.js 18+ with npm".to_owned(),
                _ => format!("cannot run npm: {e}"),
            })?;
        if !status.success() {
            return Err(format!("`npm install` in {} failed ({status})", dir.display()).into());
        }
    }
    Ok(())
}

fn main() -> Res<()> {
    let a = args()?;
    let needs_js = a.stacks.iter().any(|s| s.js().is_some());
    if needs_js && !netns::in_netns() {
        ensure_js_packages()?;
        let status = std::process::Command::new("unshare")
            .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
            .arg(std::env::current_exe()?)
            .args(std::env::args().skip(1))
            .env(netns::IN_NETNS, "1")
            .status()
            .map_err(|e| format!("cannot run `unshare -n` ({e}): this needs root"))?;
        if !status.success() {
            return Err(format!("the run inside `unshare -n` failed ({status})").into());
        }
        return Ok(());
    }
    // Logs on stderr, filtered by RUST_LOG (default: errors only).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match a.threads {
        0 => return Err("--threads must be at least 1".into()),
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(a))
}

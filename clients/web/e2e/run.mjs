// End-to-end test: headless Chromium tabs and Rust peers (str0m, webrtc-rs)
// in one room of an `n2n signal` server. Run inside a loopback-only network
// namespace (see .ci/browser.sh):
//   unshare -n sh -c 'ip link set lo up; node e2e/run.mjs'
// Env: N2N_BIN (default target/debug/n2n, built with --features webrtc-rs),
// CHROMIUM (default /usr/bin/chromium), E2E_SCREENSHOT (default
// docs/browser-page.png), E2E_RESULTS (a JSON file for the timings).
// Prints one line per check and ends with "e2e: N passed, M failed".

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const N2N = process.env.N2N_BIN ?? join(root, "target/debug/n2n");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOT = process.env.E2E_SCREENSHOT ?? join(root, "docs/browser-page.png");
const ROOM = "e2e";
const LARGE = 200_000; // bytes: over three 64 KiB frames
const STEP_MS = 20_000;

let passed = 0;
let failed = 0;
const timings = [];
const children = [];
function check(ok, what) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  return ok;
}
function timing(kind, how, ms) {
  timings.push({ kind, how, ms: Math.round(ms * 10) / 10 });
  console.log(`time ${kind} (${how}): ${ms.toFixed(1)} ms`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes ------------------------------------------------------------

class Proc {
  constructor(name, args) {
    this.name = name;
    this.lines = [];
    this.waiters = [];
    this.child = spawn(N2N, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" } });
    children.push(this.child);
    const rl = createInterface({ input: this.child.stdout });
    rl.on("line", (l) => {
      this.lines.push(l);
      if (process.env.E2E_VERBOSE) console.log(`[${name}] ${l.slice(0, 200)}`);
      for (const w of [...this.waiters]) w();
    });
    createInterface({ input: this.child.stderr }).on("line", (l) => {
      if (process.env.E2E_VERBOSE) console.log(`[${name} err] ${l.slice(0, 300)}`);
    });
    this.child.on("exit", (code) => {
      this.exited = code;
      for (const w of [...this.waiters]) w();
    });
  }
  /** The first line (from index `from`) matching `re`, waiting up to `ms`. */
  waitFor(re, ms = STEP_MS, from = 0) {
    return new Promise((resolve) => {
      const look = () => {
        for (let i = from; i < this.lines.length; i++) {
          const m = this.lines[i].match(re);
          if (m) return finish(m);
        }
        if (this.exited !== undefined) finish(null);
      };
      const timer = setTimeout(() => finish(null), ms);
      const finish = (m) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== look);
        resolve(m);
      };
      this.waiters.push(look);
      look();
    });
  }
  send(line) {
    this.child.stdin.write(line + "\n");
  }
  mark() {
    return this.lines.length;
  }
}

async function rustPeer(name, url, backend, contact) {
  const args = ["peer", "--signal", url, "--room", ROOM, "--backend", backend];
  if (contact) args.push("--contact", contact);
  const p = new Proc(name, args);
  const m = await p.waitFor(/^id ([0-9a-f]{64})$/);
  if (!m) throw new Error(`${name} did not start: ${p.lines.join(" | ")}`);
  p.id = m[1];
  const j = await p.waitFor(/^joined room \S+(?: via [0-9a-f]+ in ([\d.]+) ms)?/);
  if (!j) throw new Error(`${name} did not join: ${p.lines.join(" | ")}`);
  p.joinMs = j[1] ? Number(j[1]) : null;
  return p;
}

// ---- tabs -------------------------------------------------------------------

class Tab {
  constructor(name, page) {
    this.name = name;
    this.page = page;
  }
  eval(f, ...args) {
    return this.page.evaluate(f, ...args);
  }
  /** Wait until `f` (run in the page) is truthy. */
  async until(f, arg, ms = STEP_MS) {
    try {
      await this.page.waitForFunction(f, { timeout: ms, polling: 50 }, arg);
      return true;
    } catch {
      return false;
    }
  }
  connect(from, to) {
    return this.eval(async (f, t) => {
      const t0 = performance.now();
      try {
        await window.n2n.handle.connect(f, t);
        return { ms: performance.now() - t0 };
      } catch (e) {
        return { error: String(e) };
      }
    }, from, to);
  }
  outview() {
    return this.eval(() => Object.fromEntries(window.n2n.handle.outview()));
  }
  inview() {
    return this.eval(() => Object.fromEntries(window.n2n.handle.inview()));
  }
  send(to, text) {
    return this.eval((p, t) => window.n2n.handle.send(p, t), to, text);
  }
  sendLarge(to, n) {
    return this.eval((p, n) => window.n2n.handle.send(p, new Uint8Array(n).fill(120)), to, n);
  }
  gotFrom(peer, text) {
    return this.until(([p, t]) => window.n2n.messages.some((m) => m.peer === p && (typeof t === "number" ? m.bytes === t : m.text === t)), [peer, text]);
  }
  setupMs(peer) {
    return this.eval((p) => window.n2n.node.connections().find((c) => c.peer === p)?.setupMs ?? null, peer);
  }
}

async function openTab(browser, base, name, contact) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 760 });
  page.on("pageerror", (e) => console.log(`[${name} page error] ${e}`));
  if (process.env.E2E_VERBOSE) page.on("console", (m) => console.log(`[${name} console] ${m.text()}`));
  await page.goto(`${base}/?ips=1&room=${ROOM}${contact ? `&contact=${contact}` : ""}`);
  const tab = new Tab(name, page);
  const ok = await tab.until(() => window.n2n?.joined !== null || document.getElementById("status")?.textContent?.startsWith("join failed"));
  const joined = await tab.eval(() => window.n2n.joined);
  if (!ok || !joined) throw new Error(`${name} did not join: ${await page.evaluate(() => document.getElementById("log").innerText)}`);
  tab.id = await tab.eval(() => window.n2n.node.id);
  tab.joinMs = joined.ms;
  return tab;
}

// ---- the scenario ---------------------------------------------------------

async function main() {
  const server = new Proc("signal", ["signal", "--listen", "127.0.0.1:0", "--observe-all", "--rate", "1000"]);
  const lm = await server.waitFor(/^listening on (ws:\/\/\S+)$/);
  if (!lm) throw new Error(`n2n signal did not start: ${server.lines.join(" | ")}`);
  const url = lm[1];
  const base = url.replace(/^ws:/, "http:").replace(/\/$/, "");

  const profile = mkdtempSync(join(tmpdir(), "n2n-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--allow-loopback-in-peer-connection",
      // With a (fake) microphone permission, which the page asks for with
      // ?ips=1, Chromium offers its loopback address as a host candidate
      // instead of an mDNS name or, in this namespace, nothing at all.
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
    ],
  });
  try {
    // The page is served by the signaling server.
    const res = await fetch(`${base}/`);
    const html = await res.text();
    check(res.ok && html.includes("/n2n/n2n-web.js"), "the signaling server serves the page on its WebSocket port");

    // S: str0m, first member.
    const S = await rustPeer("str0m", url, "str0m");
    check(S.joinMs === null, "str0m peer is the room's first member");
    // T1 joins through S (server-relayed handshake).
    const T1 = await openTab(browser, base, "tab1", S.id);
    check(!!(await S.waitFor(new RegExp(`arc opened in ${T1.id}`))), "tab1 -> str0m arc (via server) seen by str0m");
    timing("browser -> str0m", "direct (server)", T1.joinMs);
    // W: webrtc-rs, joins through T1.
    const W = await rustPeer("webrtc-rs", url, "webrtc-rs", T1.id);
    check(W.joinMs !== null && (await T1.until((w) => window.n2n.handle.inview().has(w), W.id)), "webrtc-rs -> tab1 arc (via server) in tab1's inview");
    timing("webrtc-rs -> browser", "direct (server)", W.joinMs);

    // A tab bridges two Rust peers: tab1 makes W open an arc to S.
    let r = await T1.connect(W.id, S.id);
    check(!r.error, `tab1 bridges webrtc-rs -> str0m ${r.error ?? ""}`);
    check(!!(await S.waitFor(new RegExp(`arc opened in ${W.id}`))), "str0m sees the bridged arc from webrtc-rs");
    if (!r.error) timing("webrtc-rs -> str0m", "bridged by a tab", r.ms);

    // T2 joins through S; T3 through T2 (browser <-> browser via server).
    const T2 = await openTab(browser, base, "tab2", S.id);
    timing("browser -> str0m", "direct (server)", T2.joinMs);
    const T3 = await openTab(browser, base, "tab3", T2.id);
    check(await T2.until((p) => window.n2n.handle.inview().has(p), T3.id), "tab3 -> tab2 arc (via server)");
    timing("browser -> browser", "direct (server)", T3.joinMs);

    // A Rust peer bridges two tabs: S makes T2 open an arc to T1.
    let mark = S.mark();
    S.send(`/bridge ${T2.id} ${T1.id}`);
    const b = await S.waitFor(/^bridged \S+ -> \S+ in ([\d.]+) ms|^error: (.*)/, STEP_MS, mark);
    check(!!b && !!b[1], `str0m bridges tab2 -> tab1 ${b?.[2] ?? ""}`);
    check(await T1.until((p) => window.n2n.handle.inview().has(p), T2.id), "tab1 sees the arc from tab2 (bridged by str0m)");
    if (b?.[1]) timing("browser -> browser", "bridged by str0m", Number(b[1]));

    // A tab and a Rust peer bridged by a third tab: T1 makes T2 open an arc to W.
    r = await T1.connect(T2.id, W.id);
    check(!r.error, `tab1 bridges tab2 -> webrtc-rs ${r.error ?? ""}`);
    check(!!(await W.waitFor(new RegExp(`arc opened in ${T2.id}`))), "webrtc-rs sees the arc from tab2 (bridged by tab1)");
    if (!r.error) timing("browser -> webrtc-rs", "bridged by a tab", r.ms);
    // And the other way round: T2 makes W open an arc to T3, and T3 one to S.
    mark = W.mark();
    r = await T2.connect(T3.id, S.id);
    check(!r.error, `tab2 bridges tab3 -> str0m ${r.error ?? ""}`);
    if (!r.error) timing("browser -> str0m", "bridged by a tab", r.ms);
    r = await T2.connect(W.id, T3.id);
    check(!r.error, `tab2 bridges webrtc-rs -> tab3 ${r.error ?? ""}`);
    check(await T3.until((p) => window.n2n.handle.inview().has(p), W.id), "tab3 sees the arc from webrtc-rs (bridged by tab2)");
    if (!r.error) timing("webrtc-rs -> browser", "bridged by a tab", r.ms);
    // A Rust peer bridges a tab to the other Rust peer: W makes T1... (T1 and S already share a connection:
    // the arc reuses it, no handshake).
    mark = W.mark();
    W.send(`/bridge ${T1.id} ${S.id}`);
    const b2 = await W.waitFor(/^bridged \S+ -> \S+ in ([\d.]+) ms|^error: (.*)/, STEP_MS, mark);
    check(!!b2 && !!b2[1], `webrtc-rs asks tab1 for a second arc to str0m (existing connection) ${b2?.[2] ?? ""}`);
    check(await T1.until((s) => window.n2n.handle.outview().get(s) === 2, S.id), "tab1 holds the arc to str0m twice (multiplicity, one connection)");
    const conns = await T1.eval(() => window.n2n.node.connections().length);
    check(conns === 3, `tab1 has one connection per neighbour (3, got ${conns})`);

    // Messages in every direction.
    const tabs = [T1, T2, T3];
    const rust = [S, W];
    for (const t of tabs) {
      const nbrs = Object.keys({ ...(await t.outview()), ...(await t.inview()) });
      for (const p of nbrs) await t.send(p, `hi from ${t.name}`);
    }
    const sm = S.mark(), wm = W.mark();
    S.send("hi from str0m");
    W.send("hi from webrtc-rs");
    for (const t of tabs) {
      const nbrs = Object.keys({ ...(await t.outview()), ...(await t.inview()) });
      for (const p of nbrs) {
        const from = tabs.find((x) => x.id === p) ?? rust.find((x) => x.id === p);
        const text = `hi from ${from.name}`;
        check(await t.gotFrom(p, text), `${t.name} got "${text}"`);
      }
    }
    for (const [p, from] of [[S, T1], [S, T2], [S, T3], [W, T1], [W, T2], [W, T3]]) {
      check(!!(await p.waitFor(new RegExp(`^message from ${from.id}: hi from ${from.name}$`))), `${p.name} got "hi from ${from.name}"`);
    }
    check(!!(await S.waitFor(new RegExp(`^message from ${W.id}: hi from webrtc-rs$`), STEP_MS, sm)), "str0m got webrtc-rs's message (over the tab-bridged connection)");
    check(!!(await W.waitFor(new RegExp(`^message from ${S.id}: hi from str0m$`), STEP_MS, wm)), "webrtc-rs got str0m's message");

    // Larger than a frame, both ways.
    await T1.sendLarge(S.id, LARGE);
    await T1.sendLarge(W.id, LARGE);
    await T1.sendLarge(T2.id, LARGE);
    check(!!(await S.waitFor(new RegExp(`^message from ${T1.id}: x{${LARGE}}$`))), `str0m got tab1's ${LARGE}-byte message whole`);
    check(!!(await W.waitFor(new RegExp(`^message from ${T1.id}: x{${LARGE}}$`))), `webrtc-rs got tab1's ${LARGE}-byte message whole`);
    check(await T2.gotFrom(T1.id, LARGE), `tab2 got tab1's ${LARGE}-byte message whole`);
    S.send("y".repeat(LARGE));
    W.send("z".repeat(LARGE));
    check(await T1.gotFrom(S.id, LARGE), `tab1 got str0m's ${LARGE}-byte message whole`);
    check(await T1.gotFrom(W.id, LARGE), `tab1 got webrtc-rs's ${LARGE}-byte message whole`);
    check(
      await T1.until(([s, w]) => window.n2n.messages.filter((m) => (m.peer === s || m.peer === w) && m.bytes === 200000).length === 2, [S.id, W.id]),
      "and exactly once each",
    );

    // The room graph: every tab reports its view; tab1 draws the others' arcs.
    check(
      await T1.until(([a, b, c]) => window.n2n.observing && [a, b, c].every((p) => p in window.n2n.graph), [T1.id, T2.id, T3.id]),
      "room graph: tab1 sees the views of all three tabs (observing on)",
    );
    // tab1 was opened first: its page is in the background, where headless
    // Chromium may produce no frame to capture (the screenshot then waits
    // for the protocol timeout). Bring it to the front first.
    await T1.page.bringToFront();
    await sleep(600);
    await T1.page.screenshot({ path: SCREENSHOT });
    check(true, `screenshot saved to ${SCREENSHOT}`);

    // A tab that closes is seen as closed by its neighbours.
    mark = S.mark();
    const wmark = W.mark();
    await T3.page.close();
    check(!!(await S.waitFor(new RegExp(`^arc closed \\w+ ${T3.id}`), STEP_MS, mark)), "str0m sees tab3's arcs closed");
    check(!!(await W.waitFor(new RegExp(`^arc closed \\w+ ${T3.id}`), STEP_MS, wmark)), "webrtc-rs sees tab3's arcs closed");
    check(
      await T2.until((p) => window.n2n.events.some((e) => e.type === "arcClosed" && e.peer === p && e.reason === "connection lost"), T3.id),
      "tab2 sees tab3's arcs closed (connection lost)",
    );

    // A tab that sends malformed frames is cut off by the Rust peers, without harm to others.
    mark = S.mark();
    const wm2 = W.mark();
    const sentBad = await T2.eval(([s, w]) => {
      let n = 0;
      for (let i = 0; i < 10; i++) {
        if (window.n2n.node.sendRawTo(s, new Uint8Array([1, 99, i]))) n++;
        if (window.n2n.node.sendRawTo(w, new Uint8Array([7, 2, 1, 112]))) n++;
      }
      return n;
    }, [S.id, W.id]);
    check(sentBad === 20, "tab2 sent 10 malformed frames each to str0m and webrtc-rs");
    check(!!(await S.waitFor(new RegExp(`^arc closed \\w+ ${T2.id}.*protocol`), STEP_MS, mark)), "str0m cut tab2 off (protocol violation)");
    check(!!(await W.waitFor(new RegExp(`^arc closed \\w+ ${T2.id}.*protocol`), STEP_MS, wm2)), "webrtc-rs cut tab2 off (protocol violation)");
    check(
      await T2.until(([s, w]) => !window.n2n.node.neighbours().includes(s) && !window.n2n.node.neighbours().includes(w), [S.id, W.id]),
      "tab2 lost its connections to str0m and webrtc-rs",
    );
    mark = S.mark();
    await T1.send(S.id, "still here");
    S.send("after the cut");
    check(!!(await S.waitFor(new RegExp(`^message from ${T1.id}: still here$`), STEP_MS, mark)), "str0m still hears tab1");
    check(await T1.gotFrom(S.id, "after the cut"), "tab1 still hears str0m");
    check(!!(await W.waitFor(new RegExp(`^message from ${S.id}: after the cut$`), STEP_MS, wm2)), "webrtc-rs still hears str0m");
    check(await T1.until((p) => window.n2n.node.neighbours().includes(p), T2.id), "tab1 keeps its connection to tab2");

    // Setup times: fresh tabs, every kind of pair, E2E_ROUNDS times.
    const rounds = Number(process.env.E2E_ROUNDS ?? 2);
    for (let i = 0; i < rounds; i++) await round(browser, base, T1, S, W, i);

    for (const p of [S, W]) p.send("/quit");
  } finally {
    await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

/** One round of setup-time samples with three fresh tabs X, Y, Z. */
async function round(browser, base, T1, S, W, i) {
  const X = await openTab(browser, base, `x${i}`, T1.id);
  timing("browser -> browser", "direct (server)", X.joinMs);
  const Y = await openTab(browser, base, `y${i}`, S.id);
  timing("browser -> str0m", "direct (server)", Y.joinMs);
  const Z = await openTab(browser, base, `z${i}`, W.id);
  timing("browser -> webrtc-rs", "direct (server)", Z.joinMs);
  const tabBridge = async (from, to, kind) => {
    const r = await T1.connect(from.id, to.id);
    if (check(!r.error, `round ${i}: tab1 bridges ${from.name} -> ${to.name} ${r.error ?? ""}`)) timing(kind, "bridged by a tab", r.ms);
  };
  const rustBridge = async (bridge, from, to, kind) => {
    const mark = bridge.mark();
    bridge.send(`/bridge ${from.id} ${to.id}`);
    const b = await bridge.waitFor(/^bridged \S+ -> \S+ in ([\d.]+) ms|^error: (.*)/, STEP_MS, mark);
    if (check(!!b?.[1], `round ${i}: ${bridge.name} bridges ${from.name} -> ${to.name} ${b?.[2] ?? ""}`))
      timing(kind, `bridged by ${bridge.name}`, Number(b[1]));
  };
  await tabBridge(X, S, "browser -> str0m");
  await tabBridge(X, W, "browser -> webrtc-rs");
  await rustBridge(S, Y, T1, "browser -> browser");
  await rustBridge(W, Z, T1, "browser -> browser");
  await tabBridge(X, Y, "browser -> browser");
  await tabBridge(W, Y, "webrtc-rs -> browser");
  await tabBridge(S, Z, "str0m -> browser");
  for (const t of [X, Y, Z]) await t.page.close();
}

const deadline = setTimeout(() => {
  console.log("FAIL the end-to-end test did not finish in time");
  failed++;
  finish();
}, 240_000 + 20_000 * Number(process.env.E2E_ROUNDS ?? 2));

function finish() {
  clearTimeout(deadline);
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  if (process.env.E2E_RESULTS) writeFileSync(process.env.E2E_RESULTS, JSON.stringify({ timings }, null, 2));
  // Medians per kind of pair and way of setting up.
  const groups = new Map();
  for (const t of timings) {
    const k = `${t.kind} | ${t.how}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(t.ms);
  }
  console.log("| pair | how | runs | median ms | min | max |\n|---|---|---:|---:|---:|---:|");
  for (const [k, v] of [...groups].sort()) {
    v.sort((a, b) => a - b);
    const [kind, how] = k.split(" | ");
    console.log(`| ${kind} | ${how} | ${v.length} | ${v[Math.floor(v.length / 2)].toFixed(1)} | ${v[0].toFixed(1)} | ${v[v.length - 1].toFixed(1)} |`);
  }
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main()
  .catch((e) => {
    console.log(`FAIL ${e?.stack ?? e}`);
    failed++;
  })
  .finally(finish);

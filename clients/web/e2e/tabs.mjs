// Browser tabs only (no Rust peer): three tabs join, bridge, exchange
// messages and see a close. For checking the client alone (for example
// while the Rust backends and the client speak different wire versions).
//   unshare -n sh -c 'ip link set lo up; node e2e/tabs.mjs'
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const N2N = process.env.N2N_BIN ?? join(root, "target/debug/n2n");
let passed = 0, failed = 0;
const check = (ok, what) => { ok ? passed++ : failed++; console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };

const server = spawn(N2N, ["signal", "--listen", "127.0.0.1:0", "--observe-all", "--rate", "1000"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((res) => createInterface({ input: server.stdout }).on("line", (l) => { const m = l.match(/^listening on (ws:\/\/\S+)$/); if (m) res(m[1]); }));
const base = url.replace(/^ws:/, "http:").replace(/\/$/, "");
const profile = mkdtempSync(join(tmpdir(), "n2n-chromium-"));
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, userDataDir: profile,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-loopback-in-peer-connection", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] });
const tab = async (contact) => {
  const page = await browser.newPage();
  if (process.env.E2E_VERBOSE) page.on("console", (m) => console.log(`[console] ${m.text()}`));
  await page.goto(`${base}/?ips=1&room=tabs${contact ? `&contact=${contact}` : ""}`);
  await page.waitForFunction(() => window.n2n?.joined !== null, { timeout: 20000 });
  return { page, id: await page.evaluate(() => window.n2n.node.id) };
};
const until = (t, f, arg) => t.page.waitForFunction(f, { timeout: 20000, polling: 50 }, arg).then(() => true, () => false);
try {
  const a = await tab();
  const b = await tab(a.id);
  check(await until(a, (p) => window.n2n.handle.inview().has(p), b.id), "b -> a via the server");
  const c = await tab(b.id);
  check(await until(b, (p) => window.n2n.handle.inview().has(p), c.id), "c -> b via the server");
  const r = await b.page.evaluate(async (x, y) => { try { await window.n2n.handle.connect(x, y); return "ok"; } catch (e) { return String(e); } }, c.id, a.id);
  check(r === "ok", `b bridges c -> a: ${r}`);
  check(await until(a, (p) => window.n2n.handle.inview().has(p), c.id), "a sees the arc from c");
  await c.page.evaluate((p) => window.n2n.handle.send(p, new Uint8Array(150000).fill(7)), a.id);
  check(await until(a, (p) => window.n2n.messages.some((m) => m.peer === p && m.bytes === 150000), c.id), "a got c's 150000-byte message");
  const stats = await a.page.evaluate(() => window.n2n.node.stats);
  check(stats.forgedSignals === 0 && stats.tampered === 0, `no forged signal, no tampered connection (${JSON.stringify(stats)})`);
  await c.page.close();
  check(await until(a, (p) => window.n2n.events.some((e) => e.type === "arcClosed" && e.peer === p), c.id), "a sees c's arcs closed");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  server.kill();
}
console.log(`tabs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

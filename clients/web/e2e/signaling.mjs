// The TypeScript signaling client (compiled by `npm run build:test`) against
// a real server: join (signed, version 2, or version 1 when the server sends
// no challenge), contact, a signal relayed both ways, an error for a peer not
// in the room. Node 20: run with --experimental-websocket.
//   node --experimental-websocket e2e/signaling.mjs [server binary and args...]
// Default server: target/debug/n2n signal --listen 127.0.0.1:0
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { SignalingClient } from "../build/src/signaling.js";
import { Identity } from "../build/src/identity.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const [bin, ...args] = process.argv.length > 2 ? process.argv.slice(2) : [join(root, "target/debug/n2n"), "signal", "--listen", "127.0.0.1:0"];
let passed = 0, failed = 0;
const check = (ok, what) => { ok ? passed++ : failed++; console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };
const server = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
const url = await new Promise((res, rej) => {
  const t = setTimeout(() => rej(new Error("no server")), 20000);
  for (const s of [server.stdout, server.stderr])
    createInterface({ input: s }).on("line", (l) => { const m = l.match(/(ws:\/\/[0-9.:]+\/)/); if (m) { clearTimeout(t); res(m[1]); } });
});
try {
  const [ia, ib] = [await Identity.generate(), await Identity.generate()];
  const a = await SignalingClient.connect(url);
  const b = await SignalingClient.connect(url);
  check((await a.join("r", ia.id, (m) => ia.sign(m))) === 0, `a joins first (protocol version ${a.version})`);
  check((await b.join("r", ib.id, (m) => ib.sign(m))) === 1, "b joins, one other member");
  check((await b.requestContact()) === ia.id, "b gets a as contact");
  const got = new Promise((res) => { a.onSignal = res; });
  const env = { handshake: "00000000000004d2", from: ib.id, to: ia.id, protocol: "n2n-chat", seq: 0, signature: "ab".repeat(64), signal: { type: "offer", sdp: "v=0\r\n" } };
  b.signal(ia.id, env);
  const e = await got;
  check(e.from === ib.id && e.handshake === env.handshake && e.signal.sdp === "v=0\r\n" && e.seq === 0 && e.signature === env.signature, "a receives b's envelope as sent");
  const back = new Promise((res) => { b.onSignal = res; });
  a.signal(ib.id, { ...env, from: ia.id, to: ib.id, signal: { type: "answer", sdp: "v=0\r\n" } });
  check((await back).signal.type === "answer", "b receives a's answer");
  const err = new Promise((res) => { b.onError = (code) => res(code); });
  b.signal("cd".repeat(32), { ...env, to: "cd".repeat(32) });
  check((await err) === "unknown_peer", "a signal to a peer not in the room: unknown_peer");
  // A forged join: c claims a's id without a's key.
  const ic = await Identity.generate();
  const c = await SignalingClient.connect(url);
  let forged;
  try { await c.join("r", ia.id, (m) => ic.sign(m)); forged = "accepted"; } catch (e) { forged = e.code; }
  if (c.version === 2) check(forged === "bad_signature", `a join with someone else's id: ${forged}`);
  else check(forged === "duplicate_peer", `version 1 server: a second join with a's id: ${forged}`);
  for (const x of [a, b, c]) x.close();
} catch (e) {
  check(false, String(e?.stack ?? e));
} finally {
  server.kill();
}
console.log(`signaling: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

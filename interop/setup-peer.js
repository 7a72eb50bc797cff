#!/usr/bin/env node
// Many WebRTC connections on one independent stack, for setup-time
// measurements (transport-webrtcrs/examples/interop_setup.rs). Stacks:
//   wrtc       libwebrtc (npm @roamhq/wrtc)
//   ndc        libdatachannel (npm node-datachannel, its W3C polyfill)
//   chromium   Chromium (Debian's /usr/bin/chromium, or $CHROMIUM), driven
//              by npm puppeteer-core; the connections live in one page
//
// Usage:
//   node setup-peer.js STACK serve
//     One line of JSON per message, each tagged with a connection "id":
//     stdin  <- {"id":N,"type":"offer"|"answer","sdp":...}
//               {"id":N,"type":"candidate","candidate":...,"sdpMid":"0","sdpMLineIndex":0}
//               {"id":N,"type":"endOfCandidates"}
//               {"id":N,"type":"start"}   this side makes the channel and the offer
//               {"id":N,"type":"close"}   close and forget connection N
//     stdout -> {"event":"ready"} once (the stack is loaded), then signals
//               in the same shapes (tagged with "id", exactly as the stack
//               gives them) and {"id":N,"event":"open"} when connection N's
//               data channel is open; {"event":"error","message":...}.
//   node setup-peer.js STACK self N
//     The stack's own setup time: N times, two peer connections of this
//     stack in one process (one page for Chromium) open a data channel,
//     candidates trickled between them directly. Prints
//     {"event":"self","ms":[...]}: from creating the two connections until
//     the channel is open on both sides.
//
// Run inside a loopback-only network namespace (the stacks gather on every
// interface they see): `unshare -n sh -c 'ip link set lo up; ...'`.
'use strict';

const readline = require('readline');

const [stack, mode, count] = process.argv.slice(2);
if (!['wrtc', 'ndc', 'chromium'].includes(stack) || !['serve', 'self'].includes(mode)) {
  process.stderr.write('usage: node setup-peer.js wrtc|ndc|chromium serve|self [N]\n');
  process.exit(64);
}

function out(obj) {
  trace('out', obj.type ?? obj.event, obj.id);
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// N2N_SETUP_TRACE=1: timestamped lines on stderr (UTC, microseconds, as
// the Rust side's tracing logs) for what this process receives and
// sends, and libdatachannel's own log (ndc), to line up with a trace of
// the other side.
const TRACE = process.env.N2N_SETUP_TRACE === '1';
function stamp() {
  const t = performance.timeOrigin + performance.now();
  const us = Math.floor((t % 1000) * 1000);
  return new Date(Math.floor(t)).toISOString().slice(0, 19) + '.' + String(us).padStart(6, '0') + 'Z';
}
function trace(...what) {
  if (TRACE) process.stderr.write(`${stamp()} JS ${stack} ${what.map((w) => (typeof w === 'string' ? w : JSON.stringify(w))).join(' ')}\n`);
}

function fail(err) {
  out({ event: 'error', message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

// The peer logic, written once for Node and the page: `Pc` is the stack's
// RTCPeerConnection, `config` its configuration, `emit` takes an object
// for stdout, `log` traces (N2N_SETUP_TRACE). Chromium gets it as
// source text, so it uses nothing from the enclosing module.
function peerLogic(Pc, config, emit, log = () => {}) {
  const conns = new Map();
  const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

  function connection(id) {
    let c = conns.get(id);
    if (c) return c;
    const pc = new Pc(config);
    c = { pc, haveRemote: false, early: [], chain: Promise.resolve(), opened: false };
    conns.set(id, c);
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        emit({ id, type: 'candidate', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex });
      } else {
        emit({ id, type: 'endOfCandidates' });
      }
    };
    c.wire = (dc) => {
      c.dc = dc;
      const open = () => {
        if (!c.opened) {
          c.opened = true;
          emit({ id, event: 'open' });
        }
      };
      dc.onopen = open;
      if (dc.readyState === 'open') open();
    };
    pc.ondatachannel = (e) => c.wire(e.channel);
    return c;
  }

  async function add(c, init) {
    // libdatachannel's polyfill can report "Got a remote candidate without
    // ICE transport" for a moment after setRemoteDescription resolved:
    // try again briefly before giving up.
    for (let attempt = 0; ; attempt++) {
      try {
        await c.pc.addIceCandidate(init);
        return;
      } catch (err) {
        log('addIceCandidate failed', attempt, String(err));
        if (attempt < 50 && String(err).includes('without ICE transport')) {
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        emit({ event: 'warning', message: `addIceCandidate failed: ${err}` });
        return;
      }
    }
  }

  async function apply(id, msg) {
    log('in', msg.type, id);
    const c = connection(id);
    const pc = c.pc;
    switch (msg.type) {
      case 'start': {
        c.wire(pc.createDataChannel('n2n'));
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        emit({ id, type: 'offer', sdp: pc.localDescription.sdp });
        return;
      }
      case 'offer': {
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        c.haveRemote = true;
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        emit({ id, type: 'answer', sdp: pc.localDescription.sdp });
        break;
      }
      case 'answer':
        await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        c.haveRemote = true;
        break;
      case 'candidate': {
        const init = { candidate: msg.candidate, sdpMid: msg.sdpMid ?? '0', sdpMLineIndex: msg.sdpMLineIndex ?? 0 };
        if (c.haveRemote) await add(c, init);
        else c.early.push(init);
        break;
      }
      case 'close':
        conns.delete(id);
        try {
          pc.close();
        } catch (err) {
          /* already closed */
        }
        return;
      default:
        return;
    }
    if (c.haveRemote) {
      while (c.early.length) await add(c, c.early.shift());
    }
  }

  // Messages of one connection are applied in order; connections interleave.
  function handle(msg) {
    const c = msg.type === 'close' ? conns.get(msg.id) : connection(msg.id);
    if (!c) return;
    c.chain = c.chain.then(() => apply(msg.id, msg)).catch((err) => emit({ event: 'error', message: String(err && err.stack ? err.stack : err) }));
  }

  // Two connections of this stack in one process: the stack's own setup.
  function selfOnce() {
    return new Promise((resolve, reject) => {
      const t0 = now();
      const a = new Pc(config);
      const b = new Pc(config);
      let openA = false;
      let openB = false;
      const done = () => {
        if (openA && openB) {
          const ms = now() - t0;
          setTimeout(() => {
            a.close();
            b.close();
          }, 10);
          resolve(ms);
        }
      };
      // Candidates wait for the receiver's remote description, as in
      // the serve mode.
      const early = new Map([[a, []], [b, []]]);
      const ready = new Set();
      const give = (to, cand) => to.addIceCandidate(cand).catch(() => {});
      const trickle = (to) => (e) => {
        if (!(e.candidate && e.candidate.candidate)) return;
        const init = { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid ?? '0', sdpMLineIndex: e.candidate.sdpMLineIndex ?? 0 };
        if (ready.has(to)) give(to, init);
        else early.get(to).push(init);
      };
      const described = (pc) => {
        ready.add(pc);
        for (const init of early.get(pc).splice(0)) give(pc, init);
      };
      a.onicecandidate = trickle(b);
      b.onicecandidate = trickle(a);
      const dc = a.createDataChannel('n2n');
      const onA = () => {
        openA = true;
        done();
      };
      dc.onopen = onA;
      b.ondatachannel = (e) => {
        const onB = () => {
          openB = true;
          done();
        };
        e.channel.onopen = onB;
        if (e.channel.readyState === 'open') onB();
      };
      (async () => {
        const offer = await a.createOffer();
        await a.setLocalDescription(offer);
        await b.setRemoteDescription({ type: 'offer', sdp: a.localDescription.sdp });
        described(b);
        const answer = await b.createAnswer();
        await b.setLocalDescription(answer);
        await a.setRemoteDescription({ type: 'answer', sdp: b.localDescription.sdp });
        described(a);
      })().catch(reject);
      setTimeout(() => reject(new Error('same-stack setup did not finish in 10 s')), 10000);
    });
  }

  async function self(n) {
    const ms = [];
    for (let i = 0; i < n; i++) {
      ms.push(await selfOnce());
      await new Promise((r) => setTimeout(r, 20));
    }
    return ms;
  }

  return { handle, self };
}

// libdatachannel (libjuice) gathers no loopback candidate unless bound to it.
function pcConfig() {
  return stack === 'ndc' ? { iceServers: [], bindAddress: '127.0.0.1' } : { iceServers: [] };
}

async function nodeStack() {
  if (stack === 'wrtc') return require('@roamhq/wrtc').RTCPeerConnection;
  if (TRACE) require('node-datachannel').initLogger('Verbose', (level, msg) => trace('ndc', level, msg));
  const polyfill = require('node-datachannel/polyfill');
  return polyfill.RTCPeerConnection;
}

// Chromium: a page served on 127.0.0.1 (a secure context) that has the
// fake microphone permission, so host candidates carry plain addresses.
async function chromiumStack() {
  const puppeteer = require('puppeteer-core');
  const http = require('http');
  const os = require('os');
  const fs = require('fs');
  const path = require('path');
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>setup-peer</title>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'n2n-setup-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
    ],
  });
  const cleanup = async () => {
    await browser.close().catch(() => {});
    server.close();
    try {
      fs.rmSync(profile, { recursive: true, force: true });
    } catch (err) {
      /* Chromium may still be writing its profile: leave it to tmp cleaning */
    }
  };
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.exposeFunction('__emit', (obj) => out(obj));
  await page.evaluate(async (src) => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((t) => t.stop());
    // eslint-disable-next-line no-new-func
    const logic = new Function(`return (${src})`)();
    window.__peers = logic(RTCPeerConnection, { iceServers: [] }, (o) => window.__emit(o));
  }, peerLogic.toString());
  return {
    handle: (msg) => page.evaluate((m) => window.__peers.handle(m), msg).catch(fail),
    self: (n) => page.evaluate((k) => window.__peers.self(k), n),
    cleanup,
  };
}

// Two libdatachannel connections through its native API.
function ndcSelfOnce(ndc) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const cfg = { iceServers: [], bindAddress: '127.0.0.1' };
    const a = new ndc.PeerConnection('a', cfg);
    const b = new ndc.PeerConnection('b', cfg);
    let openA = false;
    let openB = false;
    let keep;
    const done = () => {
      if (openA && openB) {
        const ms = performance.now() - t0;
        setTimeout(() => {
          a.close();
          b.close();
        }, 10);
        resolve(ms);
      }
    };
    a.onLocalDescription((sdp, type) => b.setRemoteDescription(sdp, type));
    b.onLocalDescription((sdp, type) => a.setRemoteDescription(sdp, type));
    a.onLocalCandidate((c, mid) => b.addRemoteCandidate(c, mid));
    b.onLocalCandidate((c, mid) => a.addRemoteCandidate(c, mid));
    b.onDataChannel((dc) => {
      keep = dc;
      const onB = () => {
        openB = true;
        done();
      };
      if (dc.isOpen()) onB();
      else dc.onOpen(onB);
    });
    const dc = a.createDataChannel('n2n');
    dc.onOpen(() => {
      openA = true;
      done();
    });
    setTimeout(() => reject(new Error(`same-stack setup did not finish in 10 s ${keep ? '' : '(no channel at b)'}`)), 10000);
  });
}

async function ndcSelf(n) {
  const ndc = require('node-datachannel');
  const ms = [];
  for (let i = 0; i < n; i++) {
    ms.push(await ndcSelfOnce(ndc));
    await new Promise((r) => setTimeout(r, 20));
  }
  return ms;
}

async function main() {
  let peers;
  if (stack === 'chromium') {
    peers = await chromiumStack();
  } else {
    peers = peerLogic(await nodeStack(), pcConfig(), out, trace);
    peers.cleanup = async () => {};
  }
  if (mode === 'self') {
    const n = Number(count) || 20;
    // libdatachannel's own API (its W3C polyfill mishandles two of its
    // connections negotiating in one process).
    const ms = stack === 'ndc' ? await ndcSelf(n) : await peers.self(n);
    out({ event: 'self', stack, ms });
    await peers.cleanup();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  out({ event: 'ready', stack });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      fail(`bad JSON on stdin: ${line}`);
      return;
    }
    peers.handle(msg);
  });
  rl.on('close', async () => {
    await peers.cleanup();
    setTimeout(() => process.exit(0), 200);
  });
}

main().catch(fail);

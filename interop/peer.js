#!/usr/bin/env node
// A libwebrtc peer (npm @roamhq/wrtc: Google's libwebrtc for Node) that
// speaks n2n-overlay's browser-shaped JSON signals, one per line:
//   stdin  <- the Rust side's signals:
//             {"type":"offer"|"answer","sdp":"..."}
//             {"type":"candidate","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}
//             {"type":"endOfCandidates"}
//   stdout -> this peer's signals (same shapes, exactly what the browser
//             API gives: candidates trickled one by one, then
//             endOfCandidates), and events: {"event":"open"},
//             {"event":"closed"}, {"event":"error","message":"..."}.
// The one data channel echoes every message back unchanged (binary).
//
// Usage: node peer.js offer|answer
//   offer:  creates the data channel and the offer (like a browser that dials)
//   answer: waits for an offer; takes the channel the offer carries
// Exits 0 when the channel closes after having opened, 1 on error, 2 if
// the stdin ends first (the Rust side went away).
//
// Run it inside a loopback-only network namespace (libwebrtc gathers on
// every interface it sees): `unshare -n sh -c 'ip link set lo up; ...'`.
'use strict';

const readline = require('readline');
const { RTCPeerConnection } = require('@roamhq/wrtc');

const role = process.argv[2];
if (role !== 'offer' && role !== 'answer') {
  process.stderr.write('usage: node peer.js offer|answer\n');
  process.exit(64);
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(err) {
  emit({ event: 'error', message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

const pc = new RTCPeerConnection({ iceServers: [] });
let opened = false;
let haveRemote = false;
const early = []; // candidates that came before the remote description

pc.onicecandidate = (e) => {
  if (e.candidate && e.candidate.candidate) {
    emit({
      type: 'candidate',
      candidate: e.candidate.candidate,
      sdpMid: e.candidate.sdpMid,
      sdpMLineIndex: e.candidate.sdpMLineIndex,
    });
  } else {
    emit({ type: 'endOfCandidates' });
  }
};

function wire(dc) {
  dc.binaryType = 'arraybuffer';
  dc.onopen = () => {
    opened = true;
    emit({ event: 'open' });
  };
  dc.onmessage = (m) => {
    try {
      dc.send(m.data);
    } catch (err) {
      fail(err);
    }
  };
  dc.onclose = () => {
    emit({ event: 'closed' });
    setTimeout(() => process.exit(opened ? 0 : 1), 50);
  };
}

pc.ondatachannel = (e) => wire(e.channel);

async function addCandidate(init) {
  try {
    await pc.addIceCandidate(init);
  } catch (err) {
    process.stderr.write(`addIceCandidate(${JSON.stringify(init)}) failed: ${err}\n`);
  }
}

async function onSignal(msg) {
  switch (msg.type) {
    case 'offer': {
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      haveRemote = true;
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      emit({ type: 'answer', sdp: pc.localDescription.sdp });
      break;
    }
    case 'answer':
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      haveRemote = true;
      break;
    case 'candidate':
    case 'endOfCandidates':
      break;
    default:
      process.stderr.write(`ignoring ${JSON.stringify(msg)}\n`);
      return;
  }
  if (msg.type === 'candidate') {
    const init = { candidate: msg.candidate, sdpMid: msg.sdpMid ?? '0', sdpMLineIndex: msg.sdpMLineIndex ?? 0 };
    if (haveRemote) await addCandidate(init);
    else early.push(init);
  }
  if (haveRemote) {
    while (early.length) await addCandidate(early.shift());
  }
}

let chain = Promise.resolve();
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
  chain = chain.then(() => onSignal(msg)).catch(fail);
});
rl.on('close', () => {
  setTimeout(() => process.exit(opened ? 0 : 2), 100);
});

if (role === 'offer') {
  wire(pc.createDataChannel('n2n-overlay'));
  chain = chain
    .then(async () => {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      emit({ type: 'offer', sdp: pc.localDescription.sdp });
    })
    .catch(fail);
}

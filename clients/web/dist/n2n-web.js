var __defProp = Object.defineProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// src/wire.ts
var wire_exports = {};
__export(wire_exports, {
  DecodeError: () => DecodeError,
  Failure: () => Failure,
  HEADER_LEN: () => HEADER_LEN,
  Kind: () => Kind,
  MAX_BUNDLE: () => MAX_BUNDLE,
  MAX_FRAME: () => MAX_FRAME,
  MAX_MESSAGE: () => MAX_MESSAGE,
  MAX_SIGNAL_SEQ: () => MAX_SIGNAL_SEQ,
  Reassembler: () => Reassembler,
  VERSION: () => VERSION,
  decode: () => decode,
  encode: () => encode,
  failureName: () => failureName,
  fingerprintFromSdp: () => fingerprintFromSdp,
  fromHex: () => fromHex,
  helloTranscript: () => helloTranscript,
  isPeerHex: () => isPeerHex,
  isProtocol: () => isProtocol,
  messageFrames: () => messageFrames,
  parseSignal: () => parseSignal,
  parseSignals: () => parseSignals,
  randomU64Hex: () => randomU64Hex,
  signalFromValue: () => signalFromValue,
  signalJson: () => signalJson,
  signalTranscript: () => signalTranscript,
  toHex: () => toHex
});
var VERSION = 2;
var MAX_SIGNAL_SEQ = 255;
var HEADER_LEN = 2;
var MAX_FRAME = 65536;
var MAX_MESSAGE = 1 << 20;
var Kind = {
  HELLO: 1,
  DATA: 2,
  DATA_START: 3,
  DATA_CONT: 4,
  ARC_ADD: 5,
  ARC_REMOVE: 6,
  CONNECT_TO: 7,
  CONNECT_DONE: 8,
  FORWARD: 9,
  FORWARDED: 10,
  FORWARD_FAILED: 11,
  REFUSE: 12,
  REFUSED: 13
};
var Failure = {
  notNeighbour: 1,
  selfConnection: 2,
  timeout: 3,
  connectionLost: 4,
  transport: 5,
  busy: 6,
  tampered: 7,
  other: 255
};
function failureName(code) {
  for (const [k, v] of Object.entries(Failure)) if (v === code) return k;
  return "other";
}
var DecodeError = class extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
    this.name = "DecodeError";
  }
};
function toHex(b) {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
function fromHex(s) {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error(`not hex: ${s.slice(0, 20)}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function isPeerHex(s) {
  return typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
}
function isProtocol(s) {
  if (s.length < 1 || s.length > 31) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}
function randomU64Hex() {
  return toHex(crypto.getRandomValues(new Uint8Array(8)));
}
var utf8 = new TextEncoder();
var utf8d = new TextDecoder("utf-8", { fatal: true });
var Writer = class {
  parts = [];
  chunks = [];
  u8(v) {
    this.parts.push(v & 255);
    return this;
  }
  u16(v) {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v) {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  u64hex(h) {
    return this.bytes(fromHex(h.padStart(16, "0")));
  }
  bytes(b) {
    this.flush();
    this.chunks.push(b);
    return this;
  }
  protocol(p) {
    if (!isProtocol(p)) throw new Error(`invalid protocol id ${JSON.stringify(p)}: 1 to 31 printable ASCII characters`);
    this.u8(p.length);
    return this.bytes(utf8.encode(p));
  }
  flush() {
    if (this.parts.length) {
      this.chunks.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }
  finish() {
    this.flush();
    const n = this.chunks.reduce((a, c) => a + c.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
};
function signalJson(s) {
  switch (s.type) {
    case "offer":
    case "answer":
      return JSON.stringify({ type: s.type, sdp: s.sdp });
    case "candidate": {
      const o = { type: "candidate", candidate: s.candidate };
      if (s.sdpMid !== void 0 && s.sdpMid !== null) o.sdpMid = s.sdpMid;
      if (s.sdpMLineIndex !== void 0 && s.sdpMLineIndex !== null) o.sdpMLineIndex = s.sdpMLineIndex;
      return JSON.stringify(o);
    }
    case "endOfCandidates":
      return JSON.stringify({ type: "endOfCandidates" });
  }
}
function encode(f) {
  const w = new Writer().u8(VERSION);
  switch (f.type) {
    case "hello":
      w.u8(Kind.HELLO).u64hex(f.handshake).bytes(fromHex(f.peer)).bytes(f.signature).u16(f.arcs.length);
      for (const [p, n] of f.arcs) w.protocol(p).u32(n);
      break;
    case "data":
      w.u8(Kind.DATA).protocol(f.protocol).bytes(f.payload);
      break;
    case "dataStart":
      w.u8(Kind.DATA_START).protocol(f.protocol).u32(f.totalLen).bytes(f.chunk);
      break;
    case "dataCont":
      w.u8(Kind.DATA_CONT).bytes(f.chunk);
      break;
    case "arcAdd":
    case "arcRemove":
      w.u8(f.type === "arcAdd" ? Kind.ARC_ADD : Kind.ARC_REMOVE).protocol(f.protocol).u32(f.count);
      break;
    case "connectTo":
      w.u8(Kind.CONNECT_TO).u64hex(f.op).protocol(f.protocol).bytes(fromHex(f.to)).u32(f.count);
      break;
    case "connectDone":
      w.u8(Kind.CONNECT_DONE).u64hex(f.op).u8(f.failure === null ? 0 : Failure[f.failure]);
      break;
    case "forward":
    case "forwarded":
      w.u8(f.type === "forward" ? Kind.FORWARD : Kind.FORWARDED).u64hex(f.handshake).bytes(fromHex(f.type === "forward" ? f.to : f.origin)).u32(f.seq).bytes(f.signature).bytes(utf8.encode(f.more.length === 0 ? signalJson(f.signal) : `[${[f.signal, ...f.more].map(signalJson).join(",")}]`));
      break;
    case "forwardFailed":
      w.u8(Kind.FORWARD_FAILED).u64hex(f.handshake).u8(Failure[f.reason]);
      break;
    case "refuse":
    case "refused":
      w.u8(f.type === "refuse" ? Kind.REFUSE : Kind.REFUSED).u64hex(f.handshake).bytes(fromHex(f.type === "refuse" ? f.to : f.origin)).u8(Failure[f.reason]);
      break;
  }
  return w.finish();
}
var Reader = class {
  constructor(b) {
    this.b = b;
  }
  pos = 0;
  need(n) {
    if (this.pos + n > this.b.length) throw new DecodeError("truncated", "frame truncated");
  }
  u8() {
    this.need(1);
    return this.b[this.pos++];
  }
  u16() {
    return this.u8() << 8 | this.u8();
  }
  u32() {
    return (this.u8() << 24 >>> 0) + (this.u8() << 16) + (this.u8() << 8) + this.u8();
  }
  take(n) {
    this.need(n);
    const s = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  u64hex() {
    return toHex(this.take(8));
  }
  peer() {
    return toHex(this.take(32));
  }
  protocol() {
    const n = this.u8();
    if (n < 1 || n > 31) throw new DecodeError("badProtocol", "invalid protocol id");
    const raw = this.take(n);
    for (const c of raw) if (c < 33 || c > 126) throw new DecodeError("badProtocol", "invalid protocol id");
    return String.fromCharCode(...raw);
  }
  rest() {
    const s = this.b.slice(this.pos);
    this.pos = this.b.length;
    return s;
  }
  end() {
    if (this.pos !== this.b.length) throw new DecodeError("trailing", "trailing bytes after frame body");
  }
};
var MAX_BUNDLE = 16;
function parseSignal(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new DecodeError("badSignal", "invalid signal JSON");
  }
  return signalFromValue(v);
}
function parseSignals(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new DecodeError("badSignal", "invalid signal JSON");
  }
  if (!Array.isArray(v)) return [signalFromValue(v), []];
  if (v.length === 0 || v.length > MAX_BUNDLE) throw new DecodeError("badSignal", "invalid signal JSON");
  const [first, ...more] = v.map(signalFromValue);
  if (first === void 0) throw new DecodeError("badSignal", "invalid signal JSON");
  return [first, more];
}
function signalFromValue(v) {
  const bad = () => new DecodeError("badSignal", "invalid signal JSON");
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad();
  const o = v;
  switch (o.type) {
    case "offer":
    case "answer":
      if (typeof o.sdp !== "string") throw bad();
      return { type: o.type, sdp: o.sdp };
    case "candidate": {
      if (typeof o.candidate !== "string") throw bad();
      const mid = o.sdpMid;
      const idx = o.sdpMLineIndex;
      if (mid !== void 0 && mid !== null && typeof mid !== "string") throw bad();
      if (idx !== void 0 && idx !== null && !(Number.isInteger(idx) && idx >= 0 && idx <= 65535))
        throw bad();
      const s = { type: "candidate", candidate: o.candidate };
      if (typeof mid === "string") s.sdpMid = mid;
      if (typeof idx === "number") s.sdpMLineIndex = idx;
      return s;
    }
    case "endOfCandidates":
      return { type: "endOfCandidates" };
    default:
      throw bad();
  }
}
function decode(b, limit = MAX_FRAME) {
  if (b.length > limit) throw new DecodeError("tooLarge", `frame of ${b.length} bytes exceeds the limit of ${limit}`);
  const r = new Reader(b);
  const version = r.u8();
  if (version !== VERSION) throw new DecodeError("version", `unsupported wire version ${version}`);
  const ty = r.u8();
  switch (ty) {
    case Kind.HELLO: {
      const handshake = r.u64hex();
      const peer = r.peer();
      const signature = r.take(64);
      const n = r.u16();
      const arcs = [];
      for (let i = 0; i < n; i++) arcs.push([r.protocol(), r.u32()]);
      r.end();
      return { type: "hello", handshake, peer, signature, arcs };
    }
    case Kind.DATA:
      return { type: "data", protocol: r.protocol(), payload: r.rest() };
    case Kind.DATA_START: {
      const protocol = r.protocol();
      const totalLen = r.u32();
      return { type: "dataStart", protocol, totalLen, chunk: r.rest() };
    }
    case Kind.DATA_CONT:
      return { type: "dataCont", chunk: r.rest() };
    case Kind.ARC_ADD:
    case Kind.ARC_REMOVE: {
      const protocol = r.protocol();
      const count = r.u32();
      r.end();
      return { type: ty === Kind.ARC_ADD ? "arcAdd" : "arcRemove", protocol, count };
    }
    case Kind.CONNECT_TO: {
      const op = r.u64hex();
      const protocol = r.protocol();
      const to = r.peer();
      const count = r.u32();
      r.end();
      return { type: "connectTo", op, protocol, to, count };
    }
    case Kind.CONNECT_DONE: {
      const op = r.u64hex();
      const code = r.u8();
      r.end();
      return { type: "connectDone", op, failure: code === 0 ? null : failureName(code) };
    }
    case Kind.FORWARD:
    case Kind.FORWARDED: {
      const handshake = r.u64hex();
      const peer = r.peer();
      const seq = r.u32();
      const signature = r.take(64);
      let text;
      try {
        text = utf8d.decode(r.rest());
      } catch {
        throw new DecodeError("badSignal", "invalid signal JSON");
      }
      const [signal, more] = parseSignals(text);
      return ty === Kind.FORWARD ? { type: "forward", handshake, to: peer, seq, signature, signal, more } : { type: "forwarded", handshake, origin: peer, seq, signature, signal, more };
    }
    case Kind.FORWARD_FAILED: {
      const handshake = r.u64hex();
      const reason = failureName(r.u8());
      r.end();
      return { type: "forwardFailed", handshake, reason };
    }
    case Kind.REFUSE:
    case Kind.REFUSED: {
      const handshake = r.u64hex();
      const peer = r.peer();
      const reason = failureName(r.u8());
      r.end();
      return ty === Kind.REFUSE ? { type: "refuse", handshake, to: peer, reason } : { type: "refused", handshake, origin: peer, reason };
    }
    default:
      throw new DecodeError("unknownType", `unknown frame type ${ty}`);
  }
}
function helloTranscript(handshake, sender, receiver, senderFingerprint, receiverFingerprint) {
  if (senderFingerprint.length !== 32 || receiverFingerprint.length !== 32) throw new Error("a fingerprint is 32 bytes");
  return new Writer().bytes(utf8.encode("n2n-overlay/hello/v2")).u8(VERSION).u64hex(handshake).bytes(fromHex(sender)).bytes(fromHex(receiver)).bytes(senderFingerprint).bytes(receiverFingerprint).finish();
}
function signalTranscript(origin, destination, handshake, seq, first, more = []) {
  const w = new Writer().bytes(utf8.encode("n2n-overlay/signal/v2")).u8(VERSION).bytes(fromHex(origin)).bytes(destination ? fromHex(destination) : new Uint8Array(32)).u64hex(handshake).u32(seq);
  const long = (text) => {
    const b = utf8.encode(text);
    w.u32(b.length).bytes(b);
  };
  for (const s of [first, ...more]) {
    switch (s.type) {
      case "offer":
        w.u8(1);
        long(s.sdp);
        break;
      case "answer":
        w.u8(2);
        long(s.sdp);
        break;
      case "candidate": {
        w.u8(3);
        long(s.candidate);
        if (s.sdpMid === void 0 || s.sdpMid === null) w.u8(0);
        else {
          const m = utf8.encode(s.sdpMid).subarray(0, 65535);
          w.u8(1).u16(m.length).bytes(m);
        }
        if (s.sdpMLineIndex === void 0 || s.sdpMLineIndex === null) w.u8(0);
        else w.u8(1).u16(s.sdpMLineIndex);
        break;
      }
      case "endOfCandidates":
        w.u8(4);
        break;
    }
  }
  return w.finish();
}
function fingerprintFromSdp(sdp) {
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line.startsWith("a=fingerprint:")) continue;
    const value = line.slice("a=fingerprint:".length).trim();
    const sp = value.indexOf(" ");
    if (sp < 0 || value.slice(0, sp).toLowerCase() !== "sha-256") continue;
    const pairs = value.slice(sp + 1).trim().split(":");
    if (pairs.length !== 32 || !pairs.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) continue;
    return Uint8Array.from(pairs.map((p) => parseInt(p, 16)));
  }
  return null;
}
function messageFrames(protocol, payload, maxFrame = MAX_FRAME) {
  const dataOverhead = HEADER_LEN + 1 + protocol.length;
  if (payload.length + dataOverhead <= maxFrame) return [encode({ type: "data", protocol, payload })];
  const first = maxFrame - dataOverhead - 4;
  const out = [encode({ type: "dataStart", protocol, totalLen: payload.length, chunk: payload.subarray(0, first) })];
  for (let o = first; o < payload.length; o += maxFrame - HEADER_LEN)
    out.push(encode({ type: "dataCont", chunk: payload.subarray(o, Math.min(payload.length, o + maxFrame - HEADER_LEN)) }));
  return out;
}
var Reassembler = class {
  constructor(limit = MAX_MESSAGE) {
    this.limit = limit;
  }
  cur = null;
  /** A DATA frame: returns an error if it interrupted a message in progress. */
  whole() {
    const interrupted = this.cur !== null;
    this.cur = null;
    return interrupted ? "message interrupted by another" : null;
  }
  start(protocol, total, chunk) {
    const interrupted = this.cur !== null;
    this.cur = null;
    if (total > this.limit) return { error: `announced message of ${total} bytes exceeds the limit` };
    if (interrupted) return { error: "message interrupted by another" };
    this.cur = { protocol, total, parts: [], got: 0 };
    return this.cont(chunk);
  }
  cont(chunk) {
    const c = this.cur;
    if (!c) return { error: "continuation without a message in progress" };
    if (c.got + chunk.length > c.total) {
      this.cur = null;
      return { error: "more bytes than the message announced" };
    }
    c.parts.push(chunk);
    c.got += chunk.length;
    if (c.got < c.total) return {};
    this.cur = null;
    const out = new Uint8Array(c.total);
    let o = 0;
    for (const p of c.parts) {
      out.set(p, o);
      o += p.length;
    }
    return { message: [c.protocol, out] };
  }
};

// src/identity.ts
var ED = { name: "Ed25519" };
var PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
var Identity = class _Identity {
  constructor(id, privateKey) {
    this.id = id;
    this.privateKey = privateKey;
  }
  /** A fresh identity (WebCrypto Ed25519: Chromium 113+, Node 20). */
  static async generate() {
    const pair = await crypto.subtle.generateKey(ED, true, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return new _Identity(toHex(raw), pair.privateKey);
  }
  /** The identity of a 32-byte Ed25519 seed (tests, the shared vectors). */
  static async fromSeed(seed) {
    if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
    const pkcs8 = new Uint8Array(48);
    pkcs8.set(PKCS8_PREFIX);
    pkcs8.set(seed, 16);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, ED, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const x = jwk.x ?? "";
    const pub = Uint8Array.from(atob(x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    return new _Identity(toHex(pub), privateKey);
  }
  async sign(data) {
    return new Uint8Array(await crypto.subtle.sign(ED, this.privateKey, data));
  }
};
async function verify(peer, data, signature) {
  try {
    const key = await crypto.subtle.importKey("raw", fromHex(peer), ED, false, ["verify"]);
    return await crypto.subtle.verify(ED, key, signature, data);
  } catch {
    return false;
  }
}

// src/signaling.ts
var CHALLENGE_WAIT_MS = 1e3;
function joinProof(nonce, peer, room2) {
  const tag = new TextEncoder().encode("n2n-overlay signaling join v2");
  const name = new TextEncoder().encode(room2);
  if (nonce.length !== 32) throw new Error("a challenge nonce is 32 bytes");
  if (name.length < 1 || name.length > 64) throw new Error("a room name is 1 to 64 bytes of UTF-8");
  const out = new Uint8Array(tag.length + 32 + 32 + 1 + name.length);
  out.set(tag, 0);
  out.set(nonce, tag.length);
  out.set(fromHex(peer), tag.length + 32);
  out[tag.length + 64] = name.length;
  out.set(name, tag.length + 65);
  return out;
}
var SignalingError = class extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.name = "SignalingError";
  }
};
var SignalingClient = class _SignalingClient {
  constructor(ws) {
    this.ws = ws;
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => {
      for (const p of this.pending.values()) p.reject(new SignalingError("closed", `signaling connection closed (${ev.code})`));
      this.pending.clear();
      this.onClose(`closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`);
    };
  }
  nextId = 1;
  /** Protocol version spoken: 2 once the server sent its challenge. */
  version = 1;
  nonce = null;
  challenged = null;
  pending = /* @__PURE__ */ new Map();
  onSignal = () => {
  };
  onClose = () => {
  };
  onError = () => {
  };
  static connect(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new _SignalingClient(ws));
      ws.onerror = () => reject(new SignalingError("unreachable", `cannot reach the signaling server at ${url}`));
    });
  }
  onMessage(data) {
    if (typeof data !== "string") return;
    let f;
    try {
      const v = JSON.parse(data);
      if (typeof v !== "object" || v === null) return;
      f = v;
    } catch {
      return;
    }
    const id = typeof f.id === "number" ? f.id : void 0;
    const p = id !== void 0 ? this.pending.get(id) : void 0;
    if (p && id !== void 0) {
      this.pending.delete(id);
      if (f.type === "error") p.reject(new SignalingError(String(f.code), String(f.message)));
      else p.resolve(f);
      return;
    }
    if (f.type === "challenge" && typeof f.nonce === "string" && /^[0-9a-fA-F]{64}$/.test(f.nonce)) {
      this.version = 2;
      this.nonce = fromHex(f.nonce);
      this.challenged?.();
      return;
    }
    if (f.type === "signal" && typeof f.envelope === "object" && f.envelope !== null) {
      const e = f.envelope;
      const handshake = typeof e.handshake === "number" ? e.handshake.toString(16).padStart(16, "0") : e.handshake;
      const to = e.to === void 0 || e.to === null ? void 0 : e.to;
      if (typeof handshake === "string" && isPeerHex(e.from) && (to === void 0 || isPeerHex(to)) && typeof e.protocol === "string" && Number.isInteger(e.seq) && typeof e.signature === "string" && /^[0-9a-fA-F]{128}$/.test(e.signature) && typeof e.signal === "object" && e.signal !== null)
        this.onSignal({
          handshake: handshake.toLowerCase(),
          from: e.from,
          to,
          protocol: e.protocol,
          seq: e.seq,
          signature: e.signature.toLowerCase(),
          signal: e.signal,
          // A bundle's next signals, checked by the node with the signature.
          ...e.more === void 0 ? {} : { more: e.more }
        });
    } else if (f.type === "error") {
      this.onError(String(f.code), String(f.message));
    }
  }
  request(msg) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ v: this.version, id, ...msg }));
    });
  }
  /**
   * Join `room` as `peer`; resolves to how many other members it has. With a
   * version 2 server, `sign` proves the id (signs the join proof); `allowNamed`
   * lets other members ask for this one by id.
   */
  async join(room2, peer, sign, allowNamed = true) {
    if (!this.nonce) {
      await new Promise((resolve) => {
        this.challenged = resolve;
        setTimeout(resolve, CHALLENGE_WAIT_MS);
      });
      this.challenged = null;
    }
    const msg = { type: "join", room: room2, peer };
    if (this.nonce) {
      msg.signature = toHex(await sign(joinProof(this.nonce, peer, room2)));
      msg.allowNamed = allowNamed;
    }
    const r = await this.request(msg);
    return typeof r.members === "number" ? r.members : 0;
  }
  /** A contact (a random member, or `peer`), or null when alone. */
  async requestContact(peer) {
    const r = await this.request(peer ? { type: "requestContact", peer } : { type: "requestContact" });
    return r.type === "contact" && isPeerHex(r.peer) ? r.peer : null;
  }
  /** Relay a signal (errors arrive through onError, not awaited). */
  signal(to, envelope) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ v: this.version, type: "signal", id: this.nextId++, to, envelope }));
  }
  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }
  close() {
    this.ws.close(1e3, "bye");
  }
};

// src/node.ts
var ConnectError = class extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
    this.name = "ConnectError";
  }
};
var DEFAULTS = {
  pendingTimeout: 1e4,
  dyingTimeout: 6e4,
  maxBadFrames: 8,
  iceServers: [],
  maxEarlySignals: 64
};
var Conn = class {
  constructor(peer, handshake, role, via, protocol, pc) {
    this.peer = peer;
    this.handshake = handshake;
    this.role = role;
    this.via = via;
    this.protocol = protocol;
    this.pc = pc;
    this.remoteReady = new Promise((resolve) => {
      this.markRemoteSet = () => {
        this.remoteSet = true;
        resolve();
      };
    });
  }
  state = "handshaking";
  dc = null;
  out = /* @__PURE__ */ new Map();
  inn = /* @__PURE__ */ new Map();
  wants = [];
  helloSent = false;
  helloQueued = false;
  badFrames = 0;
  reassembler = new Reassembler(MAX_MESSAGE);
  chain = Promise.resolve();
  remoteSet = false;
  /** Resolves once the remote description is set (the HELLO needs its fingerprint). */
  remoteReady;
  markRemoteSet = () => {
  };
  /** Frames, handled in order (apart from the signals' chain: a HELLO may
   * arrive before the answer that carries the remote fingerprint). */
  frameChain = Promise.resolve();
  earlyCandidates = [];
  timer = null;
  started = performance.now();
  setupMs = null;
  sendQueue = [];
  /** Next sequence number of our signals in this handshake. */
  seqOut = 0;
  /** Sequence numbers of the remote's signals taken (replays are dropped). */
  seqIn = /* @__PURE__ */ new Set();
  /** Our signals, signed and sent in the order they were made. */
  outChain = Promise.resolve();
  /** A handshake beside an established connection with the same peer: it
   * replaces that one only when its HELLO checks out (WIRE.md v2). */
  shadow = false;
  get established() {
    return this.state === "living" || this.state === "dying";
  }
  get pending() {
    return this.state === "handshaking" || this.state === "opened";
  }
  arcTotal() {
    let n = 0;
    for (const v of this.out.values()) n += v;
    for (const v of this.inn.values()) n += v;
    return n;
  }
};
var ProtocolHandle2 = class {
  constructor(node, name) {
    this.node = node;
    this.name = name;
  }
  listeners = /* @__PURE__ */ new Set();
  /** Subscribe to this protocol's events; returns an unsubscribe function. */
  on(f) {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
  /** @internal */
  emit(e) {
    for (const f of this.listeners) {
      try {
        f(e);
      } catch (err) {
        console.error("event listener failed", err);
      }
    }
  }
  /**
   * Open arcs, as the Rust `ProtocolHandle::connect`: `connect(null, to)` one
   * more arc to neighbour `to`; `connect(from, null)` asks neighbour `from`
   * for an arc `from -> me`; `connect(from, to)` bridges `from` to `to`
   * (both neighbours). Lists connect every pair; one connection per pair.
   */
  async connect(from, to, count = 1) {
    const froms = from === null ? [null] : Array.isArray(from) ? from : [from];
    const tos = to === null ? [null] : Array.isArray(to) ? to : [to];
    const jobs = [];
    for (const f of froms) for (const t of tos) jobs.push(this.node.connectPair(this.name, f, t, count));
    await Promise.all(jobs);
  }
  /** Remove one arc to `peer` (the other end's inview follows). */
  disconnect(peer, count = 1) {
    this.node.removeArcs(this.name, peer, count);
  }
  /** Send a message (bytes or UTF-8 text, up to 1 MiB) to a neighbour. */
  send(peer, payload) {
    this.node.sendMessage(this.name, peer, typeof payload === "string" ? new TextEncoder().encode(payload) : payload);
  }
  inview() {
    return this.node.view(this.name, "in");
  }
  outview() {
    return this.node.view(this.name, "out");
  }
};
var OverlayNode = class _OverlayNode {
  constructor(identity, config) {
    this.identity = identity;
    this.id = identity.id;
    this.config = { ...DEFAULTS, ...config };
  }
  id;
  config;
  conns = /* @__PURE__ */ new Map();
  byHandshake = /* @__PURE__ */ new Map();
  early = [];
  /** Handshakes of the last accepted offers: a replayed offer is dropped. */
  recentHandshakes = [];
  /** Incoming signals are checked (async signatures) and applied in order. */
  inbound = Promise.resolve();
  protocols = /* @__PURE__ */ new Map();
  bridgeWaits = /* @__PURE__ */ new Map();
  signaling = null;
  /** Counters, for the page and the tests. */
  stats = { badFrames: 0, relayed: 0, droppedSignals: 0, forgedSignals: 0, replayedSignals: 0, tampered: 0, connectionsOpened: 0 };
  /** Called on any change of connections or arcs (the page redraws). */
  onChange = () => {
  };
  /** Log lines (the page's event log). */
  onLog = () => {
  };
  static async create(config = {}, identity) {
    return new _OverlayNode(identity ?? await Identity.generate(), config);
  }
  protocol(name) {
    let h = this.protocols.get(name);
    if (!h) {
      h = new ProtocolHandle2(this, name);
      this.protocols.set(name, h);
    }
    return h;
  }
  // ---- joining through a signaling server -----------------------------
  /**
   * Join `room` on the signaling server at `url` and open an arc to a contact
   * (resolves to the contact, or null when this peer is the first member;
   * it then accepts newcomers). The server stays connected for newcomers.
   */
  async join(url, room2, protocol, contact) {
    const s = await SignalingClient.connect(url);
    this.signaling = s;
    s.onSignal = (env) => this.onServerSignal(env);
    s.onError = (code, message) => this.log(`signaling error ${code}: ${message}`);
    s.onClose = (why) => this.log(`signaling server ${why}; the overlay goes on through bridges`);
    await s.join(room2, this.id, (b) => this.identity.sign(b));
    const c = await s.requestContact(contact);
    if (c === null) return null;
    await new Promise(
      (resolve, reject) => this.openArcs(protocol, c, 1, { kind: "local", resolve, reject }, { kind: "server" })
    );
    return c;
  }
  onServerSignal(env) {
    let signal;
    let more;
    try {
      signal = parseSignal(JSON.stringify(env.signal));
      const rest = env.more ?? [];
      if (!Array.isArray(rest) || rest.length >= MAX_BUNDLE) throw new Error("bundle");
      more = rest.map(signalFromValue);
    } catch {
      return this.dropSignal("malformed signal in an envelope");
    }
    const to = env.to ?? null;
    this.checkSignal(env.handshake, env.from, to, true, { kind: "server" }, env.protocol, env.seq, fromHex(env.signature), signal, more);
  }
  /**
   * WIRE.md v2, "What the receiver checks, in order": origin, seq, destination,
   * signature, freshness; only then the signal acts. In arrival order.
   */
  checkSignal(h, origin, to, outOfBand, via, protocol, seq, signature, signal, more = []) {
    this.inbound = this.inbound.then(async () => {
      if (origin === this.id) return this.dropSignal("signal claims to come from this node");
      if (!Number.isInteger(seq) || seq < 0 || seq + more.length > MAX_SIGNAL_SEQ) return this.forged("sequence number over 255");
      if (to !== this.id && !(to === null && outOfBand)) return this.forged("misaddressed signal");
      if (!await verify(origin, signalTranscript(origin, to, h, seq, signal, more), signature)) return this.forged("bad signature");
      [signal, ...more].forEach((s, i) => this.acceptRemoteSignal(h, origin, via, protocol, seq + i, s));
    }).catch((e) => this.log(`signal handling failed: ${e}`));
  }
  forged(why) {
    this.stats.forgedSignals++;
    this.dropSignal(why);
  }
  // ---- queries --------------------------------------------------------
  view(protocol, dir) {
    const m = /* @__PURE__ */ new Map();
    for (const c of this.conns.values()) {
      if (!c.established) continue;
      const n = (dir === "in" ? c.inn : c.out).get(protocol) ?? 0;
      if (n > 0) m.set(c.peer, n);
    }
    return m;
  }
  connections() {
    return [...this.conns.values()].map((c) => ({
      peer: c.peer,
      state: c.state,
      role: c.role,
      via: c.via.kind === "server" ? "server" : `bridge:${c.via.bridge.slice(0, 10)}`,
      setupMs: c.setupMs,
      badFrames: c.badFrames
    }));
  }
  neighbours() {
    return [...this.conns.values()].filter((c) => c.established).map((c) => c.peer);
  }
  // ---- operations -----------------------------------------------------
  /** @internal one (from, to) pair of ProtocolHandle.connect */
  connectPair(protocol, from, to, count) {
    if (from === this.id) from = null;
    if (to === this.id) to = null;
    return new Promise((resolve, reject) => {
      const waiter = { kind: "local", resolve, reject };
      if (count < 1) return reject(new ConnectError("other", "count must be at least 1"));
      if (from === null && to === null) return reject(new ConnectError("selfConnection", "connect(me, me) connects a peer to itself"));
      if (from !== null && from === to) return reject(new ConnectError("selfConnection", "a bridge from a peer to itself"));
      if (from === null && to !== null) {
        if (!this.established(to)) return reject(new ConnectError("notNeighbour", `${to.slice(0, 10)} is not a neighbour: bridge to it instead`));
        return this.openArcs(protocol, to, count, waiter, null);
      }
      const f = from;
      const target = to ?? this.id;
      const conn = this.established(f);
      if (!conn) return reject(new ConnectError("notNeighbour", `${f.slice(0, 10)} is not a neighbour`));
      if (to !== null && !this.established(to))
        return reject(new ConnectError("notNeighbour", `${to.slice(0, 10)} is not a neighbour: the bridge needs both ends`));
      const op = randomU64Hex();
      this.bridgeWaits.set(op, { from: f, resolve, reject });
      this.sendFrame(conn, { type: "connectTo", op, protocol, to: target, count });
    });
  }
  /** Open `count` arcs `me -> to`: reuse a connection, join a pending one, or start a handshake via `via`. */
  openArcs(protocol, to, count, waiter, via) {
    if (to === this.id) return this.resolveWaiter(waiter, "selfConnection");
    const c = this.conns.get(to);
    if (c && c.established) {
      this.addOut(c, protocol, count);
      this.sendFrame(c, { type: "arcAdd", protocol, count });
      return this.resolveWaiter(waiter, null);
    }
    if (c && c.pending) {
      c.wants.push({ protocol, count, waiter });
      if (c.helloSent) this.sendFrame(c, { type: "arcAdd", protocol, count });
      return;
    }
    if (via === null) return this.resolveWaiter(waiter, "notNeighbour");
    if (via.kind === "bridge" && !this.established(via.bridge)) return this.resolveWaiter(waiter, "connectionLost");
    if (via.kind === "server" && !this.signaling?.open) return this.resolveWaiter(waiter, "connectionLost");
    const conn = this.newConn(to, randomU64Hex(), "initiator", via, protocol);
    conn.wants.push({ protocol, count, waiter });
    const dc = conn.pc.createDataChannel("n2n-overlay", { ordered: true });
    this.wireChannel(conn, dc);
    void (async () => {
      try {
        const offer = await conn.pc.createOffer();
        await conn.pc.setLocalDescription(offer);
        this.emitSignal(conn, { type: "offer", sdp: conn.pc.localDescription?.sdp ?? offer.sdp ?? "" });
      } catch (e) {
        this.failConn(conn, "transport", `cannot make an offer: ${e}`);
      }
    })();
  }
  removeArcs(protocol, peer, count) {
    const c = this.established(peer);
    const held = c?.out.get(protocol) ?? 0;
    if (!c || held === 0) throw new ConnectError("notNeighbour", `no arc to ${peer.slice(0, 10)} in protocol ${protocol}`);
    const n = Math.min(count, held);
    c.out.set(protocol, held - n);
    this.sendFrame(c, { type: "arcRemove", protocol, count: n });
    for (let i = 1; i <= n; i++) this.emit(protocol, { type: "arcClosed", peer, direction: "out", count: held - i, reason: "removed" });
    this.maybeDying(c);
    this.onChange();
  }
  sendMessage(protocol, peer, payload) {
    const c = this.established(peer);
    if (!c) throw new ConnectError("notNeighbour", `${peer.slice(0, 10)} is not a neighbour`);
    if (payload.length > MAX_MESSAGE) throw new ConnectError("other", `message of ${payload.length} bytes is over the 1 MiB limit`);
    for (const f of messageFrames(protocol, payload, MAX_FRAME)) this.sendRaw(c, f);
  }
  /** Test hook: send raw bytes as one frame to a neighbour (e.g. malformed frames). */
  sendRawTo(peer, bytes) {
    const c = this.conns.get(peer);
    if (!c || !c.dc || c.dc.readyState !== "open") return false;
    this.sendRaw(c, bytes);
    return true;
  }
  /** Close every connection and leave the signaling server. */
  close() {
    for (const c of [...this.conns.values()]) this.dropConn(c, "closed");
    this.signaling?.close();
  }
  // ---- connections ----------------------------------------------------
  established(peer) {
    const c = this.conns.get(peer);
    return c && c.established ? c : null;
  }
  newConn(peer, handshake, role, via, protocol, shadow = false) {
    const pc = new RTCPeerConnection({ iceServers: this.config.iceServers });
    const c = new Conn(peer, handshake, role, via, protocol, pc);
    c.shadow = shadow;
    if (!shadow) this.conns.set(peer, c);
    this.byHandshake.set(handshake, c);
    pc.onicecandidate = (ev) => {
      if (!c.pending) return;
      if (ev.candidate && ev.candidate.candidate) {
        this.emitSignal(c, {
          type: "candidate",
          candidate: ev.candidate.candidate,
          sdpMid: ev.candidate.sdpMid ?? "0",
          sdpMLineIndex: ev.candidate.sdpMLineIndex ?? 0
        });
      } else if (!ev.candidate) {
        this.emitSignal(c, { type: "endOfCandidates" });
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" || pc.connectionState === "closed") this.lost(c, `peer connection ${pc.connectionState}`);
    };
    c.timer = setTimeout(() => {
      if (c.pending) this.failConn(c, "timeout", "handshake timed out");
    }, this.config.pendingTimeout);
    this.log(`handshake ${handshake} with ${peer.slice(0, 10)} (${role}, via ${via.kind === "server" ? "server" : "bridge " + via.bridge.slice(0, 10)})`);
    this.onChange();
    return c;
  }
  wireChannel(c, dc) {
    if (c.dc) {
      dc.close();
      return;
    }
    c.dc = dc;
    dc.binaryType = "arraybuffer";
    dc.bufferedAmountLowThreshold = 256 * 1024;
    dc.onopen = () => {
      this.onOpened(c);
      this.pump(c);
    };
    dc.onclose = () => this.lost(c, "data channel closed");
    dc.onbufferedamountlow = () => this.pump(c);
    dc.onmessage = (ev) => {
      const data = ev.data instanceof ArrayBuffer ? new Uint8Array(ev.data) : null;
      if (!data) return this.badFrame(c, "text message on the data channel");
      c.frameChain = c.frameChain.then(() => this.onFrame(c, data)).catch((e) => this.log(`frame handling failed: ${e}`));
    };
    if (dc.readyState === "open") this.onOpened(c);
  }
  /** Number, sign (for the peer) and send one of our signals, in order. */
  emitSignal(c, signal) {
    const seq = c.seqOut++;
    if (seq > MAX_SIGNAL_SEQ) {
      this.log(`handshake ${c.handshake}: more than 256 signals, the rest are not sent`);
      return;
    }
    const s = parseSignal(signalJson(signal));
    c.outChain = c.outChain.then(async () => {
      const signature = await this.identity.sign(signalTranscript(this.id, c.peer, c.handshake, seq, s));
      if (!c.pending) return;
      if (c.via.kind === "server") {
        this.signaling?.signal(c.peer, {
          handshake: c.handshake,
          from: this.id,
          to: c.peer,
          protocol: c.protocol,
          seq,
          signature: toHex(signature),
          signal: s
        });
      } else {
        const b = this.established(c.via.bridge);
        if (!b) return this.failConn(c, "connectionLost", "the bridge is gone");
        this.sendFrame(b, { type: "forward", handshake: c.handshake, to: c.peer, seq, signature, signal: s, more: [] });
      }
    }).catch((e) => this.log(`cannot sign a signal: ${e}`));
  }
  acceptRemoteSignal(h, origin, via, protocol, seq, signal) {
    const known = this.byHandshake.get(h);
    if (known) {
      if (known.peer !== origin) return this.dropSignal("signal from a peer that is not in this handshake");
      if (!sameVia(known.via, via)) return this.dropSignal("signal came by another path than its handshake");
      if (known.seqIn.has(seq)) {
        this.stats.replayedSignals++;
        return this.dropSignal("replayed signal");
      }
      known.seqIn.add(seq);
      if (!known.pending) return;
      return this.feed(known, signal);
    }
    if (this.recentHandshakes.includes(h)) {
      this.stats.replayedSignals++;
      return this.dropSignal("signal of a handshake already over");
    }
    if (signal.type !== "offer") {
      if (this.early.some((e) => e.handshake === h && e.origin === origin && e.seq === seq)) {
        this.stats.replayedSignals++;
        return this.dropSignal("replayed signal");
      }
      if (this.early.length >= this.config.maxEarlySignals) {
        this.early.shift();
        this.stats.droppedSignals++;
      }
      this.early.push({ handshake: h, origin, via, seq, signal });
      return;
    }
    this.recentHandshakes.push(h);
    if (this.recentHandshakes.length > 1024) this.recentHandshakes.shift();
    let inherited = [];
    let shadow = false;
    const existing = this.conns.get(origin);
    if (existing && existing.established) {
      shadow = true;
    } else if (existing) {
      if (existing.pending && existing.role === "initiator") {
        if (this.id < origin) return this.dropSignal("glare: our own handshake wins");
        inherited = existing.wants;
        existing.wants = [];
        this.dropConn(existing, null);
      } else if (existing.pending) {
        inherited = existing.wants;
        existing.wants = [];
        this.dropConn(existing, null);
      }
    }
    const c = this.newConn(origin, h, "acceptor", via, protocol, shadow);
    c.wants = inherited;
    c.seqIn.add(seq);
    c.pc.ondatachannel = (ev) => this.wireChannel(c, ev.channel);
    this.feed(c, signal);
    this.early = this.early.filter((e) => {
      if (e.handshake !== h) return true;
      if (e.origin === origin && sameVia(e.via, via) && !c.seqIn.has(e.seq)) {
        c.seqIn.add(e.seq);
        this.feed(c, e.signal);
      }
      return false;
    });
  }
  dropSignal(why) {
    this.stats.droppedSignals++;
    this.log(`signal dropped: ${why}`);
  }
  /** Give a remote signal to the connection's RTCPeerConnection (in order). */
  feed(c, signal) {
    c.chain = c.chain.then(async () => {
      if (!c.pending) return;
      const pc = c.pc;
      if (signal.type === "offer" && c.role === "acceptor") {
        await pc.setRemoteDescription({ type: "offer", sdp: signal.sdp });
        c.markRemoteSet();
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.emitSignal(c, { type: "answer", sdp: pc.localDescription?.sdp ?? answer.sdp ?? "" });
        for (const s of c.earlyCandidates.splice(0)) await addCandidate(pc, s);
      } else if (signal.type === "answer" && c.role === "initiator") {
        await pc.setRemoteDescription({ type: "answer", sdp: signal.sdp });
        c.markRemoteSet();
        for (const s of c.earlyCandidates.splice(0)) await addCandidate(pc, s);
      } else if (signal.type === "candidate" || signal.type === "endOfCandidates") {
        if (!c.remoteSet) c.earlyCandidates.push(signal);
        else await addCandidate(pc, signal);
      }
    }).catch((e) => this.failConn(c, "transport", `WebRTC refused a signal: ${e}`));
  }
  /** Both ends send HELLO as soon as the channel is open (WIRE.md v2). */
  onOpened(c) {
    if (c.state !== "handshaking") return;
    c.state = "opened";
    void this.sendHello(c);
  }
  /** The channel binding: our certificate's and the remote's fingerprints. */
  fingerprints(c) {
    const local = fingerprintFromSdp(c.pc.localDescription?.sdp ?? "");
    const remote = fingerprintFromSdp(c.pc.remoteDescription?.sdp ?? "");
    return local && remote ? { local, remote } : null;
  }
  async sendHello(c) {
    if (c.helloSent) return;
    c.helloSent = true;
    const arcs = /* @__PURE__ */ new Map();
    for (const w of c.wants) arcs.set(w.protocol, (arcs.get(w.protocol) ?? 0) + w.count);
    await c.remoteReady;
    const fp = this.fingerprints(c);
    if (!fp) return this.failConn(c, "other", "no DTLS fingerprint in the SDP: the connection cannot be bound");
    const signature = await this.identity.sign(helloTranscript(c.handshake, this.id, c.peer, fp.local, fp.remote));
    const hello = encode({ type: "hello", handshake: c.handshake, peer: this.id, signature, arcs: [...arcs] });
    c.sendQueue.unshift(hello);
    c.helloQueued = true;
    this.pump(c);
  }
  async onHello(c, f) {
    await c.remoteReady;
    const fp = this.fingerprints(c);
    const ok = fp !== null && f.handshake === c.handshake && f.peer === c.peer && await verify(f.peer, helloTranscript(f.handshake, f.peer, this.id, fp.remote, fp.local), f.signature);
    if (!ok) {
      this.stats.tampered++;
      this.log(`hello from ${c.peer.slice(0, 10)} does not check out (identity, handshake or channel binding): tampered, closing`);
      return this.failConn(c, "tampered", "the remote's HELLO did not check out (tampered)", "protocol violation");
    }
    await this.sendHello(c);
    if (c.state !== "opened") return;
    if (c.shadow) {
      const old = this.conns.get(c.peer);
      if (old && old !== c) {
        this.log(`connection with ${c.peer.slice(0, 10)} superseded by a new one`);
        this.dropConn(old, "connection lost");
      }
      c.shadow = false;
      this.conns.set(c.peer, c);
    }
    c.state = "living";
    c.setupMs = performance.now() - c.started;
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
    this.stats.connectionsOpened++;
    this.log(`connection with ${c.peer.slice(0, 10)} living in ${c.setupMs.toFixed(1)} ms`);
    for (const [p, n] of f.arcs) if (n > 0) this.addIn(c, p, n);
    const wants = c.wants;
    c.wants = [];
    for (const w of wants) this.addOut(c, w.protocol, w.count);
    for (const w of wants) this.resolveWaiter(w.waiter, null);
    this.maybeDying(c);
    this.onChange();
  }
  async onFrame(c, bytes) {
    if (c.state === "closed") return;
    let f;
    try {
      f = decode(bytes, MAX_FRAME);
    } catch (e) {
      return this.badFrame(c, e instanceof DecodeError ? e.message : String(e));
    }
    if (f.type === "hello") {
      if (c.state === "handshaking") this.onOpened(c);
      if (c.state !== "opened") return this.badFrame(c, "unexpected hello");
      return this.onHello(c, f);
    }
    if (!c.established) return this.badFrame(c, "frame before hello");
    const peer = c.peer;
    switch (f.type) {
      case "data": {
        const err = c.reassembler.whole();
        if (err) this.badFrame(c, err);
        return this.deliver(f.protocol, peer, f.payload);
      }
      case "dataStart":
      case "dataCont": {
        const r = f.type === "dataStart" ? c.reassembler.start(f.protocol, f.totalLen, f.chunk) : c.reassembler.cont(f.chunk);
        if (r.error) return this.badFrame(c, r.error);
        if (r.message) this.deliver(r.message[0], peer, r.message[1]);
        return;
      }
      case "arcAdd":
        if (f.count === 0) return this.badFrame(c, "arc add of zero");
        if (c.state === "dying") this.revive(c);
        this.addIn(c, f.protocol, f.count);
        this.onChange();
        return;
      case "arcRemove": {
        const held = c.inn.get(f.protocol) ?? 0;
        const n = Math.min(held, f.count);
        c.inn.set(f.protocol, held - n);
        for (let i = 1; i <= n; i++) this.emit(f.protocol, { type: "arcClosed", peer, direction: "in", count: held - i, reason: "removed" });
        if (n < f.count) this.badFrame(c, "arc remove beyond the arcs held");
        this.maybeDying(c);
        this.onChange();
        return;
      }
      case "connectTo":
        if (f.count === 0) return this.badFrame(c, "connect of zero arcs");
        if (f.to === this.id) return this.sendFrame(c, { type: "connectDone", op: f.op, failure: "selfConnection" });
        return this.openArcs(f.protocol, f.to, f.count, { kind: "remote", bridge: peer, op: f.op }, { kind: "bridge", bridge: peer });
      case "connectDone": {
        const w = this.bridgeWaits.get(f.op);
        if (!w || w.from !== peer) return this.badFrame(c, "connect-done for no request of ours");
        this.bridgeWaits.delete(f.op);
        if (f.failure === null) w.resolve();
        else w.reject(new ConnectError(f.failure, `the bridged peer failed: ${f.failure}`));
        return;
      }
      case "forward": {
        if (f.to === peer || f.to === this.id)
          return this.sendFrame(c, { type: "forwardFailed", handshake: f.handshake, reason: "selfConnection" });
        const target = this.established(f.to);
        if (!target) return this.sendFrame(c, { type: "forwardFailed", handshake: f.handshake, reason: "notNeighbour" });
        this.stats.relayed++;
        return this.sendFrame(target, {
          type: "forwarded",
          handshake: f.handshake,
          origin: peer,
          seq: f.seq,
          signature: f.signature,
          signal: f.signal,
          more: f.more
        });
      }
      case "forwarded":
        return this.checkSignal(f.handshake, f.origin, this.id, false, { kind: "bridge", bridge: peer }, c.protocol, f.seq, f.signature, f.signal, f.more);
      case "forwardFailed": {
        const t = this.byHandshake.get(f.handshake);
        if (t && t.pending && t.via.kind === "bridge" && t.via.bridge === peer) this.failConn(t, f.reason, `the bridge could not relay: ${f.reason}`);
        else this.stats.droppedSignals++;
        return;
      }
      case "refuse": {
        const target = this.established(f.to);
        if (!target || f.to === peer) {
          this.stats.droppedSignals++;
          return;
        }
        this.stats.relayed++;
        return this.sendFrame(target, { type: "refused", handshake: f.handshake, origin: peer, reason: f.reason });
      }
      case "refused": {
        const t = this.byHandshake.get(f.handshake);
        if (t && t.pending && t.role === "initiator" && t.via.kind === "bridge" && t.via.bridge === peer && t.peer === f.origin)
          this.failConn(t, f.reason, `the peer refused the offer: ${f.reason}`);
        else this.stats.droppedSignals++;
        return;
      }
    }
  }
  deliver(protocol, peer, payload) {
    this.emit(protocol, { type: "message", peer, payload });
  }
  badFrame(c, why) {
    this.stats.badFrames++;
    c.badFrames++;
    this.log(`bad frame from ${c.peer.slice(0, 10)} (${c.badFrames}): ${why}`);
    if (c.badFrames >= this.config.maxBadFrames) {
      this.log(`too many bad frames from ${c.peer.slice(0, 10)}: closing the connection`);
      if (c.established) this.dropConn(c, "protocol violation");
      else this.failConn(c, "other", "too many bad frames", "protocol violation");
    }
  }
  addIn(c, protocol, n) {
    const v = (c.inn.get(protocol) ?? 0) + n;
    c.inn.set(protocol, v);
    this.emit(protocol, { type: "arcOpened", peer: c.peer, direction: "in", count: v });
  }
  addOut(c, protocol, n) {
    if (c.state === "dying") this.revive(c);
    const v = (c.out.get(protocol) ?? 0) + n;
    c.out.set(protocol, v);
    this.emit(protocol, { type: "arcOpened", peer: c.peer, direction: "out", count: v });
    this.onChange();
  }
  revive(c) {
    c.state = "living";
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
  }
  maybeDying(c) {
    if (c.state !== "living" || c.arcTotal() > 0) return;
    c.state = "dying";
    c.timer = setTimeout(() => {
      if (c.state === "dying") this.dropConn(c, null);
    }, this.config.dyingTimeout);
  }
  resolveWaiter(w, failure) {
    if (w.kind === "local") {
      if (failure === null) w.resolve();
      else w.reject(new ConnectError(failure, `connect failed: ${failure}`));
    } else {
      const b = this.established(w.bridge);
      if (b) this.sendFrame(b, { type: "connectDone", op: w.op, failure });
    }
  }
  /** A pending connection failed: tell whoever waits, free it. */
  failConn(c, failure, why, reason = "connection lost") {
    if (c.state === "closed") return;
    this.log(`connection with ${c.peer.slice(0, 10)} failed: ${why}`);
    const wants = c.wants;
    c.wants = [];
    if (c.established) return this.dropConn(c, reason);
    this.dropConn(c, null);
    for (const w of wants) {
      this.emit(w.protocol, { type: "connectFailed", peer: c.peer, reason: why });
      this.resolveWaiter(w.waiter, failure);
    }
  }
  /** The transport lost `c` (channel or peer connection closed). */
  lost(c, why) {
    if (c.state === "closed") return;
    if (c.pending) return this.failConn(c, "transport", why);
    this.log(`connection with ${c.peer.slice(0, 10)} lost: ${why}`);
    this.dropConn(c, "connection lost");
  }
  /** Remove `c` from the tables and close it; arcs on it close with `reason` (null: none expected). */
  dropConn(c, reason) {
    if (c.state === "closed") return;
    c.state = "closed";
    if (c.timer) clearTimeout(c.timer);
    if (this.conns.get(c.peer) === c) this.conns.delete(c.peer);
    if (this.byHandshake.get(c.handshake) === c) this.byHandshake.delete(c.handshake);
    for (const [dir, m] of [
      ["out", c.out],
      ["in", c.inn]
    ]) {
      for (const [p, n] of m) for (let i = n - 1; i >= 0; i--) this.emit(p, { type: "arcClosed", peer: c.peer, direction: dir, count: i, reason: reason ?? "closed" });
      m.clear();
    }
    for (const [op, w] of this.bridgeWaits)
      if (w.from === c.peer) {
        this.bridgeWaits.delete(op);
        w.reject(new ConnectError("connectionLost", "the asked peer left"));
      }
    try {
      c.dc?.close();
      c.pc.close();
    } catch {
    }
    this.onChange();
  }
  // ---- sending --------------------------------------------------------
  sendFrame(c, f) {
    this.sendRaw(c, encode(f));
  }
  sendRaw(c, bytes) {
    c.sendQueue.push(bytes);
    this.pump(c);
  }
  pump(c) {
    const dc = c.dc;
    if (!dc || dc.readyState !== "open") return;
    if (!c.helloQueued) return;
    while (c.sendQueue.length > 0 && dc.bufferedAmount < 1024 * 1024) {
      const f = c.sendQueue.shift();
      try {
        dc.send(f);
      } catch (e) {
        this.lost(c, `send failed: ${e}`);
        return;
      }
    }
  }
  emit(protocol, e) {
    this.protocols.get(protocol)?.emit(e);
  }
  log(line) {
    this.onLog(line);
  }
};
function sameVia(a, b) {
  return a.kind === b.kind && (a.kind === "server" || b.kind === "bridge" && a.bridge === b.bridge);
}
async function addCandidate(pc, s) {
  if (s.type === "endOfCandidates") return;
  if (s.type !== "candidate") return;
  let line = s.candidate.trim();
  if (line.startsWith("a=")) line = line.slice(2);
  if (line === "" || line === "end-of-candidates") return;
  try {
    await pc.addIceCandidate({ candidate: line, sdpMid: s.sdpMid ?? "0", sdpMLineIndex: s.sdpMLineIndex ?? 0 });
  } catch {
    await pc.addIceCandidate({ candidate: line, sdpMLineIndex: s.sdpMLineIndex ?? 0 });
  }
}

// src/page.ts
var params = new URLSearchParams(location.search);
var room = params.get("room") ?? "lobby";
var protocolName = params.get("protocol") ?? "n2n-chat";
var wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
var $ = (id) => document.getElementById(id);
var short = (p) => p.slice(0, 10);
var state = {
  node: null,
  handle: null,
  events: [],
  messages: [],
  graph: {},
  observing: false,
  observer: null,
  joined: null
};
window.n2n = state;
function log(line, cls = "") {
  const li = document.createElement("li");
  li.textContent = `${(/* @__PURE__ */ new Date()).toISOString().slice(11, 23)} ${line}`;
  if (cls) li.className = cls;
  const ul = $("log");
  ul.prepend(li);
  while (ul.childElementCount > 300) ul.lastElementChild?.remove();
}
function renderViews() {
  const h = state.handle;
  const node = state.node;
  if (!h || !node) return;
  for (const [id, view] of [
    ["inview", h.inview()],
    ["outview", h.outview()]
  ]) {
    const ul = $(id);
    ul.replaceChildren(
      ...[...view].map(([p, n]) => {
        const li = document.createElement("li");
        li.textContent = `${short(p)}${n > 1 ? ` \xD7${n}` : ""}`;
        li.title = p;
        return li;
      })
    );
    if (view.size === 0) ul.innerHTML = "<li class=empty>none</li>";
  }
  $("conns").textContent = node.connections().map((c) => `${short(c.peer)} ${c.state} ${c.role} via ${c.via}${c.setupMs !== null ? ` ${c.setupMs.toFixed(0)} ms` : ""}`).join("\n");
  if (!state.observing) {
    state.graph = { [node.id]: { out: Object.fromEntries(h.outview()) } };
    for (const [p] of h.inview()) state.graph[p] = { out: { [node.id]: h.inview().get(p) ?? 1 } };
  }
  drawGraph();
  scheduleReport();
}
var reportTimer = null;
function scheduleReport() {
  if (!state.observer || reportTimer) return;
  reportTimer = setTimeout(() => {
    reportTimer = null;
    const h = state.handle;
    const ws = state.observer;
    if (!h || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "view", out: Object.fromEntries(h.outview()) }));
  }, 300);
}
function drawGraph() {
  const svg = $("graph");
  const me = state.node?.id;
  const peers = new Set(Object.keys(state.graph));
  for (const v of Object.values(state.graph)) for (const p of Object.keys(v.out)) peers.add(p);
  const list = [...peers].sort();
  const W = 420, H = 320, R = 120, cx = W / 2, cy = H / 2;
  const pos = /* @__PURE__ */ new Map();
  list.forEach((p, i) => {
    const a = 2 * Math.PI * i / Math.max(1, list.length) - Math.PI / 2;
    pos.set(p, [cx + R * Math.cos(a), cy + R * Math.sin(a)]);
  });
  let out = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="24" refY="5" markerUnits="userSpaceOnUse" markerWidth="12" markerHeight="12" orient="auto"><path d="M0,0L10,5L0,10z" fill="#5b6b80"/></marker></defs>`;
  for (const [from, v] of Object.entries(state.graph)) {
    for (const [to, n] of Object.entries(v.out)) {
      const a = pos.get(from), b = pos.get(to);
      if (!a || !b) continue;
      out += `<line x1="${a[0]}" y1="${a[1]}" x2="${b[0]}" y2="${b[1]}" stroke="#5b6b80" stroke-width="${Math.min(4, n)}" marker-end="url(#arrow)"/>`;
    }
  }
  for (const p of list) {
    const [x, y] = pos.get(p);
    const mine = p === me;
    const reported = p in state.graph;
    out += `<g><circle cx="${x}" cy="${y}" r="13" fill="${mine ? "#2f80ed" : reported ? "#27ae60" : "#bdc3c7"}" stroke="#1d2733"/>`;
    out += `<text x="${x}" y="${y + 28}" text-anchor="middle" font-size="11">${p.slice(0, 6)}${mine ? " (me)" : ""}</text></g>`;
  }
  svg.innerHTML = out;
  $("graph-note").textContent = state.observing ? `room graph: ${list.length} peers (views reported to the server; green = reporting)` : "room graph off (the server does not allow observing this room): this tab's own arcs";
}
function onEvent(e) {
  state.events.push(e.type === "message" ? { ...e, payload: new Uint8Array(0) } : e);
  if (state.events.length > 1e3) state.events.shift();
  switch (e.type) {
    case "arcOpened":
      log(`arc opened ${e.direction} ${short(e.peer)} (\xD7${e.count})`, "ok");
      break;
    case "arcClosed":
      log(`arc closed ${e.direction} ${short(e.peer)} (\xD7${e.count} left): ${e.reason}`, "warn");
      break;
    case "connectFailed":
      log(`connect failed ${e.peer ? short(e.peer) : ""}: ${e.reason}`, "err");
      break;
    case "message": {
      const text = new TextDecoder().decode(e.payload.length > 200 ? e.payload.subarray(0, 200) : e.payload);
      state.messages.push({ peer: e.peer, text: e.payload.length > 200 ? "" : text, bytes: e.payload.length });
      log(`message from ${short(e.peer)} (${e.payload.length} B): ${text}${e.payload.length > 200 ? "\u2026" : ""}`, "msg");
      break;
    }
  }
  renderViews();
}
function resolvePeer(prefix) {
  const node = state.node;
  const all = /* @__PURE__ */ new Set([...node.neighbours(), ...state.handle?.inview().keys() ?? []]);
  const m = [...all].filter((p) => p.startsWith(prefix.toLowerCase()));
  if (m.length !== 1) throw new Error(m.length ? `${prefix} is ambiguous` : `no neighbour starts with ${prefix}`);
  return m[0];
}
async function command(line) {
  const h = state.handle;
  const node = state.node;
  const w = line.trim().split(/\s+/);
  if (!line.startsWith("/")) {
    const to = /* @__PURE__ */ new Set([...h.inview().keys(), ...h.outview().keys()]);
    for (const p of to) h.send(p, line);
    log(`sent to ${to.size} peers: ${line}`);
    return;
  }
  switch (w[0]) {
    case "/bridge": {
      const t = performance.now();
      await h.connect(resolvePeer(w[1] ?? ""), resolvePeer(w[2] ?? ""));
      log(`bridged in ${(performance.now() - t).toFixed(1)} ms`, "ok");
      return;
    }
    case "/connect":
      await h.connect(null, resolvePeer(w[1] ?? ""));
      return;
    case "/disconnect":
      h.disconnect(resolvePeer(w[1] ?? ""));
      return;
    case "/send":
      h.send(resolvePeer(w[1] ?? ""), w.slice(2).join(" "));
      return;
    default:
      log(`commands: /bridge A B, /connect B, /disconnect B, /send B TEXT; other text goes to every neighbour (${node.neighbours().length})`);
  }
}
function observe(node) {
  const ws = new WebSocket(`${wsBase}/observe?room=${encodeURIComponent(room)}&peer=${node.id}`);
  ws.onmessage = (ev) => {
    try {
      const m = JSON.parse(String(ev.data));
      if (m.type === "graph" && typeof m.peers === "object") {
        if (!state.observing) log("room graph on: this room allows observing", "ok");
        state.observing = true;
        state.graph = m.peers;
        drawGraph();
      } else if (m.type === "refused") {
        log(`room graph off: ${m.reason}`);
      }
    } catch {
    }
  };
  ws.onopen = () => {
    state.observer = ws;
    scheduleReport();
  };
  ws.onclose = () => {
    state.observer = null;
    state.observing = false;
    renderViews();
  };
}
async function main() {
  $("room").textContent = room;
  const dying = Number(params.get("dying"));
  const node = await OverlayNode.create(dying > 0 ? { dyingTimeout: dying } : {});
  const handle = node.protocol(protocolName);
  state.node = node;
  state.handle = handle;
  $("me").textContent = node.id;
  document.title = `n2n ${short(node.id)} in ${room}`;
  node.onLog = (l) => {
    log(l, "dim");
    console.debug(l);
  };
  node.onChange = renderViews;
  handle.on(onEvent);
  renderViews();
  $("say").onsubmit = (ev) => {
    ev.preventDefault();
    const input = $("text");
    const line = input.value;
    input.value = "";
    command(line).catch((e) => log(`${e}`, "err"));
  };
  if (params.get("ips") === "1") {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const t of s.getTracks()) t.stop();
    } catch (e) {
      log(`ips=1: no media permission (${e}); host candidates stay hidden`, "warn");
    }
  }
  try {
    const t = performance.now();
    const contact = await node.join(`${wsBase}/`, room, protocolName, isPeerHex(params.get("contact")) ? params.get("contact") : void 0);
    state.joined = { contact, ms: performance.now() - t };
    log(contact ? `joined ${room} via ${short(contact)} in ${(performance.now() - t).toFixed(1)} ms` : `joined ${room}: first member, waiting for newcomers`, "ok");
    $("status").textContent = "joined";
  } catch (e) {
    log(`cannot join: ${e}`, "err");
    $("status").textContent = `join failed: ${e}`;
  }
  if (params.get("observe") !== "0") observe(node);
  window.addEventListener("pagehide", () => node.close());
}
main().catch((e) => log(`${e}`, "err"));
export {
  OverlayNode,
  wire_exports as wire
};

// The overlay wire format (docs/WIRE.md, version 2): frames on a connection's
// data channel. decode() never throws on bad input: it returns a DecodeError.

export const VERSION = 2;
/** Highest sequence number of a signal (an end signs at most 256 per handshake). */
export const MAX_SIGNAL_SEQ = 255;
export const HEADER_LEN = 2;
/** Largest frame, header included (the Rust default max_frame_size). */
export const MAX_FRAME = 65536;
/** Largest application message (the Rust default max_message_size). */
export const MAX_MESSAGE = 1 << 20;

export const Kind = {
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
  REFUSED: 13,
} as const;

/** Failure codes of CONNECT_DONE and FORWARD_FAILED. */
export const Failure = {
  notNeighbour: 1,
  selfConnection: 2,
  timeout: 3,
  connectionLost: 4,
  transport: 5,
  busy: 6,
  tampered: 7,
  other: 255,
} as const;
export type FailureName = keyof typeof Failure;

export function failureName(code: number): FailureName {
  for (const [k, v] of Object.entries(Failure)) if (v === code) return k as FailureName;
  return "other";
}

/** A browser-shaped handshake signal (what RTCPeerConnection gives). */
export type Signal =
  | { type: "offer"; sdp: string }
  | { type: "answer"; sdp: string }
  | { type: "candidate"; candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }
  | { type: "endOfCandidates" };

/** A peer id: 64 lowercase hex digits (the Ed25519 public key). */
export type PeerHex = string;
/** A 64-bit handshake or request id: 16 lowercase hex digits. */
export type U64Hex = string;

export type Frame =
  | { type: "hello"; handshake: U64Hex; peer: PeerHex; signature: Uint8Array; arcs: [string, number][] }
  | { type: "data"; protocol: string; payload: Uint8Array }
  | { type: "dataStart"; protocol: string; totalLen: number; chunk: Uint8Array }
  | { type: "dataCont"; chunk: Uint8Array }
  | { type: "arcAdd"; protocol: string; count: number }
  | { type: "arcRemove"; protocol: string; count: number }
  | { type: "connectTo"; op: U64Hex; protocol: string; to: PeerHex; count: number }
  | { type: "connectDone"; op: U64Hex; failure: FailureName | null }
  | { type: "forward"; handshake: U64Hex; to: PeerHex; seq: number; signature: Uint8Array; signal: Signal; more: Signal[] }
  | { type: "forwarded"; handshake: U64Hex; origin: PeerHex; seq: number; signature: Uint8Array; signal: Signal; more: Signal[] }
  | { type: "forwardFailed"; handshake: U64Hex; reason: FailureName }
  | { type: "refuse"; handshake: U64Hex; to: PeerHex; reason: FailureName }
  | { type: "refused"; handshake: U64Hex; origin: PeerHex; reason: FailureName };

export type DecodeErrorKind =
  | "tooLarge"
  | "truncated"
  | "version"
  | "unknownType"
  | "badProtocol"
  | "badSignal"
  | "trailing";

export class DecodeError extends Error {
  constructor(readonly kind: DecodeErrorKind, message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

// ---- hex helpers -------------------------------------------------------

export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error(`not hex: ${s.slice(0, 20)}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function isPeerHex(s: unknown): s is PeerHex {
  return typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
}

export function isProtocol(s: string): boolean {
  if (s.length < 1 || s.length > 31) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** 16 random hex digits (a handshake or request id). */
export function randomU64Hex(): U64Hex {
  return toHex(crypto.getRandomValues(new Uint8Array(8)));
}

// ---- encoding ----------------------------------------------------------

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

class Writer {
  private parts: number[] = [];
  private chunks: Uint8Array[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  u64hex(h: U64Hex): this {
    return this.bytes(fromHex(h.padStart(16, "0")));
  }
  bytes(b: Uint8Array): this {
    this.flush();
    this.chunks.push(b);
    return this;
  }
  protocol(p: string): this {
    if (!isProtocol(p)) throw new Error(`invalid protocol id ${JSON.stringify(p)}: 1 to 31 printable ASCII characters`);
    this.u8(p.length);
    return this.bytes(utf8.encode(p));
  }
  private flush(): void {
    if (this.parts.length) {
      this.chunks.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }
  finish(): Uint8Array {
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
}

/** The JSON text of a signal, in the field order the Rust side writes. */
export function signalJson(s: Signal): string {
  switch (s.type) {
    case "offer":
    case "answer":
      return JSON.stringify({ type: s.type, sdp: s.sdp });
    case "candidate": {
      const o: Record<string, unknown> = { type: "candidate", candidate: s.candidate };
      if (s.sdpMid !== undefined && s.sdpMid !== null) o.sdpMid = s.sdpMid;
      if (s.sdpMLineIndex !== undefined && s.sdpMLineIndex !== null) o.sdpMLineIndex = s.sdpMLineIndex;
      return JSON.stringify(o);
    }
    case "endOfCandidates":
      return JSON.stringify({ type: "endOfCandidates" });
  }
}

export function encode(f: Frame): Uint8Array {
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
      w.u8(f.type === "forward" ? Kind.FORWARD : Kind.FORWARDED)
        .u64hex(f.handshake)
        .bytes(fromHex(f.type === "forward" ? f.to : f.origin))
        .u32(f.seq)
        .bytes(f.signature)
        .bytes(utf8.encode(f.more.length === 0 ? signalJson(f.signal) : `[${[f.signal, ...f.more].map(signalJson).join(",")}]`));
      break;
    case "forwardFailed":
      w.u8(Kind.FORWARD_FAILED).u64hex(f.handshake).u8(Failure[f.reason]);
      break;
    case "refuse":
    case "refused":
      w.u8(f.type === "refuse" ? Kind.REFUSE : Kind.REFUSED)
        .u64hex(f.handshake)
        .bytes(fromHex(f.type === "refuse" ? f.to : f.origin))
        .u8(Failure[f.reason]);
      break;
  }
  return w.finish();
}

// ---- decoding ----------------------------------------------------------

class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new DecodeError("truncated", "frame truncated");
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return ((this.u8() << 24) >>> 0) + (this.u8() << 16) + (this.u8() << 8) + this.u8();
  }
  take(n: number): Uint8Array {
    this.need(n);
    const s = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  u64hex(): U64Hex {
    return toHex(this.take(8));
  }
  peer(): PeerHex {
    return toHex(this.take(32));
  }
  protocol(): string {
    const n = this.u8();
    if (n < 1 || n > 31) throw new DecodeError("badProtocol", "invalid protocol id");
    const raw = this.take(n);
    for (const c of raw) if (c < 0x21 || c > 0x7e) throw new DecodeError("badProtocol", "invalid protocol id");
    return String.fromCharCode(...raw);
  }
  rest(): Uint8Array {
    const s = this.b.slice(this.pos);
    this.pos = this.b.length;
    return s;
  }
  end(): void {
    if (this.pos !== this.b.length) throw new DecodeError("trailing", "trailing bytes after frame body");
  }
}

/** Most signals one signature covers (WIRE.md, "Bundles"). */
export const MAX_BUNDLE = 16;

/** Parse a signal's JSON as the Rust side does (serde, tolerant of null mid/index). */
export function parseSignal(text: string): Signal {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new DecodeError("badSignal", "invalid signal JSON");
  }
  return signalFromValue(v);
}

/**
 * The signals of a FORWARD/FORWARDED frame: one signal's JSON object, or a
 * bundle's JSON array of 1 to MAX_BUNDLE of them.
 */
export function parseSignals(text: string): [Signal, Signal[]] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new DecodeError("badSignal", "invalid signal JSON");
  }
  if (!Array.isArray(v)) return [signalFromValue(v), []];
  if (v.length === 0 || v.length > MAX_BUNDLE) throw new DecodeError("badSignal", "invalid signal JSON");
  const [first, ...more] = v.map(signalFromValue);
  if (first === undefined) throw new DecodeError("badSignal", "invalid signal JSON");
  return [first, more];
}

/** A signal from its parsed JSON value. */
export function signalFromValue(v: unknown): Signal {
  const bad = () => new DecodeError("badSignal", "invalid signal JSON");
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad();
  const o = v as Record<string, unknown>;
  switch (o.type) {
    case "offer":
    case "answer":
      if (typeof o.sdp !== "string") throw bad();
      return { type: o.type, sdp: o.sdp };
    case "candidate": {
      if (typeof o.candidate !== "string") throw bad();
      const mid = o.sdpMid;
      const idx = o.sdpMLineIndex;
      if (mid !== undefined && mid !== null && typeof mid !== "string") throw bad();
      if (idx !== undefined && idx !== null && !(Number.isInteger(idx) && (idx as number) >= 0 && (idx as number) <= 65535))
        throw bad();
      const s: Signal = { type: "candidate", candidate: o.candidate };
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

/** Decode one frame of at most `limit` bytes. Throws only DecodeError. */
export function decode(b: Uint8Array, limit: number = MAX_FRAME): Frame {
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
      const arcs: [string, number][] = [];
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
      let text: string;
      try {
        text = utf8d.decode(r.rest());
      } catch {
        throw new DecodeError("badSignal", "invalid signal JSON");
      }
      const [signal, more] = parseSignals(text);
      return ty === Kind.FORWARD
        ? { type: "forward", handshake, to: peer, seq, signature, signal, more }
        : { type: "forwarded", handshake, origin: peer, seq, signature, signal, more };
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

/**
 * The 157 bytes a HELLO signature covers (WIRE.md v2, "Hello"): tag, version,
 * handshake, sender and receiver ids, then the sender's and the receiver's
 * DTLS certificate fingerprints (SHA-256, 32 bytes each).
 */
export function helloTranscript(
  handshake: U64Hex,
  sender: PeerHex,
  receiver: PeerHex,
  senderFingerprint: Uint8Array,
  receiverFingerprint: Uint8Array,
): Uint8Array {
  if (senderFingerprint.length !== 32 || receiverFingerprint.length !== 32) throw new Error("a fingerprint is 32 bytes");
  return new Writer()
    .bytes(utf8.encode("n2n-overlay/hello/v2"))
    .u8(VERSION)
    .u64hex(handshake)
    .bytes(fromHex(sender))
    .bytes(fromHex(receiver))
    .bytes(senderFingerprint)
    .bytes(receiverFingerprint)
    .finish();
}

/**
 * The bytes a signal's signature covers (WIRE.md v2, "Signed signals"):
 * tag, version, origin, destination (32 zero bytes when unknown), handshake,
 * seq, then the signal's kind and fields in binary (not its JSON). For a
 * bundle ("Bundles"), the kind and fields of each signal of `more` follow.
 */
export function signalTranscript(
  origin: PeerHex,
  destination: PeerHex | null,
  handshake: U64Hex,
  seq: number,
  first: Signal,
  more: Signal[] = [],
): Uint8Array {
  const w = new Writer()
    .bytes(utf8.encode("n2n-overlay/signal/v2"))
    .u8(VERSION)
    .bytes(fromHex(origin))
    .bytes(destination ? fromHex(destination) : new Uint8Array(32))
    .u64hex(handshake)
    .u32(seq);
  const long = (text: string) => {
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
      if (s.sdpMid === undefined || s.sdpMid === null) w.u8(0);
      else {
        const m = utf8.encode(s.sdpMid).subarray(0, 0xffff);
        w.u8(1).u16(m.length).bytes(m);
      }
      if (s.sdpMLineIndex === undefined || s.sdpMLineIndex === null) w.u8(0);
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

/**
 * The certificate fingerprint of an SDP: its first `a=fingerprint:sha-256`
 * line (session or media level; hex pairs in any case), or null.
 */
export function fingerprintFromSdp(sdp: string): Uint8Array | null {
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

/** Split a message into DATA, or DATA_START + DATA_CONT frames of at most `maxFrame` bytes. */
export function messageFrames(protocol: string, payload: Uint8Array, maxFrame: number = MAX_FRAME): Uint8Array[] {
  const dataOverhead = HEADER_LEN + 1 + protocol.length;
  if (payload.length + dataOverhead <= maxFrame) return [encode({ type: "data", protocol, payload })];
  const first = maxFrame - dataOverhead - 4;
  const out = [encode({ type: "dataStart", protocol, totalLen: payload.length, chunk: payload.subarray(0, first) })];
  for (let o = first; o < payload.length; o += maxFrame - HEADER_LEN)
    out.push(encode({ type: "dataCont", chunk: payload.subarray(o, Math.min(payload.length, o + maxFrame - HEADER_LEN)) }));
  return out;
}

/** Rebuilds split messages of one connection, bounded by `limit`. */
export class Reassembler {
  private cur: { protocol: string; total: number; parts: Uint8Array[]; got: number } | null = null;
  constructor(private readonly limit: number = MAX_MESSAGE) {}

  /** A DATA frame: returns an error if it interrupted a message in progress. */
  whole(): string | null {
    const interrupted = this.cur !== null;
    this.cur = null;
    return interrupted ? "message interrupted by another" : null;
  }

  start(protocol: string, total: number, chunk: Uint8Array): { message?: [string, Uint8Array]; error?: string } {
    const interrupted = this.cur !== null;
    this.cur = null;
    if (total > this.limit) return { error: `announced message of ${total} bytes exceeds the limit` };
    if (interrupted) return { error: "message interrupted by another" };
    this.cur = { protocol, total, parts: [], got: 0 };
    return this.cont(chunk);
  }

  cont(chunk: Uint8Array): { message?: [string, Uint8Array]; error?: string } {
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
}

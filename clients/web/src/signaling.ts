// Client of the signaling protocol (docs/SIGNALING.md) over the browser's
// WebSocket: join a room, ask for a contact, relay signals. Version 2 (the
// server's first frame is a `challenge`; the join signs it); a server that
// sends no challenge within CHALLENGE_WAIT_MS is spoken to in version 1.

import { fromHex, isPeerHex, toHex, type PeerHex, type Signal, type U64Hex } from "./wire.js";

/** How long to wait for a version 2 server's challenge before speaking version 1. */
export const CHALLENGE_WAIT_MS = 1000;

/** The bytes a version 2 join signs (SIGNALING.md, "The join proof"). */
export function joinProof(nonce: Uint8Array, peer: PeerHex, room: string): Uint8Array {
  const tag = new TextEncoder().encode("n2n-overlay signaling join v2");
  const name = new TextEncoder().encode(room);
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

/** A signed signal with its addressing (WIRE.md v2, "On the wire"). */
export interface Envelope {
  handshake: U64Hex;
  from: PeerHex;
  /** The signed destination; absent when the origin did not know it. */
  to?: PeerHex;
  protocol: string;
  seq: number;
  /** 128 hex digits. */
  signature: string;
  signal: Signal;
  /** A bundle's next signals (seq + 1, ...), under the same signature. */
  more?: Signal[];
}

export class SignalingError extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = "SignalingError";
  }
}

type Reply = Record<string, unknown>;

export class SignalingClient {
  private nextId = 1;
  /** Protocol version spoken: 2 once the server sent its challenge. */
  version = 1;
  private nonce: Uint8Array | null = null;
  private challenged: (() => void) | null = null;
  private pending = new Map<number, { resolve: (f: Reply) => void; reject: (e: Error) => void }>();
  onSignal: (env: Envelope) => void = () => {};
  onClose: (why: string) => void = () => {};
  onError: (code: string, message: string) => void = () => {};

  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => {
      for (const p of this.pending.values()) p.reject(new SignalingError("closed", `signaling connection closed (${ev.code})`));
      this.pending.clear();
      this.onClose(`closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`);
    };
  }

  static connect(url: string): Promise<SignalingClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new SignalingClient(ws));
      ws.onerror = () => reject(new SignalingError("unreachable", `cannot reach the signaling server at ${url}`));
    });
  }

  private onMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let f: Reply;
    try {
      const v = JSON.parse(data);
      if (typeof v !== "object" || v === null) return;
      f = v as Reply;
    } catch {
      return;
    }
    const id = typeof f.id === "number" ? f.id : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (p && id !== undefined) {
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
      const e = f.envelope as Record<string, unknown>;
      const handshake = typeof e.handshake === "number" ? e.handshake.toString(16).padStart(16, "0") : e.handshake;
      const to = e.to === undefined || e.to === null ? undefined : e.to;
      if (
        typeof handshake === "string" &&
        isPeerHex(e.from) &&
        (to === undefined || isPeerHex(to)) &&
        typeof e.protocol === "string" &&
        Number.isInteger(e.seq) &&
        typeof e.signature === "string" &&
        /^[0-9a-fA-F]{128}$/.test(e.signature) &&
        typeof e.signal === "object" &&
        e.signal !== null
      )
        this.onSignal({
          handshake: handshake.toLowerCase(),
          from: e.from,
          to,
          protocol: e.protocol,
          seq: e.seq as number,
          signature: e.signature.toLowerCase(),
          signal: e.signal as Signal,
          // A bundle's next signals, checked by the node with the signature.
          ...(e.more === undefined ? {} : { more: e.more as Signal[] }),
        });
    } else if (f.type === "error") {
      this.onError(String(f.code), String(f.message));
    }
  }

  private request(msg: Reply): Promise<Reply> {
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
  async join(room: string, peer: PeerHex, sign: (bytes: Uint8Array) => Promise<Uint8Array>, allowNamed = true): Promise<number> {
    if (!this.nonce) {
      await new Promise<void>((resolve) => {
        this.challenged = resolve;
        setTimeout(resolve, CHALLENGE_WAIT_MS);
      });
      this.challenged = null;
    }
    const msg: Reply = { type: "join", room, peer };
    if (this.nonce) {
      msg.signature = toHex(await sign(joinProof(this.nonce, peer, room)));
      msg.allowNamed = allowNamed;
    }
    const r = await this.request(msg);
    return typeof r.members === "number" ? r.members : 0;
  }

  /** A contact (a random member, or `peer`), or null when alone. */
  async requestContact(peer?: PeerHex): Promise<PeerHex | null> {
    const r = await this.request(peer ? { type: "requestContact", peer } : { type: "requestContact" });
    return r.type === "contact" && isPeerHex(r.peer) ? r.peer : null;
  }

  /** Relay a signal (errors arrive through onError, not awaited). */
  signal(to: PeerHex, envelope: Envelope): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ v: this.version, type: "signal", id: this.nextId++, to, envelope }));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.ws.close(1000, "bye");
  }
}

// The overlay engine in the browser: one RTCPeerConnection (one data channel)
// per peer pair, arcs with multiplicity per protocol, bridging as initiator,
// bridge and target, the signed HELLO. Same behaviour as overlay-core's
// engine (docs/WIRE.md, /work/shared/design/overlay.md).

import { Identity, verify } from "./identity.js";
import { SignalingClient, type Envelope } from "./signaling.js";
import {
  decode,
  DecodeError,
  encode,
  fingerprintFromSdp,
  fromHex,
  helloTranscript,
  MAX_BUNDLE,
  MAX_SIGNAL_SEQ,
  parseSignal,
  signalFromValue,
  signalJson,
  signalTranscript,
  toHex,
  isPeerHex,
  messageFrames,
  MAX_FRAME,
  MAX_MESSAGE,
  randomU64Hex,
  Reassembler,
  type FailureName,
  type Frame,
  type PeerHex,
  type Signal,
  type U64Hex,
} from "./wire.js";

export type Direction = "in" | "out";
export type CloseReason = "removed" | "connection lost" | "timed out" | "protocol violation" | "closed";
export type OverlayEvent =
  | { type: "arcOpened"; peer: PeerHex; direction: Direction; count: number }
  | { type: "arcClosed"; peer: PeerHex; direction: Direction; count: number; reason: CloseReason }
  | { type: "connectFailed"; peer: PeerHex | null; reason: string }
  | { type: "message"; peer: PeerHex; payload: Uint8Array };

/** What a connect or an arc operation failed with. */
export class ConnectError extends Error {
  constructor(readonly reason: FailureName | "notNeighbour" | "protocolViolation", message: string) {
    super(message);
    this.name = "ConnectError";
  }
}

export interface NodeConfig {
  /** A handshake that does not open within this time fails (ms). Default 10 s. */
  pendingTimeout: number;
  /** A connection with no arc left stays open this long (ms). Default 60 s. */
  dyingTimeout: number;
  /** Bad frames tolerated on one connection before it is closed. Default 8. */
  maxBadFrames: number;
  /** ICE servers for RTCPeerConnection (none by default: host candidates). */
  iceServers: RTCIceServer[];
  /** Signals kept for handshakes whose offer has not arrived yet. Default 64. */
  maxEarlySignals: number;
}

const DEFAULTS: NodeConfig = {
  pendingTimeout: 10_000,
  dyingTimeout: 60_000,
  maxBadFrames: 8,
  iceServers: [],
  maxEarlySignals: 64,
};

type Via = { kind: "server" } | { kind: "bridge"; bridge: PeerHex };
type Waiter = { kind: "local"; resolve: () => void; reject: (e: Error) => void } | { kind: "remote"; bridge: PeerHex; op: U64Hex };
interface Want {
  protocol: string;
  count: number;
  waiter: Waiter;
}
type State = "handshaking" | "opened" | "living" | "dying" | "closed";

/** Per-connection statistics visible to the application. */
export interface ConnectionInfo {
  peer: PeerHex;
  state: State;
  role: "initiator" | "acceptor";
  via: string;
  /** Milliseconds from the handshake's start to the HELLO exchange. */
  setupMs: number | null;
  badFrames: number;
}

class Conn {
  state: State = "handshaking";
  dc: RTCDataChannel | null = null;
  out = new Map<string, number>();
  inn = new Map<string, number>();
  wants: Want[] = [];
  helloSent = false;
  helloQueued = false;
  badFrames = 0;
  reassembler = new Reassembler(MAX_MESSAGE);
  chain: Promise<void> = Promise.resolve();
  remoteSet = false;
  /** Resolves once the remote description is set (the HELLO needs its fingerprint). */
  remoteReady: Promise<void>;
  markRemoteSet: () => void = () => {};
  /** Frames, handled in order (apart from the signals' chain: a HELLO may
   * arrive before the answer that carries the remote fingerprint). */
  frameChain: Promise<void> = Promise.resolve();
  earlyCandidates: Signal[] = [];
  timer: ReturnType<typeof setTimeout> | null = null;
  readonly started = performance.now();
  setupMs: number | null = null;
  sendQueue: Uint8Array[] = [];
  /** Next sequence number of our signals in this handshake. */
  seqOut = 0;
  /** Sequence numbers of the remote's signals taken (replays are dropped). */
  seqIn = new Set<number>();
  /** Our signals, signed and sent in the order they were made. */
  outChain: Promise<void> = Promise.resolve();
  /** A handshake beside an established connection with the same peer: it
   * replaces that one only when its HELLO checks out (WIRE.md v2). */
  shadow = false;
  constructor(
    readonly peer: PeerHex,
    readonly handshake: U64Hex,
    readonly role: "initiator" | "acceptor",
    readonly via: Via,
    readonly protocol: string,
    readonly pc: RTCPeerConnection,
  ) {
    this.remoteReady = new Promise((resolve) => {
      this.markRemoteSet = () => {
        this.remoteSet = true;
        resolve();
      };
    });
  }
  get established(): boolean {
    return this.state === "living" || this.state === "dying";
  }
  get pending(): boolean {
    return this.state === "handshaking" || this.state === "opened";
  }
  arcTotal(): number {
    let n = 0;
    for (const v of this.out.values()) n += v;
    for (const v of this.inn.values()) n += v;
    return n;
  }
}

export class ProtocolHandle {
  private listeners = new Set<(e: OverlayEvent) => void>();
  constructor(
    private readonly node: OverlayNode,
    readonly name: string,
  ) {}
  /** Subscribe to this protocol's events; returns an unsubscribe function. */
  on(f: (e: OverlayEvent) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
  /** @internal */
  emit(e: OverlayEvent): void {
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
  async connect(from: PeerHex | PeerHex[] | null, to: PeerHex | PeerHex[] | null, count = 1): Promise<void> {
    const froms = from === null ? [null] : Array.isArray(from) ? from : [from];
    const tos = to === null ? [null] : Array.isArray(to) ? to : [to];
    const jobs: Promise<void>[] = [];
    for (const f of froms) for (const t of tos) jobs.push(this.node.connectPair(this.name, f, t, count));
    await Promise.all(jobs);
  }
  /** Remove one arc to `peer` (the other end's inview follows). */
  disconnect(peer: PeerHex, count = 1): void {
    this.node.removeArcs(this.name, peer, count);
  }
  /** Send a message (bytes or UTF-8 text, up to 1 MiB) to a neighbour. */
  send(peer: PeerHex, payload: Uint8Array | string): void {
    this.node.sendMessage(this.name, peer, typeof payload === "string" ? new TextEncoder().encode(payload) : payload);
  }
  inview(): Map<PeerHex, number> {
    return this.node.view(this.name, "in");
  }
  outview(): Map<PeerHex, number> {
    return this.node.view(this.name, "out");
  }
}

export class OverlayNode {
  readonly id: PeerHex;
  readonly config: NodeConfig;
  private conns = new Map<PeerHex, Conn>();
  private byHandshake = new Map<U64Hex, Conn>();
  private early: { handshake: U64Hex; origin: PeerHex; via: Via; seq: number; signal: Signal }[] = [];
  /** Handshakes of the last accepted offers: a replayed offer is dropped. */
  private recentHandshakes: U64Hex[] = [];
  /** Incoming signals are checked (async signatures) and applied in order. */
  private inbound: Promise<void> = Promise.resolve();
  private protocols = new Map<string, ProtocolHandle>();
  private bridgeWaits = new Map<U64Hex, { from: PeerHex; resolve: () => void; reject: (e: Error) => void }>();
  private signaling: SignalingClient | null = null;
  /** Counters, for the page and the tests. */
  readonly stats = { badFrames: 0, relayed: 0, droppedSignals: 0, forgedSignals: 0, replayedSignals: 0, tampered: 0, connectionsOpened: 0 };
  /** Called on any change of connections or arcs (the page redraws). */
  onChange: () => void = () => {};
  /** Log lines (the page's event log). */
  onLog: (line: string) => void = () => {};

  private constructor(
    private readonly identity: Identity,
    config: Partial<NodeConfig>,
  ) {
    this.id = identity.id;
    this.config = { ...DEFAULTS, ...config };
  }

  static async create(config: Partial<NodeConfig> = {}, identity?: Identity): Promise<OverlayNode> {
    return new OverlayNode(identity ?? (await Identity.generate()), config);
  }

  protocol(name: string): ProtocolHandle {
    let h = this.protocols.get(name);
    if (!h) {
      h = new ProtocolHandle(this, name);
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
  async join(url: string, room: string, protocol: string, contact?: PeerHex): Promise<PeerHex | null> {
    const s = await SignalingClient.connect(url);
    this.signaling = s;
    s.onSignal = (env) => this.onServerSignal(env);
    s.onError = (code, message) => this.log(`signaling error ${code}: ${message}`);
    s.onClose = (why) => this.log(`signaling server ${why}; the overlay goes on through bridges`);
    await s.join(room, this.id, (b) => this.identity.sign(b));
    const c = await s.requestContact(contact);
    if (c === null) return null;
    await new Promise<void>((resolve, reject) =>
      this.openArcs(protocol, c, 1, { kind: "local", resolve, reject }, { kind: "server" }),
    );
    return c;
  }

  private onServerSignal(env: Envelope): void {
    let signal: Signal;
    let more: Signal[];
    try {
      signal = parseSignal(JSON.stringify(env.signal));
      const rest: unknown = env.more ?? [];
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
  private checkSignal(
    h: U64Hex,
    origin: PeerHex,
    to: PeerHex | null,
    outOfBand: boolean,
    via: Via,
    protocol: string,
    seq: number,
    signature: Uint8Array,
    signal: Signal,
    more: Signal[] = [],
  ): void {
    this.inbound = this.inbound
      .then(async () => {
        if (origin === this.id) return this.dropSignal("signal claims to come from this node");
        if (!Number.isInteger(seq) || seq < 0 || seq + more.length > MAX_SIGNAL_SEQ) return this.forged("sequence number over 255");
        if (to !== this.id && !(to === null && outOfBand)) return this.forged("misaddressed signal");
        if (!(await verify(origin, signalTranscript(origin, to, h, seq, signal, more), signature))) return this.forged("bad signature");
        // One signature for the bundle; its signals act one by one, in order.
        [signal, ...more].forEach((s, i) => this.acceptRemoteSignal(h, origin, via, protocol, seq + i, s));
      })
      .catch((e) => this.log(`signal handling failed: ${e}`));
  }

  private forged(why: string): void {
    this.stats.forgedSignals++;
    this.dropSignal(why);
  }

  // ---- queries --------------------------------------------------------

  view(protocol: string, dir: Direction): Map<PeerHex, number> {
    const m = new Map<PeerHex, number>();
    for (const c of this.conns.values()) {
      if (!c.established) continue;
      const n = (dir === "in" ? c.inn : c.out).get(protocol) ?? 0;
      if (n > 0) m.set(c.peer, n);
    }
    return m;
  }

  connections(): ConnectionInfo[] {
    return [...this.conns.values()].map((c) => ({
      peer: c.peer,
      state: c.state,
      role: c.role,
      via: c.via.kind === "server" ? "server" : `bridge:${c.via.bridge.slice(0, 10)}`,
      setupMs: c.setupMs,
      badFrames: c.badFrames,
    }));
  }

  neighbours(): PeerHex[] {
    return [...this.conns.values()].filter((c) => c.established).map((c) => c.peer);
  }

  // ---- operations -----------------------------------------------------

  /** @internal one (from, to) pair of ProtocolHandle.connect */
  connectPair(protocol: string, from: PeerHex | null, to: PeerHex | null, count: number): Promise<void> {
    if (from === this.id) from = null;
    if (to === this.id) to = null;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { kind: "local", resolve, reject };
      if (count < 1) return reject(new ConnectError("other", "count must be at least 1"));
      if (from === null && to === null) return reject(new ConnectError("selfConnection", "connect(me, me) connects a peer to itself"));
      if (from !== null && from === to) return reject(new ConnectError("selfConnection", "a bridge from a peer to itself"));
      if (from === null && to !== null) {
        if (!this.established(to)) return reject(new ConnectError("notNeighbour", `${to.slice(0, 10)} is not a neighbour: bridge to it instead`));
        return this.openArcs(protocol, to, count, waiter, null);
      }
      const f = from as PeerHex;
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
  private openArcs(protocol: string, to: PeerHex, count: number, waiter: Waiter, via: Via | null): void {
    if (to === this.id) return this.resolveWaiter(waiter, "selfConnection");
    const c = this.conns.get(to);
    if (c && c.established) {
      this.addOut(c, protocol, count);
      this.sendFrame(c, { type: "arcAdd", protocol, count });
      return this.resolveWaiter(waiter, null);
    }
    if (c && c.pending) {
      c.wants.push({ protocol, count, waiter });
      // Our HELLO already left without them: announce them after it.
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

  removeArcs(protocol: string, peer: PeerHex, count: number): void {
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

  sendMessage(protocol: string, peer: PeerHex, payload: Uint8Array): void {
    const c = this.established(peer);
    if (!c) throw new ConnectError("notNeighbour", `${peer.slice(0, 10)} is not a neighbour`);
    if (payload.length > MAX_MESSAGE) throw new ConnectError("other", `message of ${payload.length} bytes is over the 1 MiB limit`);
    for (const f of messageFrames(protocol, payload, MAX_FRAME)) this.sendRaw(c, f);
  }

  /** Test hook: send raw bytes as one frame to a neighbour (e.g. malformed frames). */
  sendRawTo(peer: PeerHex, bytes: Uint8Array): boolean {
    const c = this.conns.get(peer);
    if (!c || !c.dc || c.dc.readyState !== "open") return false;
    this.sendRaw(c, bytes);
    return true;
  }

  /** Close every connection and leave the signaling server. */
  close(): void {
    for (const c of [...this.conns.values()]) this.dropConn(c, "closed");
    this.signaling?.close();
  }

  // ---- connections ----------------------------------------------------

  private established(peer: PeerHex): Conn | null {
    const c = this.conns.get(peer);
    return c && c.established ? c : null;
  }

  private newConn(peer: PeerHex, handshake: U64Hex, role: "initiator" | "acceptor", via: Via, protocol: string, shadow = false): Conn {
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
          sdpMLineIndex: ev.candidate.sdpMLineIndex ?? 0,
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

  private wireChannel(c: Conn, dc: RTCDataChannel): void {
    if (c.dc) {
      dc.close();
      return;
    }
    c.dc = dc;
    dc.binaryType = "arraybuffer";
    dc.bufferedAmountLowThreshold = 256 * 1024;
    // A remote's first frame can arrive before the open event; the HELLO it
    // triggered waits in the queue until the channel is open: send it now.
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
  private emitSignal(c: Conn, signal: Signal): void {
    const seq = c.seqOut++;
    if (seq > MAX_SIGNAL_SEQ) {
      this.log(`handshake ${c.handshake}: more than 256 signals, the rest are not sent`);
      return;
    }
    // What the receiver parses is what we sign: normalize through the JSON form.
    const s = parseSignal(signalJson(signal));
    c.outChain = c.outChain
      .then(async () => {
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
            signal: s,
          });
        } else {
          const b = this.established(c.via.bridge);
          if (!b) return this.failConn(c, "connectionLost", "the bridge is gone");
          this.sendFrame(b, { type: "forward", handshake: c.handshake, to: c.peer, seq, signature, signal: s, more: [] });
        }
      })
      .catch((e) => this.log(`cannot sign a signal: ${e}`));
  }

  private acceptRemoteSignal(h: U64Hex, origin: PeerHex, via: Via, protocol: string, seq: number, signal: Signal): void {
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
    let inherited: Want[] = [];
    let shadow = false;
    const existing = this.conns.get(origin);
    if (existing && existing.established) {
      // Runs beside the established connection; replaces it only once its
      // HELLO checks out.
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

  private dropSignal(why: string): void {
    this.stats.droppedSignals++;
    this.log(`signal dropped: ${why}`);
  }

  /** Give a remote signal to the connection's RTCPeerConnection (in order). */
  private feed(c: Conn, signal: Signal): void {
    c.chain = c.chain
      .then(async () => {
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
      })
      .catch((e) => this.failConn(c, "transport", `WebRTC refused a signal: ${e}`));
  }

  /** Both ends send HELLO as soon as the channel is open (WIRE.md v2). */
  private onOpened(c: Conn): void {
    if (c.state !== "handshaking") return;
    c.state = "opened";
    void this.sendHello(c);
  }

  /** The channel binding: our certificate's and the remote's fingerprints. */
  private fingerprints(c: Conn): { local: Uint8Array; remote: Uint8Array } | null {
    const local = fingerprintFromSdp(c.pc.localDescription?.sdp ?? "");
    const remote = fingerprintFromSdp(c.pc.remoteDescription?.sdp ?? "");
    return local && remote ? { local, remote } : null;
  }

  private async sendHello(c: Conn): Promise<void> {
    if (c.helloSent) return;
    c.helloSent = true;
    const arcs = new Map<string, number>();
    for (const w of c.wants) arcs.set(w.protocol, (arcs.get(w.protocol) ?? 0) + w.count);
    // The channel can open before the answer (relayed by a bridge) arrives.
    await c.remoteReady;
    const fp = this.fingerprints(c);
    if (!fp) return this.failConn(c, "other", "no DTLS fingerprint in the SDP: the connection cannot be bound");
    const signature = await this.identity.sign(helloTranscript(c.handshake, this.id, c.peer, fp.local, fp.remote));
    const hello = encode({ type: "hello", handshake: c.handshake, peer: this.id, signature, arcs: [...arcs] });
    // The HELLO goes first: frames queued meanwhile wait behind it.
    c.sendQueue.unshift(hello);
    c.helloQueued = true;
    this.pump(c);
  }

  private async onHello(c: Conn, f: Extract<Frame, { type: "hello" }>): Promise<void> {
    await c.remoteReady;
    const fp = this.fingerprints(c);
    const ok =
      fp !== null &&
      f.handshake === c.handshake &&
      f.peer === c.peer &&
      (await verify(f.peer, helloTranscript(f.handshake, f.peer, this.id, fp.remote, fp.local), f.signature));
    if (!ok) {
      this.stats.tampered++;
      this.log(`hello from ${c.peer.slice(0, 10)} does not check out (identity, handshake or channel binding): tampered, closing`);
      return this.failConn(c, "tampered", "the remote's HELLO did not check out (tampered)", "protocol violation");
    }
    await this.sendHello(c);
    if (c.state !== "opened") return;
    if (c.shadow) {
      // The new connection proved the peer: it replaces the old one.
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

  private async onFrame(c: Conn, bytes: Uint8Array): Promise<void> {
    if (c.state === "closed") return;
    let f: Frame;
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
          more: f.more,
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
        // A destination refused an offer (busy): relay to its origin, one
        // small frame per frame received, never past the origin's queue.
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

  private deliver(protocol: string, peer: PeerHex, payload: Uint8Array): void {
    this.emit(protocol, { type: "message", peer, payload });
  }

  private badFrame(c: Conn, why: string): void {
    this.stats.badFrames++;
    c.badFrames++;
    this.log(`bad frame from ${c.peer.slice(0, 10)} (${c.badFrames}): ${why}`);
    if (c.badFrames >= this.config.maxBadFrames) {
      this.log(`too many bad frames from ${c.peer.slice(0, 10)}: closing the connection`);
      if (c.established) this.dropConn(c, "protocol violation");
      else this.failConn(c, "other", "too many bad frames", "protocol violation");
    }
  }

  private addIn(c: Conn, protocol: string, n: number): void {
    const v = (c.inn.get(protocol) ?? 0) + n;
    c.inn.set(protocol, v);
    this.emit(protocol, { type: "arcOpened", peer: c.peer, direction: "in", count: v });
  }

  private addOut(c: Conn, protocol: string, n: number): void {
    if (c.state === "dying") this.revive(c);
    const v = (c.out.get(protocol) ?? 0) + n;
    c.out.set(protocol, v);
    this.emit(protocol, { type: "arcOpened", peer: c.peer, direction: "out", count: v });
    this.onChange();
  }

  private revive(c: Conn): void {
    c.state = "living";
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
  }

  private maybeDying(c: Conn): void {
    if (c.state !== "living" || c.arcTotal() > 0) return;
    c.state = "dying";
    c.timer = setTimeout(() => {
      if (c.state === "dying") this.dropConn(c, null);
    }, this.config.dyingTimeout);
  }

  private resolveWaiter(w: Waiter, failure: FailureName | null): void {
    if (w.kind === "local") {
      if (failure === null) w.resolve();
      else w.reject(new ConnectError(failure, `connect failed: ${failure}`));
    } else {
      const b = this.established(w.bridge);
      if (b) this.sendFrame(b, { type: "connectDone", op: w.op, failure });
    }
  }

  /** A pending connection failed: tell whoever waits, free it. */
  private failConn(c: Conn, failure: FailureName, why: string, reason: CloseReason = "connection lost"): void {
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
  private lost(c: Conn, why: string): void {
    if (c.state === "closed") return;
    if (c.pending) return this.failConn(c, "transport", why);
    this.log(`connection with ${c.peer.slice(0, 10)} lost: ${why}`);
    this.dropConn(c, "connection lost");
  }

  /** Remove `c` from the tables and close it; arcs on it close with `reason` (null: none expected). */
  private dropConn(c: Conn, reason: CloseReason | null): void {
    if (c.state === "closed") return;
    c.state = "closed";
    if (c.timer) clearTimeout(c.timer);
    if (this.conns.get(c.peer) === c) this.conns.delete(c.peer);
    if (this.byHandshake.get(c.handshake) === c) this.byHandshake.delete(c.handshake);
    for (const [dir, m] of [
      ["out", c.out],
      ["in", c.inn],
    ] as const) {
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
      /* already closed */
    }
    this.onChange();
  }

  // ---- sending --------------------------------------------------------

  private sendFrame(c: Conn, f: Frame): void {
    this.sendRaw(c, encode(f));
  }

  private sendRaw(c: Conn, bytes: Uint8Array): void {
    c.sendQueue.push(bytes);
    this.pump(c);
  }

  private pump(c: Conn): void {
    const dc = c.dc;
    if (!dc || dc.readyState !== "open") return;
    // Hold frames back until our HELLO went out (it is unshifted first).
    if (!c.helloQueued) return;
    while (c.sendQueue.length > 0 && dc.bufferedAmount < 1024 * 1024) {
      const f = c.sendQueue.shift() as Uint8Array;
      try {
        dc.send(f as Uint8Array<ArrayBuffer>);
      } catch (e) {
        this.lost(c, `send failed: ${e}`);
        return;
      }
    }
  }

  private emit(protocol: string, e: OverlayEvent): void {
    this.protocols.get(protocol)?.emit(e);
  }

  private log(line: string): void {
    this.onLog(line);
  }
}

function sameVia(a: Via, b: Via): boolean {
  return a.kind === b.kind && (a.kind === "server" || (b.kind === "bridge" && a.bridge === b.bridge));
}

async function addCandidate(pc: RTCPeerConnection, s: Signal): Promise<void> {
  if (s.type === "endOfCandidates") return;
  if (s.type !== "candidate") return;
  let line = s.candidate.trim();
  if (line.startsWith("a=")) line = line.slice(2);
  if (line === "" || line === "end-of-candidates") return;
  try {
    await pc.addIceCandidate({ candidate: line, sdpMid: s.sdpMid ?? "0", sdpMLineIndex: s.sdpMLineIndex ?? 0 });
  } catch {
    // A mid that is not in the remote description: the line index alone.
    await pc.addIceCandidate({ candidate: line, sdpMLineIndex: s.sdpMLineIndex ?? 0 });
  }
}

export { isPeerHex };

// The live page: this tab is one peer of the room. It shows its id, its
// inview and outview, an event log, a message box, and the room's overlay
// graph (drawn from the views peers report when the room allows observing).

import { OverlayNode, type OverlayEvent, type ProtocolHandle } from "./node.js";
import { isPeerHex, type PeerHex } from "./wire.js";

export { OverlayNode, ProtocolHandle };
export * as wire from "./wire.js";

const params = new URLSearchParams(location.search);
const room = params.get("room") ?? "lobby";
const protocolName = params.get("protocol") ?? "n2n-chat";
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
const $ = (id: string) => document.getElementById(id) as HTMLElement;
const short = (p: PeerHex) => p.slice(0, 10);

interface Graph {
  [peer: string]: { out: Record<string, number> };
}

const state = {
  node: null as OverlayNode | null,
  handle: null as ProtocolHandle | null,
  events: [] as OverlayEvent[],
  messages: [] as { peer: PeerHex; text: string; bytes: number }[],
  graph: {} as Graph,
  observing: false,
  observer: null as WebSocket | null,
  joined: null as { contact: PeerHex | null; ms: number } | null,
};
// For the headless test and the curious: window.n2n.
(window as unknown as { n2n: typeof state }).n2n = state;

function log(line: string, cls = ""): void {
  const li = document.createElement("li");
  li.textContent = `${new Date().toISOString().slice(11, 23)} ${line}`;
  if (cls) li.className = cls;
  const ul = $("log");
  ul.prepend(li);
  while (ul.childElementCount > 300) ul.lastElementChild?.remove();
}

function renderViews(): void {
  const h = state.handle;
  const node = state.node;
  if (!h || !node) return;
  for (const [id, view] of [
    ["inview", h.inview()],
    ["outview", h.outview()],
  ] as const) {
    const ul = $(id);
    ul.replaceChildren(
      ...[...view].map(([p, n]) => {
        const li = document.createElement("li");
        li.textContent = `${short(p)}${n > 1 ? ` ×${n}` : ""}`;
        li.title = p;
        return li;
      }),
    );
    if (view.size === 0) ul.innerHTML = "<li class=empty>none</li>";
  }
  $("conns").textContent = node
    .connections()
    .map((c) => `${short(c.peer)} ${c.state} ${c.role} via ${c.via}${c.setupMs !== null ? ` ${c.setupMs.toFixed(0)} ms` : ""}`)
    .join("\n");
  if (!state.observing) {
    state.graph = { [node.id]: { out: Object.fromEntries(h.outview()) } };
    for (const [p] of h.inview()) state.graph[p] = { out: { [node.id]: h.inview().get(p) ?? 1 } };
  }
  drawGraph();
  scheduleReport();
}

let reportTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleReport(): void {
  if (!state.observer || reportTimer) return;
  reportTimer = setTimeout(() => {
    reportTimer = null;
    const h = state.handle;
    const ws = state.observer;
    if (!h || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "view", out: Object.fromEntries(h.outview()) }));
  }, 300);
}

function drawGraph(): void {
  const svg = $("graph");
  const me = state.node?.id;
  const peers = new Set<string>(Object.keys(state.graph));
  for (const v of Object.values(state.graph)) for (const p of Object.keys(v.out)) peers.add(p);
  const list = [...peers].sort();
  const W = 420, H = 320, R = 120, cx = W / 2, cy = H / 2;
  const pos = new Map<string, [number, number]>();
  list.forEach((p, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, list.length) - Math.PI / 2;
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
    const [x, y] = pos.get(p) as [number, number];
    const mine = p === me;
    const reported = p in state.graph;
    out += `<g><circle cx="${x}" cy="${y}" r="13" fill="${mine ? "#2f80ed" : reported ? "#27ae60" : "#bdc3c7"}" stroke="#1d2733"/>`;
    out += `<text x="${x}" y="${y + 28}" text-anchor="middle" font-size="11">${p.slice(0, 6)}${mine ? " (me)" : ""}</text></g>`;
  }
  svg.innerHTML = out;
  $("graph-note").textContent = state.observing
    ? `room graph: ${list.length} peers (views reported to the server; green = reporting)`
    : "room graph off (the server does not allow observing this room): this tab's own arcs";
}

function onEvent(e: OverlayEvent): void {
  state.events.push(e.type === "message" ? { ...e, payload: new Uint8Array(0) } : e);
  if (state.events.length > 1000) state.events.shift();
  switch (e.type) {
    case "arcOpened":
      log(`arc opened ${e.direction} ${short(e.peer)} (×${e.count})`, "ok");
      break;
    case "arcClosed":
      log(`arc closed ${e.direction} ${short(e.peer)} (×${e.count} left): ${e.reason}`, "warn");
      break;
    case "connectFailed":
      log(`connect failed ${e.peer ? short(e.peer) : ""}: ${e.reason}`, "err");
      break;
    case "message": {
      const text = new TextDecoder().decode(e.payload.length > 200 ? e.payload.subarray(0, 200) : e.payload);
      state.messages.push({ peer: e.peer, text: e.payload.length > 200 ? "" : text, bytes: e.payload.length });
      log(`message from ${short(e.peer)} (${e.payload.length} B): ${text}${e.payload.length > 200 ? "…" : ""}`, "msg");
      break;
    }
  }
  renderViews();
}

function resolvePeer(prefix: string): PeerHex {
  const node = state.node as OverlayNode;
  const all = new Set([...node.neighbours(), ...(state.handle?.inview().keys() ?? [])]);
  const m = [...all].filter((p) => p.startsWith(prefix.toLowerCase()));
  if (m.length !== 1) throw new Error(m.length ? `${prefix} is ambiguous` : `no neighbour starts with ${prefix}`);
  return m[0] as PeerHex;
}

async function command(line: string): Promise<void> {
  const h = state.handle as ProtocolHandle;
  const node = state.node as OverlayNode;
  const w = line.trim().split(/\s+/);
  if (!line.startsWith("/")) {
    const to = new Set([...h.inview().keys(), ...h.outview().keys()]);
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

function observe(node: OverlayNode): void {
  const ws = new WebSocket(`${wsBase}/observe?room=${encodeURIComponent(room)}&peer=${node.id}`);
  ws.onmessage = (ev) => {
    try {
      const m = JSON.parse(String(ev.data));
      if (m.type === "graph" && typeof m.peers === "object") {
        if (!state.observing) log("room graph on: this room allows observing", "ok");
        state.observing = true;
        state.graph = m.peers as Graph;
        drawGraph();
      } else if (m.type === "refused") {
        log(`room graph off: ${m.reason}`);
      }
    } catch {
      /* not ours */
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

async function main(): Promise<void> {
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
  ($("say") as HTMLFormElement).onsubmit = (ev) => {
    ev.preventDefault();
    const input = $("text") as HTMLInputElement;
    const line = input.value;
    input.value = "";
    command(line).catch((e) => log(`${e}`, "err"));
  };
  if (params.get("ips") === "1") {
    // Chromium hides host addresses behind mDNS names and, without a
    // default route (a loopback-only test namespace), offers no candidate
    // at all, until the page holds a media permission. ?ips=1 asks for one
    // (tests grant it with --use-fake-ui-for-media-stream).
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const t of s.getTracks()) t.stop();
    } catch (e) {
      log(`ips=1: no media permission (${e}); host candidates stay hidden`, "warn");
    }
  }
  try {
    const t = performance.now();
    const contact = await node.join(`${wsBase}/`, room, protocolName, isPeerHex(params.get("contact")) ? (params.get("contact") as PeerHex) : undefined);
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

// The HELLO exchange when the remote's HELLO arrives before the data
// channel's open event (Chromium can deliver a message on a channel the
// remote opened before firing `open`): our HELLO must still leave once the
// channel opens, or the remote waits until its handshake times out.

import { test } from "node:test";
import assert from "node:assert/strict";

import { OverlayNode } from "../src/node.js";
import { Identity } from "../src/identity.js";
import { decode, encode, helloTranscript } from "../src/wire.js";

const fp = (byte: string) => `a=fingerprint:sha-256 ${Array(32).fill(byte).join(":")}`;
const OURS = fp("11");
const THEIRS = fp("22");

class FakePc {
  localDescription = { type: "answer", sdp: `v=0\r\n${OURS}\r\n` };
  remoteDescription = { type: "offer", sdp: `v=0\r\n${THEIRS}\r\n` };
  close(): void {}
}

class FakeChannel {
  readyState = "connecting";
  bufferedAmount = 0;
  binaryType = "";
  bufferedAmountLowThreshold = 0;
  sent: Uint8Array[] = [];
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onbufferedamountlow: (() => void) | null = null;
  send(b: Uint8Array): void {
    if (this.readyState !== "open") throw new Error("send on a channel that is not open");
    this.sent.push(b);
  }
  close(): void {}
}

async function until(f: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(f(), what);
}

test("a HELLO that arrives before the channel's open event: ours is sent once it opens", async () => {
  (globalThis as Record<string, unknown>).RTCPeerConnection = FakePc;
  const node = await OverlayNode.create({ pendingTimeout: 60_000 });
  const remote = await Identity.generate();
  const handshake = "0123456789abcdef";
  // The node's private connection table, reached as the page never does.
  const n = node as unknown as {
    newConn(peer: string, handshake: string, role: string, via: { kind: string }, protocol: string): Record<string, unknown>;
    wireChannel(c: unknown, dc: FakeChannel): void;
  };
  const c = n.newConn(remote.id, handshake, "acceptor", { kind: "server" }, "p");
  (c.markRemoteSet as () => void)();
  const dc = new FakeChannel();
  n.wireChannel(c, dc);

  // The remote's HELLO, signed over both fingerprints (its own first).
  const theirs = new Uint8Array(32).fill(0x22);
  const ours = new Uint8Array(32).fill(0x11);
  const signature = await remote.sign(helloTranscript(handshake, remote.id, node.id, theirs, ours));
  const bytes = encode({ type: "hello", handshake, peer: remote.id, signature, arcs: [["p", 1]] });
  dc.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  await until(() => c.state === "living", "the remote's HELLO checks out");
  assert.equal(dc.sent.length, 0, "nothing can be sent before the channel is open");

  dc.readyState = "open";
  dc.onopen?.();
  await until(() => dc.sent.length > 0, "our HELLO leaves once the channel is open");
  const hello = decode(dc.sent[0] as Uint8Array);
  assert.equal(hello.type, "hello");
  assert.equal(hello.type === "hello" && hello.peer, node.id);
  clearTimeout(c.timer as ReturnType<typeof setTimeout>);
});

// The signaling client passes on every field of a relayed envelope that its
// signature covers: a bundle's `more` signals (WIRE.md, "Bundles") dropped
// here would make every bundled answer from a Rust peer fail its check.

import { test } from "node:test";
import assert from "node:assert/strict";

import { SignalingClient, type Envelope } from "../src/signaling.js";

class FakeSocket {
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  send(): void {}
  close(): void {}
}

test("a relayed envelope keeps its bundle's next signals", () => {
  const ws = new FakeSocket();
  const Client = SignalingClient as unknown as new (ws: FakeSocket) => SignalingClient;
  const client = new Client(ws);
  const got: Envelope[] = [];
  client.onSignal = (e) => got.push(e);
  const envelope = {
    handshake: "00000000000000ab",
    from: "a".repeat(64),
    to: "b".repeat(64),
    protocol: "p",
    seq: 0,
    signature: "c".repeat(128),
    signal: { type: "answer", sdp: "v=0" },
    more: [{ type: "endOfCandidates" }],
  };
  ws.onmessage?.({ data: JSON.stringify({ type: "signal", envelope }) });
  ws.onmessage?.({ data: JSON.stringify({ type: "signal", envelope: { ...envelope, more: undefined } }) });
  assert.equal(got.length, 2);
  assert.deepEqual(got[0]?.more, [{ type: "endOfCandidates" }]);
  assert.equal(got[1]?.more, undefined, "a single signal has no bundle");
});

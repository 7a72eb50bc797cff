// The shared wire vectors (docs/vectors/wire-v1.json, produced by the Rust
// codec) against the TypeScript codec: same bytes, same decoding, same errors,
// same HELLO signatures (WebCrypto Ed25519).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

import { decode, DecodeError, encode, fingerprintFromSdp, fromHex, helloTranscript, messageFrames, Reassembler, signalJson, signalTranscript, toHex, type Frame } from "../src/wire.js";
import { Identity, verify } from "../src/identity.js";
import { joinProof } from "../src/signaling.js";

const here = dirname(fileURLToPath(import.meta.url));
// build/test/ -> repository root
const vectors = JSON.parse(readFileSync(join(here, "../../../../docs/vectors/wire-v2.json"), "utf8"));

/** A decoded frame in the vectors' JSON shape (bytes as hex). */
function shape(f: Frame): unknown {
  const o: Record<string, unknown> = { ...f };
  for (const k of ["payload", "chunk", "signature"]) if (o[k] instanceof Uint8Array) o[k] = toHex(o[k] as Uint8Array);
  return o;
}

/** The vectors' JSON shape back to a frame (hex to bytes). */
function unshape(v: Record<string, unknown>): Frame {
  const o: Record<string, unknown> = { ...v };
  for (const k of ["payload", "chunk", "signature"]) if (typeof o[k] === "string") o[k] = fromHex(o[k] as string);
  return o as unknown as Frame;
}

test("every vector frame decodes as the Rust codec says and re-encodes to the same bytes", () => {
  assert.ok(vectors.frames.length >= 10);
  for (const c of [...vectors.frames, ...vectors.hellos]) {
    const f = decode(fromHex(c.hex));
    assert.deepEqual(JSON.parse(JSON.stringify(shape(f))), c.frame, c.name);
    assert.equal(toHex(encode(unshape(c.frame))), c.hex, `${c.name}: encode`);
  }
});

test("every malformed vector is refused with the stated error", () => {
  for (const c of vectors.malformed) {
    assert.throws(
      () => decode(fromHex(c.hex), vectors.maxFrame),
      (e: unknown) => e instanceof DecodeError && e.kind === c.error,
      c.name,
    );
  }
});

test("signed HELLOs: same transcript, same signature from the same seed, and they verify", async () => {
  for (const c of vectors.hellos) {
    const id = await Identity.fromSeed(fromHex(c.secret));
    assert.equal(id.id, c.sender, `${c.name}: public key from seed`);
    const sfp = fromHex(c.senderFingerprint);
    const rfp = fromHex(c.receiverFingerprint);
    const t = helloTranscript(c.frame.handshake, c.sender, c.receiver, sfp, rfp);
    assert.equal(toHex(t), c.transcript, c.name);
    assert.equal(t.length, 157);
    assert.equal(toHex(await id.sign(t)), c.frame.signature, `${c.name}: Ed25519 is deterministic`);
    assert.ok(await verify(c.sender, t, fromHex(c.frame.signature)), c.name);
    // Another receiver, a relay's certificate in the middle, or a flipped bit: fails.
    assert.ok(!(await verify(c.sender, helloTranscript(c.frame.handshake, c.sender, c.sender, sfp, rfp), fromHex(c.frame.signature))));
    const relay = new Uint8Array(32).fill(0xcc);
    assert.ok(!(await verify(c.sender, helloTranscript(c.frame.handshake, c.sender, c.receiver, relay, rfp), fromHex(c.frame.signature))));
    const bad = fromHex(c.frame.signature);
    bad[0] = (bad[0] ?? 0) ^ 1;
    assert.ok(!(await verify(c.sender, t, bad)));
  }
});

test("signed envelopes: same bytes signed, same signature, and they verify", async () => {
  assert.ok(vectors.signals.length >= 5);
  for (const c of vectors.signals) {
    const e = c.envelope;
    const id = await Identity.fromSeed(fromHex(c.secret));
    assert.equal(id.id, e.from, c.name);
    const more = e.more ?? [];
    const t = signalTranscript(e.from, e.to ?? null, e.handshake, e.seq, e.signal, more);
    assert.equal(toHex(t), c.transcript, c.name);
    assert.equal(toHex(await id.sign(t)), e.signature, `${c.name}: signature`);
    assert.ok(await verify(e.from, t, fromHex(e.signature)), c.name);
    // The JSON we would send for the signal is the JSON the Rust side sent.
    assert.deepEqual(JSON.parse(signalJson(e.signal)), e.signal, c.name);
    // Redirected (another destination) or renumbered: fails.
    assert.ok(!(await verify(e.from, signalTranscript(e.from, e.from, e.handshake, e.seq, e.signal), fromHex(e.signature))));
    assert.ok(!(await verify(e.from, signalTranscript(e.from, e.to ?? null, e.handshake, e.seq + 1, e.signal, more), fromHex(e.signature))));
    if (more.length > 0) {
      // A bundle cut short by a relay: fails.
      const cut = signalTranscript(e.from, e.to ?? null, e.handshake, e.seq, e.signal, more.slice(0, -1));
      assert.ok(!(await verify(e.from, cut, fromHex(e.signature))), `${c.name}: cut`);
    }
  }
  assert.ok(vectors.signals.some((c: { envelope: { more?: unknown[] } }) => (c.envelope.more ?? []).length > 0), "a bundle vector");
});

test("certificate fingerprints from SDP, as the Rust side reads them", () => {
  assert.ok(vectors.fingerprints.length >= 4);
  for (const c of vectors.fingerprints) {
    const f = fingerprintFromSdp(c.sdp);
    assert.equal(f === null ? null : toHex(f), c.fingerprint, c.name);
  }
});

test("a message larger than a frame splits and reassembles whole", () => {
  const msg = new Uint8Array(200_000).map((_, i) => i * 7);
  const frames = messageFrames("n2n-chat", msg);
  assert.ok(frames.length === 4);
  for (const f of frames) assert.ok(f.length <= 65536);
  const r = new Reassembler();
  let got: Uint8Array | undefined;
  for (const b of frames) {
    const f = decode(b);
    const out = f.type === "dataStart" ? r.start(f.protocol, f.totalLen, f.chunk) : f.type === "dataCont" ? r.cont(f.chunk) : { error: "?" };
    assert.equal(out.error, undefined);
    if (out.message) got = out.message[1];
  }
  assert.deepEqual(got, msg);
  assert.ok(r.start("p", 2_000_000, new Uint8Array(1)).error?.includes("limit"));
  assert.ok(new Reassembler().cont(new Uint8Array(1)).error?.includes("continuation"));
});

test("random bytes never throw anything but DecodeError", () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(rnd() % 80).map(() => rnd());
    if (b.length > 0) b[0] = 1;
    try {
      decode(b);
    } catch (e) {
      assert.ok(e instanceof DecodeError, String(e));
    }
  }
});

test("signaling v2 join proof: the test vector of docs/SIGNALING.md", async () => {
  const id = await Identity.fromSeed(new Uint8Array(32).fill(1));
  assert.equal(id.id, "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
  const msg = joinProof(new Uint8Array(32).fill(2), id.id, "lobby");
  assert.equal(msg.length, 99);
  assert.equal(
    toHex(await id.sign(msg)),
    "7a982add71dd74f8e17e9b6e89a8e3558ff851ac793c39a6ed5cefa10974122d6f5167bde8e8d6c7a2a26b6c37e51ff446050510ddc0353576124096b703fe0a",
  );
  assert.throws(() => joinProof(new Uint8Array(32), id.id, ""));
  assert.throws(() => joinProof(new Uint8Array(32), id.id, "x".repeat(65)));
});

// A peer's long-term identity: an Ed25519 key pair in WebCrypto. The peer id
// is the raw 32-byte public key (64 hex digits), as in WIRE.md.

import { fromHex, toHex, type PeerHex } from "./wire.js";

const ED = { name: "Ed25519" } as const;
// PKCS#8 prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");

export class Identity {
  private constructor(
    readonly id: PeerHex,
    private readonly privateKey: CryptoKey,
  ) {}

  /** A fresh identity (WebCrypto Ed25519: Chromium 113+, Node 20). */
  static async generate(): Promise<Identity> {
    const pair = (await crypto.subtle.generateKey(ED, true, ["sign", "verify"])) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return new Identity(toHex(raw), pair.privateKey);
  }

  /** The identity of a 32-byte Ed25519 seed (tests, the shared vectors). */
  static async fromSeed(seed: Uint8Array): Promise<Identity> {
    if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
    const pkcs8 = new Uint8Array(48);
    pkcs8.set(PKCS8_PREFIX);
    pkcs8.set(seed, 16);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, ED, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const x = jwk.x ?? "";
    const pub = Uint8Array.from(atob(x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    return new Identity(toHex(pub), privateKey);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign(ED, this.privateKey, data));
  }
}

/** Whether `signature` is `peer`'s Ed25519 signature of `data`. Never throws. */
export async function verify(peer: PeerHex, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey("raw", fromHex(peer), ED, false, ["verify"]);
    return await crypto.subtle.verify(ED, key, signature, data);
  } catch {
    return false;
  }
}

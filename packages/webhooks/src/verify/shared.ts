import { createHmac, timingSafeEqual } from "node:crypto";

/** Request headers with lower-case names, as node:http gives them. */
export type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** What a scheme concluded: verified, or why not (never holding a secret). */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** What every scheme is given. */
export interface VerifyInput {
  rawBody: Uint8Array;
  headers: Headers;
  /** Epoch ms. */
  now: number;
  /** The secrets valid now, newest first (at least one). */
  secrets: readonly string[];
  /** Seconds a signed timestamp may be off. */
  tolerance: number;
}

/** A header's single value; `null` when missing or sent more than once. */
export function header(headers: Headers, name: string): string | null {
  const v = headers[name];
  if (typeof v === "string") return v;
  return null;
}

/** HMAC-SHA256 of `parts` joined. */
export function hmac(key: Uint8Array | string, ...parts: (Uint8Array | string)[]): Buffer {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Constant-time comparison of two digests (different lengths are simply unequal). */
export function sameDigest(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Decodes a hex digest; `null` when it is not hex of even length. */
export function fromHex(text: string): Buffer | null {
  return text.length % 2 === 0 && HEX.test(text) ? Buffer.from(text, "hex") : null;
}

/** Decodes a base64 digest (standard alphabet, or url-safe); `null` when it is not base64. */
export function fromBase64(text: string): Buffer | null {
  const std = text.replaceAll("-", "+").replaceAll("_", "/");
  return BASE64.test(std) ? Buffer.from(std, "base64") : null;
}

/** Whether a signed unix timestamp (seconds, as text) is within `tolerance` of now. */
export function checkTimestamp(text: string, now: number, tolerance: number): VerifyResult {
  if (!/^\d{1,12}$/.test(text))
    return { ok: false, reason: "the signed timestamp is not a number of seconds" };
  const skew = Math.abs(now / 1000 - Number(text));
  if (skew > tolerance) {
    return {
      ok: false,
      reason: `the signed timestamp is ${Math.floor(skew)} s from the server's clock (allowed: ${tolerance} s); a replay or a clock off`,
    };
  }
  return { ok: true };
}

export const MISMATCH: VerifyResult = {
  ok: false,
  reason: "the signature does not match any of the source's secrets",
};

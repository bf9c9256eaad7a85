/**
 * `x-inngest-event-id-seed`: `<millis>,<base64 of 10 random bytes>`, sent by the Inngest SDK
 * and identical on every retry of one send, so the server can give a retried request the same
 * ULIDs. Event i (0-based) gets ULID(millis, entropy with bytes 6..9, read as a big-endian
 * uint32, plus i + 1 wrapping at 2^32).
 */

import { encodeTime } from "ulid";
import { EvtSchemaError } from "./errors";
import { encode40 } from "./ulid";

/** A parsed event-id seed: the time part and the 10 entropy bytes. */
export type EventIdSeed = { millis: number; entropy: Uint8Array };

/** Largest time a ULID can hold (2^48 - 1 ms). */
const ULID_TIME_MAX = 2 ** 48 - 1;
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Parses an `x-inngest-event-id-seed` header. Returns `null` when it is absent or malformed
 * (not two comma-separated parts, millis not a positive integer that fits a ULID, entropy not
 * standard base64 of exactly 10 bytes): the caller then generates fresh ids, as Inngest does.
 *
 * @example
 * ```ts
 * import { parseEventIdSeed } from "@evt/schema";
 * parseEventIdSeed("1700000000000,AAECAwQFBgcICQ=="); // { millis: 1700000000000, entropy: Uint8Array(10) }
 * parseEventIdSeed("garbage"); // null
 * ```
 */
export function parseEventIdSeed(header: string | null | undefined): EventIdSeed | null {
  if (typeof header !== "string") return null;
  const parts = header.trim().split(",");
  if (parts.length !== 2) return null;
  const millisText = parts[0]!.trim();
  if (!/^[0-9]{1,16}$/.test(millisText)) return null;
  const millis = Number(millisText);
  if (millis <= 0 || millis > ULID_TIME_MAX) return null;
  const entropy = decodeBase64(parts[1]!.trim());
  if (entropy === null || entropy.length !== 10) return null;
  return { millis, entropy };
}

/**
 * The ULIDs of the first `count` events of a request sent with `seed`: the same seed always
 * gives the same ids, so a retried request is recognised.
 *
 * @throws {EvtSchemaError} `invalid_seed` when `seed` was not made by `parseEventIdSeed`
 *   (millis out of range, entropy not 10 bytes) or `count` is not a non-negative integer.
 * @example
 * ```ts
 * import { deriveEventIds, parseEventIdSeed } from "@evt/schema";
 * const seed = parseEventIdSeed("1700000000000,AAECAwQFBgcICQ==");
 * if (seed) deriveEventIds(seed, 2); // ["01HF7YAT00000G40R40M30E20A", "01HF7YAT00000G40R40M30E20B"]
 * ```
 */
export function deriveEventIds(seed: EventIdSeed, count: number): string[] {
  const { millis, entropy } = seed;
  if (!Number.isInteger(millis) || millis <= 0 || millis > ULID_TIME_MAX) {
    throw new EvtSchemaError(
      "invalid_seed",
      `deriveEventIds: seed.millis is ${String(millis)} (allowed: an integer in [1, 2^48 - 1])`,
    );
  }
  if (!(entropy instanceof Uint8Array) || entropy.length !== 10) {
    throw new EvtSchemaError(
      "invalid_seed",
      `deriveEventIds: seed.entropy is ${entropy instanceof Uint8Array ? `${entropy.length} bytes` : typeof entropy} (allowed: a Uint8Array of exactly 10 bytes)`,
    );
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new EvtSchemaError(
      "invalid_seed",
      `deriveEventIds: count is ${String(count)} (allowed: a non-negative integer)`,
    );
  }
  // Bytes 0..4 never change: encode them once. Bytes 5..9 = byte 5 and the counter word.
  const head =
    encodeTime(millis, 10) +
    encode40(
      entropy[0]! * 2 ** 32 +
        ((entropy[1]! << 24) >>> 0) +
        (entropy[2]! << 16) +
        (entropy[3]! << 8) +
        entropy[4]!,
    );
  const byte5 = entropy[5]! * 2 ** 32;
  const word = ((entropy[6]! << 24) >>> 0) + (entropy[7]! << 16) + (entropy[8]! << 8) + entropy[9]!;
  const ids: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const counter = (word + i + 1) % 2 ** 32;
    ids[i] = head + encode40(byte5 + counter);
  }
  return ids;
}

/**
 * A fresh seed header value, `<millis>,<base64 of 10 random bytes>`, as the Inngest SDK sends:
 * send the same value on every retry of one request.
 *
 * @example
 * ```ts
 * import { createEventIdSeed } from "@evt/schema";
 * const headers = { "x-inngest-event-id-seed": createEventIdSeed() };
 * ```
 */
export function createEventIdSeed(now: number = Date.now()): string {
  const bytes = new Uint8Array(10);
  const crypto = globalThis.crypto;
  if (crypto === undefined || typeof crypto.getRandomValues !== "function") {
    throw new EvtSchemaError(
      "invalid_seed",
      "createEventIdSeed: globalThis.crypto.getRandomValues is required (Node.js >= 20, browsers, edge runtimes)",
    );
  }
  crypto.getRandomValues(bytes);
  return `${Math.floor(now)},${encodeBase64(bytes)}`;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const b2 = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    out += BASE64[b0 >> 2]! + BASE64[((b0 & 3) << 4) | (b1 >> 4)]!;
    out += i + 1 < bytes.length ? BASE64[((b1 & 15) << 2) | (b2 >> 6)]! : "=";
    out += i + 2 < bytes.length ? BASE64[b2 & 63]! : "=";
  }
  return out;
}

/** Standard base64, padding optional; `null` on any other character or a bad length. */
export function decodeBase64(text: string): Uint8Array | null {
  let body = text;
  if (body.endsWith("==")) body = body.slice(0, -2);
  else if (body.endsWith("=")) body = body.slice(0, -1);
  if (body.length % 4 === 1) return null;
  if (text.length !== body.length && text.length % 4 !== 0) return null;
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const digit = BASE64.indexOf(body[i]!);
    if (digit < 0) return null;
    value = ((value << 6) | digit) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

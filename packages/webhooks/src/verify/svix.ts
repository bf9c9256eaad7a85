import {
  checkTimestamp,
  fromBase64,
  header,
  hmac,
  MISMATCH,
  sameDigest,
  type VerifyInput,
  type VerifyResult,
} from "./shared";

/** The key of a Standard Webhooks secret: the bytes after `whsec_`, base64-decoded. */
export function svixKey(secret: string): Buffer | null {
  if (!secret.startsWith("whsec_")) return null;
  const key = fromBase64(secret.slice(6));
  return key === null || key.length === 0 ? null : key;
}

/**
 * Standard Webhooks (Svix; used by Clerk and Resend): `svix-id`, `svix-timestamp` (unix
 * seconds, within the tolerance) and `svix-signature`, space-separated `v1,<base64>` entries;
 * each is HMAC-SHA256 over `${id}.${timestamp}.${body}` keyed by the `whsec_` secret's bytes.
 * The `webhook-*` header names of the spec are read too.
 */
export function verifySvix(input: VerifyInput): VerifyResult {
  const h = input.headers;
  const id = header(h, "svix-id") ?? header(h, "webhook-id");
  const ts = header(h, "svix-timestamp") ?? header(h, "webhook-timestamp");
  const sig = header(h, "svix-signature") ?? header(h, "webhook-signature");
  if (id === null || ts === null || sig === null) {
    return { ok: false, reason: "missing svix-id, svix-timestamp or svix-signature header" };
  }
  const fresh = checkTimestamp(ts, input.now, input.tolerance);
  if (!fresh.ok) return fresh;
  const given: Buffer[] = [];
  for (const entry of sig.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    const digest = fromBase64(entry.slice(comma + 1));
    if (digest !== null) given.push(digest);
  }
  if (given.length === 0) return { ok: false, reason: "svix-signature holds no v1,<base64> entry" };
  for (const secret of input.secrets) {
    const key = svixKey(secret);
    if (key === null) continue;
    const expected = hmac(key, `${id}.${ts}.`, input.rawBody);
    if (given.some((g) => sameDigest(expected, g))) return { ok: true };
  }
  return MISMATCH;
}

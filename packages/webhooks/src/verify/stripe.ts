import {
  checkTimestamp,
  fromHex,
  header,
  hmac,
  MISMATCH,
  sameDigest,
  type VerifyInput,
  type VerifyResult,
} from "./shared";

/**
 * Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`; each `v1` is
 * HMAC-SHA256 over `${t}.${body}` keyed by the endpoint secret (`whsec_...`, used as text). `t`
 * must be within the tolerance.
 */
export function verifyStripe(input: VerifyInput): VerifyResult {
  const value = header(input.headers, "stripe-signature");
  if (value === null) return { ok: false, reason: "missing Stripe-Signature header" };
  let t: string | null = null;
  const given: Buffer[] = [];
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === "t") t = v;
    else if (k === "v1") {
      const d = fromHex(v);
      if (d !== null) given.push(d);
    }
  }
  if (t === null || given.length === 0) {
    return { ok: false, reason: "Stripe-Signature needs t=<seconds> and at least one v1=<hex>" };
  }
  const fresh = checkTimestamp(t, input.now, input.tolerance);
  if (!fresh.ok) return fresh;
  for (const secret of input.secrets) {
    const expected = hmac(secret, `${t}.`, input.rawBody);
    if (given.some((g) => sameDigest(expected, g))) return { ok: true };
  }
  return MISMATCH;
}

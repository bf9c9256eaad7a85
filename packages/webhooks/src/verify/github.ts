import {
  fromHex,
  header,
  hmac,
  MISMATCH,
  sameDigest,
  type VerifyInput,
  type VerifyResult,
} from "./shared";

/** GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 over the raw body keyed by the secret. */
export function verifyGithub(input: VerifyInput): VerifyResult {
  const value = header(input.headers, "x-hub-signature-256");
  if (value === null) return { ok: false, reason: "missing X-Hub-Signature-256 header" };
  const given = value.startsWith("sha256=") ? fromHex(value.slice(7)) : null;
  if (given === null) return { ok: false, reason: "X-Hub-Signature-256 must be sha256=<hex>" };
  for (const secret of input.secrets) {
    if (sameDigest(hmac(secret, input.rawBody), given)) return { ok: true };
  }
  return MISMATCH;
}

import type { VerifyConfig } from "../types";
import { verifyGithub } from "./github";
import { verifyHmac } from "./hmac";
import type { Headers, VerifyResult } from "./shared";
import { verifyStripe } from "./stripe";
import { verifySvix } from "./svix";

export type { Headers, VerifyResult } from "./shared";

/**
 * Checks a request against a source's verification: the scheme's signature with every secret
 * valid at `now` (rotation overlap), compared in constant time. `none` always passes (whether it
 * is allowed is decided when the source is defined).
 *
 * @example
 * ```ts
 * import { verifyRequest } from "@evt/webhooks";
 * const result = verifyRequest(
 *   { scheme: "github", secrets: [{ secret: "s3cret", expiresAt: null }], tolerance: 300 },
 *   { rawBody, headers: req.headers, now: Date.now() },
 * );
 * if (!result.ok) console.log(result.reason); // "the signature does not match any of the source's secrets"
 * ```
 */
export function verifyRequest(
  config: VerifyConfig,
  request: { rawBody: Uint8Array; headers: Headers; now: number },
): VerifyResult {
  if (config.scheme === "none") return { ok: true };
  const secrets = config.secrets
    .filter((s) => s.expiresAt === null || s.expiresAt > request.now)
    .map((s) => s.secret);
  if (secrets.length === 0) return { ok: false, reason: "the source has no secret valid now" };
  const input = { ...request, secrets, tolerance: config.tolerance };
  switch (config.scheme) {
    case "svix":
      return verifySvix(input);
    case "stripe":
      return verifyStripe(input);
    case "github":
      return verifyGithub(input);
    case "hmac":
      return verifyHmac(input, {
        header: config.header ?? "x-signature",
        encoding: config.encoding ?? "hex",
        prefix: config.prefix ?? "",
      });
  }
}

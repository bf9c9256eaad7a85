import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import canonicalize from "canonicalize";
import { FunctionsError } from "./errors";

const WHERE = "signing";
const PREFIX = /^signkey-\w+-/;
const PREFIXED = /^signkey-(\w+)-(.*)$/s;
const HEX = /^[0-9a-fA-F]+$/;

/** A signing key that passed {@link parseSigningKey}. */
export interface SigningKey {
  /** The key exactly as given, prefix included. */
  key: string;
  /** The `<env>` of `signkey-<env>-…`, or `null` for a bare hex key. */
  env: string | null;
}

/**
 * Checks a signing key: `signkey-<env>-<hex>` (`<env>` is letters, digits or `_`) or bare
 * `<hex>`, the hex part of even, non-zero length. Throws a `FunctionsError`
 * (`invalid_input`) naming `what` and the rule broken; the message never contains the key.
 *
 * @param value - The key, e.g. from `INNGEST_SIGNING_KEY`.
 * @param what - How the key is named in error messages.
 * @example
 * ```ts
 * import { parseSigningKey } from "@evt/functions";
 *
 * const { env } = parseSigningKey(process.env.EVT_SIGNING_KEY ?? "", "EVT_SIGNING_KEY");
 * // "signkey-prod-4f3a…" -> env "prod"; "4f3a…" -> env null
 * ```
 */
export function parseSigningKey(value: string, what = "signing key"): SigningKey {
  const allowed =
    'allowed: "signkey-<env>-<hex>" (env of letters, digits, _) or bare hex, of even length';
  if (typeof value !== "string" || value.length === 0) {
    throw new FunctionsError(WHERE, "invalid_input", `${what} is empty; ${allowed}`);
  }
  let env: string | null = null;
  let hex = value;
  if (value.startsWith("signkey-")) {
    const match = PREFIXED.exec(value);
    if (!match) {
      throw new FunctionsError(
        WHERE,
        "invalid_input",
        `${what} starts with "signkey-" but has no "<env>-" after it; ${allowed}`,
      );
    }
    env = match[1] as string;
    hex = match[2] as string;
    if (hex.length === 0) {
      throw new FunctionsError(
        WHERE,
        "invalid_input",
        `${what} has no hex after its prefix; ${allowed}`,
      );
    }
  }
  if (!HEX.test(hex)) {
    throw new FunctionsError(
      WHERE,
      "invalid_input",
      `${what} holds a character that is not hex (0-9, a-f)${env === null ? " and has no signkey-<env>- prefix" : " after its prefix"}; ${allowed}`,
    );
  }
  if (hex.length % 2 !== 0) {
    throw new FunctionsError(
      WHERE,
      "invalid_input",
      `${what} has an odd number of hex characters (${hex.length}); ${allowed}`,
    );
  }
  return { key: value, env };
}

/**
 * The `X-Inngest-Signature` header value evt sends with a request to an SDK app:
 * `t=<unix seconds>&s=<hex>`, where `s` is HMAC-SHA256, keyed by the signing key without
 * its `signkey-<env>-` prefix (as UTF-8 text, not hex-decoded), over the RFC 8785 (JCS)
 * form of `body` followed by `t`. The SDK re-parses and canonicalizes the body before it
 * checks, so the key order of `body` does not matter. An empty body (a GET) signs `"" + t`.
 *
 * Throws a `FunctionsError` (`invalid_input`) when `body` is not JSON, the key is malformed
 * or `nowMs` is not a finite number.
 *
 * @param body - The exact request body (JSON text), or `""` for a GET.
 * @param signingKey - The app's signing key (see {@link parseSigningKey}).
 * @param nowMs - The current time in milliseconds; the SDK refuses `t` more than 5 minutes off.
 * @example
 * ```ts
 * import { signRequest } from "@evt/functions";
 *
 * const body = JSON.stringify({ event, events: [event], steps: {}, ctx, version: -1 });
 * await fetch(stepUrl, {
 *   method: "POST",
 *   headers: { "content-type": "application/json", "x-inngest-signature": signRequest(body, key) },
 *   body,
 * });
 * ```
 */
export function signRequest(body: string, signingKey: string, nowMs: number = Date.now()): string {
  parseSigningKey(signingKey);
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs)) {
    throw new FunctionsError(
      WHERE,
      "invalid_input",
      "nowMs must be a finite number of milliseconds",
    );
  }
  if (typeof body !== "string") {
    throw new FunctionsError(
      WHERE,
      "invalid_input",
      "body must be the request's JSON text (a string)",
    );
  }
  const t = String(Math.floor(nowMs / 1000));
  let signed = "";
  if (body !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (error) {
      throw new FunctionsError(
        WHERE,
        "invalid_input",
        'body is not JSON; sign the exact JSON text you send, or "" for a GET',
        { cause: error },
      );
    }
    // The SDK signs a body that parses to a string as that string, not as its JSON form.
    signed = typeof parsed === "string" ? parsed : (canonicalize(parsed) ?? "");
  }
  const s = createHmac("sha256", Buffer.from(signingKey.replace(PREFIX, ""), "utf8"))
    .update(signed + t, "utf8")
    .digest("hex");
  return `t=${t}&s=${s}`;
}

/**
 * The hashed form of a signing key that the SDK sends as `Authorization: Bearer <hash>` on
 * `POST /fn/register`: the `signkey-<env>-` prefix (if any) followed by
 * hex(SHA-256(hex-decoded key without the prefix)). Throws a `FunctionsError`
 * (`invalid_input`) for a malformed key.
 *
 * @example
 * ```ts
 * import { hashSigningKey } from "@evt/functions";
 *
 * hashSigningKey("signkey-prod-" + "a1".repeat(32)); // "signkey-prod-<64 hex>"
 * ```
 */
export function hashSigningKey(key: string): string {
  parseSigningKey(key);
  const prefix = PREFIX.exec(key)?.[0] ?? "";
  const digest = createHash("sha256")
    .update(Buffer.from(key.slice(prefix.length), "hex"))
    .digest("hex");
  return prefix + digest;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * `true` when the `Authorization` header of a `/fn/register` request carries one of
 * `signingKeys`, hashed (what the SDK sends, see {@link hashSigningKey}) or plain. As in
 * Inngest's Go server, the `signkey-<env>-` prefix is ignored on both sides (it is not
 * secret); the hex is compared in constant time. A missing header, `Bearer undefined`
 * (the SDK without a key) or an empty key list give `false`. Throws a `FunctionsError`
 * (`invalid_input`) if one of `signingKeys` is malformed.
 *
 * @example
 * ```ts
 * import { checkRegisterAuth } from "@evt/functions";
 *
 * if (!checkRegisterAuth(req.headers.authorization, [key, fallbackKey])) {
 *   return json(401, { error: "invalid signing key", status: 401 });
 * }
 * ```
 */
export function checkRegisterAuth(
  authorization: string | undefined,
  signingKeys: readonly string[],
): boolean {
  const forms: string[] = [];
  signingKeys.forEach((key, i) => {
    parseSigningKey(key, `signingKeys[${i}]`);
    forms.push(key.replace(PREFIX, ""), hashSigningKey(key).replace(PREFIX, ""));
  });
  if (typeof authorization !== "string") return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return false;
  const token = (match[1] as string).replace(PREFIX, "");
  if (!HEX.test(token)) return false; // also refuses "undefined"
  let ok = false;
  for (const form of forms) ok = sameText(token.toLowerCase(), form.toLowerCase()) || ok;
  return ok;
}

import {
  fromBase64,
  fromHex,
  header,
  hmac,
  MISMATCH,
  sameDigest,
  type VerifyInput,
  type VerifyResult,
} from "./shared";

/** Where the generic scheme finds its signature. */
export interface HmacOptions {
  /** Header name, lower-case. */
  header: string;
  encoding: "hex" | "base64";
  /** Text before the digest, like `sha256=`. @default "" */
  prefix: string;
}

/** Generic: HMAC-SHA256 over the raw body keyed by the secret, in a header of your choice. */
export function verifyHmac(input: VerifyInput, options: HmacOptions): VerifyResult {
  const value = header(input.headers, options.header);
  if (value === null) return { ok: false, reason: `missing ${options.header} header` };
  if (!value.startsWith(options.prefix)) {
    return {
      ok: false,
      reason: `${options.header} must start with ${JSON.stringify(options.prefix)}`,
    };
  }
  const text = value.slice(options.prefix.length).trim();
  const given = options.encoding === "hex" ? fromHex(text) : fromBase64(text);
  if (given === null) return { ok: false, reason: `${options.header} is not ${options.encoding}` };
  for (const secret of input.secrets) {
    if (sameDigest(hmac(secret, input.rawBody), given)) return { ok: true };
  }
  return MISMATCH;
}

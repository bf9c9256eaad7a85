/** A parsed request body, or why it cannot be read (400: malformed, 415: a type not read). */
export type ParsedBody =
  | { ok: true; value: unknown }
  | { ok: false; status: 400 | 415; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The content types a webhook body may have. */
export const BODY_TYPES = "application/json (or */*+json), application/x-www-form-urlencoded";

/**
 * Parses a webhook body by its content type; the raw bytes stay the caller's (signatures are
 * checked over them, not over the parsed value).
 * - JSON (`application/json`, `*\/*+json`, or no content type): the value; an empty body is `{}`.
 * - `application/x-www-form-urlencoded`: an object of the fields (a repeated field gives an
 *   array). A form whose only field is `payload` holding JSON (GitHub's form deliveries, Slack's
 *   interactivity) reads as that JSON.
 *
 * @example
 * ```ts
 * import { parseBody } from "@evt/webhooks";
 * parseBody(Buffer.from("a=1&a=2&b=x"), "application/x-www-form-urlencoded"); // { ok: true, value: { a: ["1", "2"], b: "x" } }
 * ```
 */
export function parseBody(raw: Uint8Array, contentType: string | undefined): ParsedBody {
  const type = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  const json = type === "" || type === "application/json" || type.endsWith("+json");
  const form = type === "application/x-www-form-urlencoded";
  if (!json && !form) {
    return {
      ok: false,
      status: 415,
      reason: `content-type ${JSON.stringify(type.slice(0, 100))} is not read (allowed: ${BODY_TYPES})`,
    };
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, status: 400, reason: "the body is not valid UTF-8" };
  }
  if (json) {
    if (text.trim() === "") return { ok: true, value: {} };
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch (err) {
      return { ok: false, status: 400, reason: `the body is not JSON: ${(err as Error).message}` };
    }
  }
  const fields: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of new URLSearchParams(text)) {
    const had = fields[k];
    fields[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  const keys = Object.keys(fields);
  if (keys.length === 1 && keys[0] === "payload" && typeof fields.payload === "string") {
    try {
      return { ok: true, value: JSON.parse(fields.payload) as unknown };
    } catch {
      // not JSON: the form as it is
    }
  }
  return { ok: true, value: { ...fields } };
}

/** A query string as an object (a repeated key gives an array). */
export function parseQuery(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of new URLSearchParams(search)) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return { ...out };
}

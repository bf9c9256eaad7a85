import { checkJsonNumbers } from "@evt/schema";

const decoder = new TextDecoder("utf-8", { fatal: true });

export const BODY_SHAPE_ERROR =
  "Request body must contain an event object or an array of event objects";

/** Outcome of turning request bytes into a JSON value. */
export type BodyResult = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Decode a request body: strict UTF-8, first non-whitespace byte `{` or `[`, then JSON, and
 * no number literal that JSON.parse would change (see `checkJsonNumbers` of `@evt/schema`).
 * Never throws.
 */
export function decodeBody(body: Uint8Array | null): BodyResult {
  if (body === null || body.length === 0) {
    return { ok: false, message: `${BODY_SHAPE_ERROR}; the body is empty` };
  }
  let i = 0;
  // A UTF-8 byte order mark is tolerated (TextDecoder drops it too).
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) i = 3;
  while (i < body.length) {
    const b = body[i]!;
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) break;
    i++;
  }
  if (i === body.length) {
    return { ok: false, message: `${BODY_SHAPE_ERROR}; the body is only whitespace` };
  }
  const first = body[i];
  if (first !== 0x7b && first !== 0x5b) {
    return { ok: false, message: BODY_SHAPE_ERROR };
  }
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return {
      ok: false,
      message: `Request body is not valid UTF-8 near byte ${firstInvalidUtf8(body)} (allowed: UTF-8 encoded JSON)`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `Request body is not valid JSON: ${detail}` };
  }
  // Numbers JSON.parse would change (lost digits, 0, Infinity) are refused, never stored altered.
  const number = checkJsonNumbers(text);
  if (number !== null) return { ok: false, message: number.message };
  return { ok: true, value };
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (for the error message). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const len =
      b < 0x80
        ? 1
        : b >= 0xc2 && b <= 0xdf
          ? 2
          : b >= 0xe0 && b <= 0xef
            ? 3
            : b >= 0xf0 && b <= 0xf4
              ? 4
              : 0;
    if (len === 0 || i + len > bytes.length) return i;
    for (let j = 1; j < len; j++) {
      if ((bytes[i + j]! & 0xc0) !== 0x80) return i;
    }
    if (len > 1) {
      try {
        decoder.decode(bytes.subarray(i, i + len));
      } catch {
        return i;
      }
    }
    i += len;
  }
  return i;
}

/**
 * Byte arithmetic for JSON: the UTF-8 length of what `JSON.stringify` would write, computed
 * without building the string. Used by the fast validation path and by {@link eventByteLength}.
 */

/** UTF-8 bytes of `JSON.stringify(s)` (quotes and escapes included). */
export function jsonStringBytes(s: string): number {
  const n = s.length;
  let bytes = n + 2;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) {
      // \b \t \n \f \r take 2 bytes, other control characters \u00XX take 6.
      bytes += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 1 : 5;
    } else if (c < 0x80) {
      if (c === 34 || c === 92) bytes += 1;
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a surrogate pair: 2 units, 4 bytes
        i++;
      } else {
        bytes += 5; // a lone surrogate is written as \uDXXX
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Bytes of `JSON.stringify(n)` for a finite number. */
export function jsonNumberBytes(n: number): number {
  if (Number.isInteger(n)) {
    let x = n < 0 ? -n : n;
    if (x < 1e15) {
      let digits = 1;
      while (x >= 10) {
        x = Math.floor(x / 10);
        digits++;
      }
      return n < 0 ? digits + 1 : digits;
    }
  }
  return String(n).length;
}

/** True for `{}`-like objects: prototype `Object.prototype` or `null`. */
export function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Result codes of {@link jsonObjectBytes} besides a byte count. */
export const NOT_JSON = -1;
export const TOO_DEEP = -2;
export const TOO_BIG = -3;

/**
 * Bytes of the JSON of `root` (a plain object or array), walked iteratively so no nesting can
 * overflow the stack. Returns {@link NOT_JSON} when a value is not JSON (undefined, function,
 * NaN, class instance, ...), {@link TOO_DEEP} past `maxDepth` levels (`root` is level 1) and
 * {@link TOO_BIG} as soon as the count passes `budget`.
 */
export function jsonObjectBytes(root: object, maxDepth: number, budget: number): number {
  let size = 0;
  let stack: object[] | undefined;
  let depths: number[] | undefined;
  let sp = 0;
  let current: object = root;
  let depth = 1;
  for (;;) {
    if (depth > maxDepth) return TOO_DEEP;
    let values: unknown[];
    if (Array.isArray(current)) {
      values = current;
      const n = values.length;
      size += n === 0 ? 2 : n + 1;
    } else {
      const record = current as Record<string, unknown>;
      const keys = Object.keys(record);
      const n = keys.length;
      size += n === 0 ? 2 : n + 1;
      values = new Array(n);
      for (let i = 0; i < n; i++) {
        const key = keys[i]!;
        size += jsonStringBytes(key) + 1;
        values[i] = record[key];
      }
    }
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      switch (typeof v) {
        case "string":
          if (v.length > budget) return TOO_BIG;
          size += jsonStringBytes(v);
          break;
        case "number":
          if (!Number.isFinite(v)) return NOT_JSON;
          size += jsonNumberBytes(v);
          break;
        case "boolean":
          size += v ? 4 : 5;
          break;
        case "object":
          if (v === null) {
            size += 4;
          } else {
            if (!Array.isArray(v) && !isPlainObject(v)) return NOT_JSON;
            if (stack === undefined || depths === undefined) {
              stack = [];
              depths = [];
            }
            stack[sp] = v;
            depths[sp] = depth + 1;
            sp++;
          }
          break;
        default:
          return NOT_JSON;
      }
    }
    if (size > budget) return TOO_BIG;
    if (sp === 0) return size;
    sp--;
    current = stack![sp]!;
    depth = depths![sp]!;
  }
}

/** UTF-8 length of a string whose lone surrogates are already escaped (JSON text). */
function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * The size in UTF-8 bytes of `JSON.stringify(value)`; 0 when `value` has no JSON form
 * (`undefined`, a function). Throws what `JSON.stringify` throws (cycles, bigint).
 *
 * @example
 * ```ts
 * import { eventByteLength } from "@evt/schema";
 * eventByteLength({ name: "app/é" }); // 17
 * ```
 */
export function eventByteLength(value: unknown): number {
  const json = JSON.stringify(value) as string | undefined;
  return json === undefined ? 0 : utf8Length(json);
}

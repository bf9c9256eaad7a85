import { isCleanText } from "./text";

/**
 * Byte arithmetic for JSON. The fast path does not count bytes exactly: it adds an upper bound
 * (a UTF-16 unit never takes more than 6 bytes of JSON, a number never more than 25), which
 * costs nothing per character. Only an event whose bound passes the limit is measured exactly
 * with {@link eventByteLength}.
 */

/** Most bytes one UTF-16 code unit can take in JSON (`\u001f`, a lone surrogate `\udc00`). */
export const MAX_BYTES_PER_UNIT = 6;
/** Most bytes a finite number takes in JSON (`-1.2345678901234567e-308` is 24). */
export const MAX_NUMBER_BYTES = 25;

/** Upper bound of the UTF-8 bytes of `JSON.stringify(s)`. */
export function stringBound(s: string): number {
  return s.length * MAX_BYTES_PER_UNIT + 2;
}

/** True for `{}`-like objects: prototype `Object.prototype` or `null`. */
export function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Result codes of {@link jsonObjectBound} besides a byte bound. */
export const NOT_JSON = -1;
export const TOO_DEEP = -2;
export const TOO_BIG = -3;
export const BAD_TEXT = -4;

/**
 * An upper bound of the bytes of the JSON of `root` (a plain object or array), walked
 * iteratively so no nesting can overflow the stack. Returns {@link NOT_JSON} when a value is
 * not JSON (function, NaN, class instance, undefined in an array, ...; an undefined property
 * is allowed, as `JSON.stringify` leaves it out), {@link BAD_TEXT} when a key or string value
 * is not well-formed Unicode or holds U+0000 ({@link isCleanText}), {@link TOO_DEEP} past
 * `maxDepth` levels (`root` is level 1), and {@link TOO_BIG} as soon as the bound passes `cap`,
 * which also bounds the work on shared references and cycles.
 */
export function jsonObjectBound(root: object, maxDepth: number, cap: number): number {
  const walk: Walk = { size: 0, stack: undefined, depths: undefined, sp: 0 };
  let current: object = root;
  let depth = 1;
  for (;;) {
    if (depth > maxDepth) return TOO_DEEP;
    if (Array.isArray(current)) {
      const n = current.length;
      walk.size += n + 2;
      for (let i = 0; i < n; i++) {
        const code = addValue(walk, current[i], depth);
        if (code !== 0) return code;
      }
    } else {
      const record = current as Record<string, unknown>;
      const keys = Object.keys(record);
      const n = keys.length;
      walk.size += n + 2;
      for (let i = 0; i < n; i++) {
        const key = keys[i]!;
        const value = record[key];
        // An undefined property is left out by JSON.stringify, as if absent: allowed.
        if (value === undefined) continue;
        if (!isCleanText(key)) return BAD_TEXT;
        walk.size += key.length * MAX_BYTES_PER_UNIT + 3;
        const code = addValue(walk, value, depth);
        if (code !== 0) return code;
      }
    }
    if (walk.size > cap) return TOO_BIG;
    if (walk.sp === 0) return walk.size;
    walk.sp--;
    current = walk.stack![walk.sp]!;
    depth = walk.depths![walk.sp]!;
  }
}

/** State of one {@link jsonObjectBound} walk: the bound so far and the pending containers. */
interface Walk {
  size: number;
  stack: object[] | undefined;
  depths: number[] | undefined;
  sp: number;
}

/**
 * Adds a primitive's bound or queues a container: 0, or {@link NOT_JSON} when `v` is not JSON,
 * {@link BAD_TEXT} when it is a string that is not clean text.
 */
function addValue(walk: Walk, v: unknown, depth: number): number {
  switch (typeof v) {
    case "string":
      walk.size += v.length * MAX_BYTES_PER_UNIT + 2;
      return isCleanText(v) ? 0 : BAD_TEXT;
    case "number":
      walk.size += MAX_NUMBER_BYTES;
      return Number.isFinite(v) ? 0 : NOT_JSON;
    case "boolean":
      walk.size += 5;
      return 0;
    case "object":
      if (v === null) {
        walk.size += 4;
        return 0;
      }
      if (!Array.isArray(v) && !isPlainObject(v)) return NOT_JSON;
      if (walk.stack === undefined || walk.depths === undefined) {
        walk.stack = [];
        walk.depths = [];
      }
      walk.stack[walk.sp] = v;
      walk.depths[walk.sp] = depth + 1;
      walk.sp++;
      return 0;
    default:
      return NOT_JSON;
  }
}

/**
 * UTF-8 length of JSON text (lone surrogates are already escaped by `JSON.stringify`; valid
 * events hold none, but {@link eventByteLength} measures any value).
 */
function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2; // a surrogate pair: 2 units, 4 bytes
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

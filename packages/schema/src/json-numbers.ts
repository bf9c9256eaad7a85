import { eventPath } from "./issues";

/** A number literal in a JSON text that `JSON.parse` would silently change. */
export interface JsonNumberProblem {
  /** Where it is, as in validation issues: `events[0].data.amount`. */
  path: string;
  /** The literal as written (at most 40 characters; longer ones are cut with `...`). */
  literal: string;
  /** What happens to it and what to do, for a person. */
  message: string;
}

/**
 * Cheap test for texts that may hold a number `JSON.parse` changes: an integer of 16 or more
 * digits (2^53 has 16) or an exponent of 3 or more digits (overflow to Infinity, underflow to 0).
 * It also matches such digits inside strings; {@link checkJsonNumbers} then decides.
 */
const RISK = /\d{16}|[eE][-+]?\d{3}/;

/**
 * Find the first number literal in a (valid) JSON text that `JSON.parse` would not keep as
 * written: an integer beyond ±(2^53-1), which loses digits (`9007199254740993` reads as
 * `...992`); a non-zero literal that underflows to `0` (`1e-400`); or one that overflows to
 * `Infinity` (`1e400`), which then serialises as `null`. Fractions that round in their last
 * digits, the ordinary cost of doubles, are not reported. `null` when every number is kept.
 *
 * @example
 * ```ts
 * import { checkJsonNumbers } from "@evt/schema";
 * checkJsonNumbers('{"name":"a","data":{"amount":12345678901234567890}}');
 * // { path: "events[0].data.amount", literal: "12345678901234567890", message: "..." }
 * checkJsonNumbers('{"name":"a","data":{"amount":12.5}}'); // null
 * ```
 */
export function checkJsonNumbers(text: string): JsonNumberProblem | null {
  if (!RISK.test(text)) return null;
  return scan(text);
}

interface Frame {
  array: boolean;
  index: number;
  key: string | null;
  /** In an object: the next string is a key. */
  expectKey: boolean;
}

function scan(text: string): JsonNumberProblem | null {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      let escaped = false;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i += 2;
          continue;
        }
        if (d === 0x22) break;
        i++;
      }
      const top = stack[stack.length - 1];
      if (top && !top.array && top.expectKey) {
        const raw = text.slice(start, i + 1);
        top.key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        top.expectKey = false;
      }
      i++;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push({ array: c === 0x5b, index: 0, key: null, expectKey: c === 0x7b });
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
      continue;
    }
    if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top) {
        if (top.array) top.index++;
        else top.expectKey = true;
      }
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (
          (d >= 0x30 && d <= 0x39) ||
          d === 0x2e ||
          d === 0x65 ||
          d === 0x45 ||
          d === 0x2b ||
          d === 0x2d
        )
          i++;
        else break;
      }
      const literal = text.slice(start, i);
      const problem = numberProblem(literal);
      if (problem !== null) return describe(stack, literal, problem);
      continue;
    }
    i++;
  }
  return null;
}

function numberProblem(literal: string): string | null {
  const value = Number(literal);
  if (!Number.isFinite(value)) {
    return "is beyond the range of a double (it would read as Infinity and be stored as null); send it as a string";
  }
  const fractional = /[.eE]/.test(literal);
  if (!fractional && !Number.isSafeInteger(value)) {
    return "is an integer beyond ±9007199254740991 (2^53-1) and would lose digits; send it as a string";
  }
  if (value === 0 && /[1-9]/.test(mantissa(literal))) {
    return "is too small for a double and would read as 0; send it as a string";
  }
  return null;
}

function mantissa(literal: string): string {
  const e = literal.search(/[eE]/);
  return e < 0 ? literal : literal.slice(0, e);
}

function describe(stack: readonly Frame[], literal: string, problem: string): JsonNumberProblem {
  const root = stack[0];
  const index = root?.array ? root.index : 0;
  const segments: (string | number)[] = [];
  for (let s = root?.array ? 1 : 0; s < stack.length; s++) {
    const f = stack[s]!;
    segments.push(f.array ? f.index : (f.key ?? ""));
  }
  const path = eventPath(index, segments);
  const shown = literal.length > 40 ? `${literal.slice(0, 37)}...` : literal;
  return { path, literal: shown, message: `${path}: the number ${shown} ${problem}` };
}

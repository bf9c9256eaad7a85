import { DedupError } from "./errors.js";
import type { ClaimEntry, ClaimResult } from "./types.js";

/** `String.prototype.isWellFormed` (Node >= 20; typed here because the ES2023 lib lacks it). */
type WellFormed = { isWellFormed(): boolean };

/** Whether `s` has no lone UTF-16 surrogate, i.e. encodes to UTF-8 and back unchanged. */
export function isWellFormed(s: string): boolean {
  return (s as unknown as WellFormed).isWellFormed();
}

/** Longest key accepted, in UTF-16 code units (the `string.length`). */
export const MAX_KEY_LENGTH = 512;
/** Longest value accepted, in UTF-16 code units. */
export const MAX_VALUE_LENGTH = 1024;

function checkString(
  what: "key" | "value",
  s: unknown,
  where: string,
  max: number,
  allowEmpty: boolean,
): void {
  if (typeof s !== "string") {
    throw new DedupError(
      "invalid_argument",
      `${where}.${what} must be a string, got ${s === null ? "null" : typeof s}`,
    );
  }
  if (!allowEmpty && s.length === 0) {
    throw new DedupError("invalid_argument", `${where}.${what} must not be empty`);
  }
  if (s.length > max) {
    throw new DedupError(
      "invalid_argument",
      `${where}.${what} is ${s.length} characters long; at most ${max} are allowed`,
    );
  }
  if (!isWellFormed(s)) {
    throw new DedupError(
      "invalid_argument",
      `${where}.${what} contains a lone UTF-16 surrogate; only well-formed Unicode strings are allowed`,
    );
  }
}

/** Checks a batch of entries and throws a `DedupError` naming the first bad field. */
export function checkEntries(entries: readonly ClaimEntry[], method: "claim" | "release"): void {
  if (!Array.isArray(entries)) {
    throw new DedupError(
      "invalid_argument",
      `${method}(entries): entries must be an array of { key, value }, got ${typeof entries}`,
    );
  }
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const where = `entries[${i}]`;
    if (typeof e !== "object" || e === null) {
      throw new DedupError("invalid_argument", `${where} must be an object { key, value }`);
    }
    checkString("key", e.key, where, MAX_KEY_LENGTH, false);
    checkString("value", e.value, where, MAX_VALUE_LENGTH, true);
  }
}

/** Checks the time window of a claim. */
export function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== "number" || !Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new DedupError(
      "invalid_argument",
      `claim(entries, ttlMs): ttlMs must be a positive integer number of milliseconds, got ${String(ttlMs)}`,
    );
  }
}

/**
 * A batch reduced to its distinct keys. Drivers claim `unique` (first occurrence of every key,
 * in order) and {@link expand} maps their answers back onto every entry.
 */
export interface BatchPlan {
  /** First occurrence of each key, in input order. */
  unique: ClaimEntry[];
  /** For every input entry, the index in `unique` of its key. */
  slot: number[];
}

/** Splits a batch into distinct keys (see {@link BatchPlan}). */
export function planBatch(entries: readonly ClaimEntry[]): BatchPlan {
  const seen = new Map<string, number>();
  const unique: ClaimEntry[] = [];
  const slot = new Array<number>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    let s = seen.get(e.key);
    if (s === undefined) {
      s = unique.length;
      seen.set(e.key, s);
      unique.push(e);
    }
    slot[i] = s;
  }
  return { unique, slot };
}

/**
 * Maps the answers for `plan.unique` back to every entry: a later entry with the same key is a
 * duplicate of the first one (of its value when the first was fresh).
 */
export function expand(plan: BatchPlan, uniqueResults: readonly ClaimResult[]): ClaimResult[] {
  if (plan.unique.length === plan.slot.length) return uniqueResults as ClaimResult[];
  const used = new Uint8Array(plan.unique.length);
  const out = new Array<ClaimResult>(plan.slot.length);
  for (let i = 0; i < plan.slot.length; i++) {
    const s = plan.slot[i]!;
    const r = uniqueResults[s]!;
    if (used[s] === 0) {
      used[s] = 1;
      out[i] = r;
    } else {
      out[i] = r.fresh ? { fresh: false, value: plan.unique[s]!.value } : r;
    }
  }
  return out;
}

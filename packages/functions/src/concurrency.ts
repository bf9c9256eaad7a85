import { createHash } from "node:crypto";
import { compileKey, TriggerError } from "@evt/triggers";
import type { JsonValue } from "./run-store";

/** Where a concurrency key is shared: one function, every function of an env, or of every env. */
export type ConcurrencyScope = "fn" | "env" | "account";

/** One concurrency limit of a function, as registered and normalised. */
export interface ConcurrencyLimit {
  /** Calls in flight at once; `0` sets no limit of its own (as in Inngest). */
  limit: number;
  /** The CEL key expression, evaluated on the triggering event, or `null`. */
  key: string | null;
  scope: ConcurrencyScope;
}

/** A slot a run takes while it is claimed: its position in the function's limits and its key. */
export interface ConcurrencySlot {
  /** Index of the limit in the function's `concurrency` (0 or 1). */
  idx: number;
  /** The evaluated key (scope, function or env, expression and value). */
  key: string;
}

/** Most limits a function may register (as in Inngest). */
export const MAX_CONCURRENCY_LIMITS = 2;
/** Largest limit accepted. */
export const MAX_CONCURRENCY = 2_147_483_647;
/** Longest slot key kept as is; longer ones are hashed. */
const MAX_SLOT_KEY = 512;
const SCOPES: readonly string[] = ["fn", "env", "account"];

/**
 * The concurrency limits of a stored function config (`concurrency`: a number, an object
 * `{ limit, key?, scope? }` or an array of up to two), normalised. Registration checked the
 * shape; anything else is left out here.
 *
 * @example
 * ```ts
 * import { concurrencyOf } from "@evt/functions";
 *
 * concurrencyOf({ concurrency: { limit: 1, key: "event.data.user" } });
 * // [{ limit: 1, key: "event.data.user", scope: "fn" }]
 * ```
 */
export function concurrencyOf(config: JsonValue): ConcurrencyLimit[] {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return [];
  const value = config.concurrency;
  const list = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  const out: ConcurrencyLimit[] = [];
  for (const item of list.slice(0, MAX_CONCURRENCY_LIMITS)) {
    if (typeof item === "number") {
      if (Number.isInteger(item) && item >= 0) out.push({ limit: item, key: null, scope: "fn" });
      continue;
    }
    if (typeof item !== "object" || item === null || Array.isArray(item)) continue;
    const limit = item.limit;
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) continue;
    const key = typeof item.key === "string" && item.key.trim() !== "" ? item.key : null;
    const scope = typeof item.scope === "string" && SCOPES.includes(item.scope) ? item.scope : "fn";
    out.push({ limit, key, scope: scope as ConcurrencyScope });
  }
  return out;
}

/**
 * Problems with a function's registered `concurrency` (for `/fn/register`), each with its path
 * under `at` (`functions[0].concurrency`): a limit that is not a whole number from 0 to
 * 2147483647, an unknown scope, a key that is not valid CEL, more than two limits.
 *
 * @example
 * ```ts
 * import { concurrencyIssues } from "@evt/functions";
 *
 * concurrencyIssues({ limit: -1 }, "functions[0].concurrency");
 * // [{ path: "functions[0].concurrency.limit", message: "must be a whole number from 0 to 2147483647, got -1" }]
 * ```
 */
export function concurrencyIssues(value: unknown, at: string): { path: string; message: string }[] {
  if (value === undefined || value === null) return [];
  const issues: { path: string; message: string }[] = [];
  const checkLimit = (limit: unknown, path: string) => {
    if (
      typeof limit !== "number" ||
      !Number.isInteger(limit) ||
      limit < 0 ||
      limit > MAX_CONCURRENCY
    ) {
      issues.push({
        path,
        message: `must be a whole number from 0 to ${MAX_CONCURRENCY}, got ${show(limit)}`,
      });
    }
  };
  const checkOne = (item: unknown, path: string) => {
    if (typeof item === "number") return checkLimit(item, path);
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      issues.push({
        path,
        message: `must be a number or an object { limit, key?, scope? }, got ${show(item)}`,
      });
      return;
    }
    const o = item as Record<string, unknown>;
    checkLimit(o.limit, `${path}.limit`);
    if (o.scope !== undefined && o.scope !== null && !SCOPES.includes(o.scope as string)) {
      issues.push({
        path: `${path}.scope`,
        message: `must be "fn", "env" or "account", got ${show(o.scope)}`,
      });
    }
    if (o.key === undefined || o.key === null) return;
    if (typeof o.key !== "string") {
      issues.push({
        path: `${path}.key`,
        message: `must be a CEL expression (a string), e.g. "event.data.userId", got ${show(o.key)}`,
      });
      return;
    }
    try {
      compileKey(o.key);
    } catch (error) {
      if (!(error instanceof TriggerError)) throw error;
      issues.push({ path: `${path}.key`, message: error.issues[0]?.message ?? error.message });
    }
  };
  if (Array.isArray(value)) {
    if (value.length > MAX_CONCURRENCY_LIMITS) {
      issues.push({
        path: at,
        message: `at most ${MAX_CONCURRENCY_LIMITS} concurrency limits, got ${value.length}`,
      });
      return issues;
    }
    for (const [i, item] of value.entries()) checkOne(item, `${at}[${i}]`);
  } else checkOne(value, at);
  return issues;
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 80));
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "null";
  return Array.isArray(value) ? "an array" : typeof value;
}

/** A slot key of bounded length: longer ones are replaced by their SHA-256. */
function bounded(key: string): string {
  return key.length <= MAX_SLOT_KEY
    ? key
    : `h:${createHash("sha256").update(key).digest("base64url")}`;
}

/**
 * The slot key of one limit for one run. `value` is the evaluated key, or `null` when the
 * limit has no key, or its key evaluated to null or failed: then the limit applies to the
 * function as a whole. `fn` keys are the function's own; `env` keys are shared by the
 * functions of the env with the same expression and value; `account` keys by those of every
 * env (evt is one account).
 */
export function slotKey(
  functionId: string,
  env: string,
  idx: number,
  limit: ConcurrencyLimit,
  value: string | null,
): string {
  // JSON: no separator a key could contain, and no NUL (PostgreSQL text cannot hold it).
  if (value === null || limit.key === null) return bounded(JSON.stringify(["f", functionId, idx]));
  if (limit.scope === "env") return bounded(JSON.stringify(["e", env, limit.key, value]));
  if (limit.scope === "account") return bounded(JSON.stringify(["a", limit.key, value]));
  return bounded(JSON.stringify(["f", functionId, idx, limit.key, value]));
}

/** A PostgreSQL advisory lock id (a signed 64-bit integer, as text) for a slot key. */
export function slotLockId(prefix: string, key: string): string {
  const digest = createHash("sha256")
    .update(JSON.stringify(["evt/concurrency", prefix, key]))
    .digest();
  return digest.readBigInt64BE(0).toString();
}

/** A candidate of a concurrency claim: a due run and the slots it needs. */
export interface SlotCandidate {
  runId: string;
  /** Its slots, each with the limit that applies (`null` or `0`: none). */
  slots: { key: string; limit: number | null }[];
}

/**
 * Pick, earliest first, the candidates whose every slot is under its limit, counting the
 * picked ones: `inFlight` holds the calls in flight per slot key and is updated.
 */
export function pickWithinLimits(
  candidates: readonly SlotCandidate[],
  inFlight: Map<string, number>,
  room: number,
): string[] {
  const out: string[] = [];
  for (const c of candidates) {
    if (out.length >= room) break;
    const open = c.slots.every(
      (s) => s.limit === null || s.limit <= 0 || (inFlight.get(s.key) ?? 0) < s.limit,
    );
    if (!open) continue;
    for (const s of c.slots) inFlight.set(s.key, (inFlight.get(s.key) ?? 0) + 1);
    out.push(c.runId);
  }
  return out;
}

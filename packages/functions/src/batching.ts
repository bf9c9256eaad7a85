import { createHash } from "node:crypto";
import {
  compileFilter,
  compileKey,
  type ExpressionFilter,
  type KeyExpression,
  TriggerError,
} from "@evt/triggers";
import { FunctionsError } from "./errors";
import type { AppendToBatchInput, JsonValue } from "./run-store";
import { checkInteger, checkRunId, checkTime, checkToken, MAX_ID_LENGTH } from "./validate";

/** Most events one batch may hold (Inngest's plans allow up to 500; its server default is 100). */
export const MAX_BATCH_SIZE = 1000;
/** Shortest batch timeout: 1 s, as Inngest requires. */
export const MIN_BATCH_TIMEOUT_MS = 1_000;
/** Longest batch timeout: 10 min (Inngest's `MaxBatchTTL`). */
export const MAX_BATCH_TIMEOUT_MS = 600_000;
/** The batch key of a function that registers no `key`: every event shares one open batch. */
export const UNKEYED_BATCH = "*";

/** A function's `batchEvents`, read and compiled. */
export interface BatchConfig {
  maxSize: number;
  timeoutMs: number;
  /** The `key` expression, or `null`: one open batch for all events. */
  key: KeyExpression | null;
  /** The `if` expression, or `null`: every event is batched. */
  filter: ExpressionFilter | null;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A batch timeout as the SDK writes it (`"2s"`, `"1m30s"`, `"500ms"`) in ms, or `null` when
 * it is not a duration.
 *
 * @example
 * ```ts
 * import { parseBatchTimeout } from "@evt/functions";
 *
 * parseBatchTimeout("1m30s"); // 90_000
 * parseBatchTimeout("soon"); // null
 * ```
 */
export function parseBatchTimeout(text: string): number | null {
  const value = text.trim();
  if (value === "" || value.length > 64) return null;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let at = 0;
  let total = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (m === null) return null;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = re.lastIndex;
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

function expressionIssue(error: unknown): string {
  if (error instanceof TriggerError) return error.issues[0]?.message ?? error.message;
  throw error;
}

/**
 * The problems of a registered `batchEvents` value (`[]` when it is fine or absent), each with
 * its path under `path`: `maxSize` an integer from 1 to {@link MAX_BATCH_SIZE}, `timeout` a
 * duration from 1 s to 10 min, `key` and `if` CEL expressions that compile.
 *
 * @example
 * ```ts
 * import { checkBatchEvents } from "@evt/functions";
 *
 * checkBatchEvents({ maxSize: 0, timeout: "2s" }, "functions[0].batchEvents");
 * // [{ path: "functions[0].batchEvents.maxSize", message: "must be an integer from 1 to 1000, got 0" }]
 * ```
 */
export function checkBatchEvents(
  value: unknown,
  path: string,
): { path: string; message: string }[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== "object" || Array.isArray(value))
    return [
      {
        path,
        message:
          'must be an object { maxSize, timeout, key?, if? }, e.g. { maxSize: 10, timeout: "5s" }',
      },
    ];
  const b = value as Record<string, unknown>;
  const issues: { path: string; message: string }[] = [];
  const size = b.maxSize;
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > MAX_BATCH_SIZE) {
    issues.push({
      path: `${path}.maxSize`,
      message: `must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${JSON.stringify(size) ?? String(size)}`,
    });
  }
  const timeout = b.timeout;
  const ms = typeof timeout === "string" ? parseBatchTimeout(timeout) : null;
  if (ms === null || ms < MIN_BATCH_TIMEOUT_MS || ms > MAX_BATCH_TIMEOUT_MS) {
    issues.push({
      path: `${path}.timeout`,
      message: `must be a duration from 1s to 10m such as "5s", "1m30s" or "500ms" (written with ms, s, m, h), got ${JSON.stringify(timeout) ?? String(timeout)}`,
    });
  }
  for (const field of ["key", "if"] as const) {
    const expr = b[field];
    if (expr === undefined || expr === null) continue;
    if (typeof expr !== "string" || expr.trim() === "") {
      issues.push({
        path: `${path}.${field}`,
        message:
          field === "key"
            ? 'must be a CEL expression (a string), e.g. "event.data.userId"'
            : "must be a CEL expression (a string) that returns a bool, e.g. \"event.data.plan == 'pro'\"",
      });
      continue;
    }
    try {
      if (field === "key") compileKey(expr);
      else compileFilter(expr);
    } catch (error) {
      issues.push({ path: `${path}.${field}`, message: expressionIssue(error) });
    }
  }
  return issues;
}

/**
 * The `batchEvents` of a stored function config, compiled, or `null` when the function does
 * not batch (or its config no longer reads, which registration would have refused).
 *
 * @example
 * ```ts
 * import { batchOf } from "@evt/functions";
 *
 * batchOf({ batchEvents: { maxSize: 5, timeout: "2s" } }); // { maxSize: 5, timeoutMs: 2000, key: null, filter: null }
 * ```
 */
export function batchOf(config: JsonValue): BatchConfig | null {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return null;
  const value = config.batchEvents;
  if (value === undefined || value === null) return null;
  if (checkBatchEvents(value, "batchEvents").length > 0) return null;
  const b = value as { maxSize: number; timeout: string; key?: string | null; if?: string | null };
  try {
    return {
      maxSize: b.maxSize,
      timeoutMs: parseBatchTimeout(b.timeout)!,
      key: typeof b.key === "string" ? compileKey(b.key) : null,
      filter: typeof b.if === "string" ? compileFilter(b.if) : null,
    };
  } catch {
    return null;
  }
}

/**
 * The store's batch key for a key value: a SHA-256 of it (key values are user data of any
 * length), or {@link UNKEYED_BATCH} without a key.
 *
 * @example
 * ```ts
 * import { batchKeyOf } from "@evt/functions";
 *
 * batchKeyOf("user-1"); // "k:3f1c…" (64 hex digits)
 * batchKeyOf(null); // "*"
 * ```
 */
export function batchKeyOf(value: string | null): string {
  if (value === null) return UNKEYED_BATCH;
  return `k:${createHash("sha256").update(value).digest("hex")}`;
}

/** An `appendToBatch` input, checked. */
export interface CheckedAppend {
  functionId: string;
  eventInternalId: string;
  env: string;
  batchKey: string;
  maxSize: number;
  timeoutMs: number;
  now: number;
  runId: string | undefined;
}

/** Check an `appendToBatch` input (every driver does, before touching its data). */
export function checkAppendToBatch(where: string, input: unknown): CheckedAppend {
  if (typeof input !== "object" || input === null)
    throw new FunctionsError(where, "invalid_input", "appendToBatch input must be an object");
  const r = input as Partial<AppendToBatchInput>;
  return {
    functionId: checkToken(where, "functionId", r.functionId),
    eventInternalId: checkToken(where, "eventInternalId", r.eventInternalId, 64),
    env: checkToken(where, "env", r.env),
    batchKey: checkToken(where, "batchKey", r.batchKey, MAX_ID_LENGTH),
    maxSize: checkInteger(where, "maxSize", r.maxSize, 1, MAX_BATCH_SIZE),
    timeoutMs: checkInteger(where, "timeoutMs", r.timeoutMs, 1, 86_400_000),
    now: r.now === undefined ? Date.now() : checkTime(where, "now", r.now),
    runId: r.runId === undefined ? undefined : checkRunId(where, "runId", r.runId),
  };
}

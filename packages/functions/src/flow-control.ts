import { createHash } from "node:crypto";
import { compileKey, TriggerError } from "@evt/triggers";
import { FunctionsError } from "./errors";
import type { DebounceInput, JsonValue, RateLimitInput, ThrottleInput } from "./run-store";
import { checkInteger, checkRunId, checkTime, checkToken } from "./validate";

/** Largest priority factor, in seconds either way (as Inngest bounds `priority.run`). */
export const MAX_PRIORITY_FACTOR = 600;
/** Longest rate-limit period accepted (as Inngest: 24 hours). */
export const MAX_RATE_LIMIT_PERIOD_MS = 86_400_000;
/** Largest rate limit accepted. */
export const MAX_RATE_LIMIT = 100_000;

/** A function's `rateLimit`, as registered and normalised. */
export interface RateLimit {
  /** Runs started at most per period and key. */
  limit: number;
  /** The window, in milliseconds. */
  periodMs: number;
  /** The CEL key expression, evaluated on the triggering event, or `null`. */
  key: string | null;
}

/** Longest throttle period accepted (as Inngest: 7 days). */
export const MAX_THROTTLE_PERIOD_MS = 7 * 86_400_000;
/** Largest throttle burst accepted. */
export const MAX_THROTTLE_BURST = 10_000;

/** A function's `throttle`, as registered and normalised. */
export interface Throttle {
  /** Starts per period and key (one every `periodMs / limit`). */
  limit: number;
  /** The window, in milliseconds. */
  periodMs: number;
  /** Starts allowed at once on top of the first. @default 0 */
  burst: number;
  /** The CEL key expression, evaluated on the triggering event, or `null`. */
  key: string | null;
}

/** A function's `debounce`, as registered and normalised. */
export interface Debounce {
  /** How long after the last event of a key its run starts, in milliseconds. */
  periodMs: number;
  /** The latest a run starts after the first event of its key, or `null` (no bound). */
  timeoutMs: number | null;
  /** The CEL key expression, evaluated on the triggering event, or `null`. */
  key: string | null;
}

type Issue = { path: string; message: string };

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A duration as Inngest's config writes it (a Go duration such as `"30s"`, `"1m"`, `"1h30m"`,
 * `"500ms"`), in milliseconds, or `null` when the text is not one.
 *
 * @example
 * ```ts
 * import { durationMs } from "@evt/functions";
 *
 * durationMs("1m30s"); // 90_000
 * durationMs("soon"); // null
 * ```
 */
export function durationMs(text: unknown): number | null {
  if (typeof text !== "string" || text.length > 64) return null;
  const value = text.trim();
  if (value === "") return null;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (m === null) return null;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = re.lastIndex;
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

function record(config: JsonValue, name: string): Record<string, JsonValue> | null {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return null;
  const value = config[name];
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  return value;
}

function keyOf(value: JsonValue | undefined): string | null {
  return typeof value === "string" && value.trim() !== "" ? value : null;
}

/** The `priority.run` expression of a stored function config, or `null`. */
export function priorityOf(config: JsonValue): string | null {
  return keyOf(record(config, "priority")?.run);
}

/** The `rateLimit` of a stored function config, normalised, or `null` (none, or not valid). */
export function rateLimitOf(config: JsonValue): RateLimit | null {
  const r = record(config, "rateLimit");
  if (r === null) return null;
  const periodMs = durationMs(r.period);
  if (typeof r.limit !== "number" || !Number.isInteger(r.limit) || r.limit < 1) return null;
  if (periodMs === null || periodMs < 1000) return null;
  return { limit: r.limit, periodMs, key: keyOf(r.key) };
}

/** The `throttle` of a stored function config, normalised, or `null` (none, or not valid). */
export function throttleOf(config: JsonValue): Throttle | null {
  const t = record(config, "throttle");
  if (t === null) return null;
  const periodMs = durationMs(t.period);
  if (typeof t.limit !== "number" || !Number.isInteger(t.limit) || t.limit < 1) return null;
  if (periodMs === null || periodMs < 1000) return null;
  const burst =
    typeof t.burst === "number" && Number.isInteger(t.burst) && t.burst > 0 ? t.burst : 0;
  return { limit: t.limit, periodMs, burst, key: keyOf(t.key) };
}

/**
 * The start a throttle reserves (GCRA): with `tat` the key's theoretical arrival time (`null`
 * for a fresh key) and `e = ceil(periodMs / limit)`, the run starts at
 * `max(now, max(tat, now) - burst * e)` and the key's `tat` becomes `max(tat, now) + e`. So
 * `1 + burst` start at once, then one every `e`: no window of `periodMs` holds more than
 * `limit + burst` starts, and starts are in reservation order (FIFO) per key.
 */
export function throttleStep(
  tat: number | null,
  t: { limit: number; burst: number; periodMs: number; now: number },
): { startAt: number; tat: number } {
  const e = Math.ceil(t.periodMs / t.limit);
  const base = Math.max(tat ?? t.now, t.now);
  return { startAt: Math.max(t.now, base - t.burst * e), tat: base + e };
}

/** A throttle key: the SHA-256 of the function and the key expression's value. */
export function throttleKey(functionId: string, value: string | null): string {
  return `t:${createHash("sha256")
    .update(JSON.stringify(["t", functionId, value]))
    .digest("base64url")}`;
}

/** Check a `reserveThrottle` input (a `FunctionsError` when bad). */
export function checkThrottleInput(where: string, input: unknown): ThrottleInput {
  if (typeof input !== "object" || input === null) {
    throw new FunctionsError(
      where,
      "invalid_input",
      "reserveThrottle needs an object { key, limit, burst, periodMs, now }",
    );
  }
  const i = input as Record<string, unknown>;
  return {
    key: checkToken(where, "key", i.key, 600),
    limit: checkInteger(where, "limit", i.limit, 1, MAX_RATE_LIMIT),
    burst: checkInteger(where, "burst", i.burst, 0, MAX_THROTTLE_BURST),
    periodMs: checkInteger(where, "periodMs", i.periodMs, 1, MAX_THROTTLE_PERIOD_MS),
    now: checkTime(where, "now", i.now),
  };
}

/** The `debounce` of a stored function config, normalised, or `null` (none, or not valid). */
export function debounceOf(config: JsonValue): Debounce | null {
  const d = record(config, "debounce");
  if (d === null) return null;
  const periodMs = durationMs(d.period);
  if (periodMs === null || periodMs < 1000) return null;
  const timeoutMs = d.timeout === undefined || d.timeout === null ? null : durationMs(d.timeout);
  return { periodMs, timeoutMs, key: keyOf(d.key) };
}

/** When a debounced run starts: `period` after this event, at the latest `timeout` after the first. */
export function debounceDue(
  firstAt: number,
  d: { now: number; periodMs: number; timeoutMs: number | null },
): number {
  const due = d.now + d.periodMs;
  return d.timeoutMs === null ? due : Math.min(due, firstAt + d.timeoutMs);
}

/** A debounce key: the SHA-256 of the key expression's value (the function is its own column). */
export function debounceKey(value: string | null): string {
  return `d:${createHash("sha256")
    .update(JSON.stringify(["d", value]))
    .digest("base64url")}`;
}

/** Check a `debounceRun` input (a `FunctionsError` when bad). */
export function checkDebounceInput(where: string, input: unknown): DebounceInput {
  if (typeof input !== "object" || input === null) {
    throw new FunctionsError(
      where,
      "invalid_input",
      "debounceRun needs an object { functionId, key, runId, periodMs, timeoutMs, now }",
    );
  }
  const i = input as Record<string, unknown>;
  return {
    functionId: checkToken(where, "functionId", i.functionId),
    key: checkToken(where, "key", i.key, 600),
    runId: checkRunId(where, "runId", i.runId),
    periodMs: checkInteger(where, "periodMs", i.periodMs, 1, MAX_THROTTLE_PERIOD_MS),
    timeoutMs:
      i.timeoutMs === null
        ? null
        : checkInteger(where, "timeoutMs", i.timeoutMs, 1, MAX_THROTTLE_PERIOD_MS),
    now: checkTime(where, "now", i.now),
  };
}

/**
 * A priority factor (seconds) from an evaluated `priority.run`: a whole number, clamped to
 * ±{@link MAX_PRIORITY_FACTOR}; anything else is an error (the caller uses 0).
 */
export function priorityFactor(value: string | null): number | Error {
  if (value === null) return 0;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n)) {
    return new Error(
      `priority.run must return a whole number of seconds, got ${value.slice(0, 80)}`,
    );
  }
  return Math.max(-MAX_PRIORITY_FACTOR, Math.min(MAX_PRIORITY_FACTOR, n));
}

/**
 * When a run due at `dueAt` (created at `now`) is put in the queue with a priority factor of
 * `factor` seconds: a positive factor puts a run due now ahead of the runs queued up to that
 * many seconds before it (its `due_at` is moved back, so it is claimed first, and it is
 * claimable already); a run due later keeps its time (it never starts early). A negative
 * factor delays the run by that many seconds (as Inngest documents).
 */
export function prioritisedDueAt(dueAt: number, now: number, factor: number): number {
  if (factor > 0) return dueAt <= now ? Math.max(0, dueAt - factor * 1000) : dueAt;
  return dueAt - factor * 1000;
}

/**
 * A rate-limit key: the SHA-256 of the function and the key expression's value (bounded,
 * printable, whatever the event holds).
 */
export function rateLimitKey(functionId: string, value: string | null): string {
  return `r:${createHash("sha256")
    .update(JSON.stringify(["r", functionId, value]))
    .digest("base64url")}`;
}

/** Check a `takeRateLimit` input (a `FunctionsError` when bad). */
export function checkRateLimitInput(where: string, input: unknown): RateLimitInput {
  if (typeof input !== "object" || input === null) {
    throw new FunctionsError(
      where,
      "invalid_input",
      "takeRateLimit needs an object { key, eventInternalId, limit, periodMs, now }",
    );
  }
  const i = input as Record<string, unknown>;
  return {
    key: checkToken(where, "key", i.key, 600),
    eventInternalId: checkToken(where, "eventInternalId", i.eventInternalId, 64),
    limit: checkInteger(where, "limit", i.limit, 1, MAX_RATE_LIMIT),
    periodMs: checkInteger(where, "periodMs", i.periodMs, 1, MAX_RATE_LIMIT_PERIOD_MS),
    now: checkTime(where, "now", i.now),
  };
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 80));
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "null";
  return Array.isArray(value) ? "an array" : typeof value;
}

function celIssue(value: unknown, path: string, example: string): Issue[] {
  if (typeof value !== "string") {
    return [
      { path, message: `must be a CEL expression (a string), e.g. ${example}, got ${show(value)}` },
    ];
  }
  try {
    compileKey(value);
    return [];
  } catch (error) {
    if (!(error instanceof TriggerError)) throw error;
    return [{ path, message: error.issues[0]?.message ?? error.message }];
  }
}

function objectIssue(value: unknown, path: string, shape: string): Issue[] {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return [];
  return [{ path, message: `must be an object ${shape}, got ${show(value)}` }];
}

function periodIssue(value: unknown, path: string, minMs: number, maxMs: number): Issue[] {
  const ms = durationMs(value);
  if (ms !== null && ms >= minMs && ms <= maxMs) return [];
  return [
    {
      path,
      message: `must be a duration from ${minMs / 1000}s to ${maxMs / 3_600_000}h such as "30s" or "1m", got ${show(value)}`,
    },
  ];
}

function limitIssue(value: unknown, path: string, min: number, max: number): Issue[] {
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) {
    return [];
  }
  return [{ path, message: `must be a whole number from ${min} to ${max}, got ${show(value)}` }];
}

/**
 * Problems with a function's registered flow control (for `/fn/register`), each with its path
 * under `at` (`functions[0]`): `priority` (`{ run: "<CEL>" }`), `rateLimit`
 * (`{ limit, period, key? }`, a period from 1s to 24h as a Go duration) and `throttle`
 * (`{ limit, period, burst?, key? }`, a period from 1s to 7 days) and `debounce`
 * (`{ period, key?, timeout? }`, each from 1s to 7 days).
 *
 * @example
 * ```ts
 * import { flowControlIssues } from "@evt/functions";
 *
 * flowControlIssues({ rateLimit: { limit: 0, period: "1m" } }, "functions[0]");
 * // [{ path: "functions[0].rateLimit.limit", message: "must be a whole number from 1 to 100000, got 0" }]
 * ```
 */
export function flowControlIssues(fn: Record<string, unknown>, at: string): Issue[] {
  const issues: Issue[] = [];
  const priority = fn.priority;
  if (priority !== undefined && priority !== null) {
    const path = `${at}.priority`;
    const shape = objectIssue(priority, path, '{ run: "<CEL returning seconds>" }');
    issues.push(...shape);
    const run = shape.length === 0 ? (priority as Record<string, unknown>).run : undefined;
    if (run !== undefined && run !== null) {
      issues.push(...celIssue(run, `${path}.run`, `"event.data.plan == 'pro' ? 120 : 0"`));
    }
  }
  const rate = fn.rateLimit;
  if (rate !== undefined && rate !== null) {
    const path = `${at}.rateLimit`;
    const shape = objectIssue(rate, path, "{ limit, period, key? }");
    issues.push(...shape);
    if (shape.length === 0) {
      const r = rate as Record<string, unknown>;
      issues.push(...limitIssue(r.limit, `${path}.limit`, 1, MAX_RATE_LIMIT));
      issues.push(...periodIssue(r.period, `${path}.period`, 1000, MAX_RATE_LIMIT_PERIOD_MS));
      if (r.key !== undefined && r.key !== null) {
        issues.push(...celIssue(r.key, `${path}.key`, '"event.data.userId"'));
      }
    }
  }
  const throttle = fn.throttle;
  if (throttle !== undefined && throttle !== null) {
    const path = `${at}.throttle`;
    const shape = objectIssue(throttle, path, "{ limit, period, burst?, key? }");
    issues.push(...shape);
    if (shape.length === 0) {
      const t = throttle as Record<string, unknown>;
      issues.push(...limitIssue(t.limit, `${path}.limit`, 1, MAX_RATE_LIMIT));
      issues.push(...periodIssue(t.period, `${path}.period`, 1000, MAX_THROTTLE_PERIOD_MS));
      if (t.burst !== undefined && t.burst !== null) {
        issues.push(...limitIssue(t.burst, `${path}.burst`, 0, MAX_THROTTLE_BURST));
      }
      if (t.key !== undefined && t.key !== null) {
        issues.push(...celIssue(t.key, `${path}.key`, '"event.data.userId"'));
      }
    }
  }
  const debounce = fn.debounce;
  if (debounce !== undefined && debounce !== null) {
    const path = `${at}.debounce`;
    const shape = objectIssue(debounce, path, "{ period, key?, timeout? }");
    issues.push(...shape);
    if (shape.length === 0) {
      const d = debounce as Record<string, unknown>;
      issues.push(...periodIssue(d.period, `${path}.period`, 1000, MAX_THROTTLE_PERIOD_MS));
      if (d.timeout !== undefined && d.timeout !== null) {
        issues.push(...periodIssue(d.timeout, `${path}.timeout`, 1000, MAX_THROTTLE_PERIOD_MS));
      }
      if (d.key !== undefined && d.key !== null) {
        issues.push(...celIssue(d.key, `${path}.key`, '"event.data.userId"'));
      }
    }
  }
  return issues;
}

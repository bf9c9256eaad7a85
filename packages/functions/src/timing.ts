/** How failed calls are retried: exponential backoff with jitter. */
export interface RetryPolicy {
  /** Delay before the first retry, before jitter (ms). */
  baseMs: number;
  /** Longest delay between two attempts (ms). */
  maxMs: number;
  /** Fraction of each delay taken off at random, 0..1 (0.5: between half and all of it). */
  jitter: number;
}

/** Retries in `start`: 10 s, 20 s, 40 s, ... up to 1 h, less up to half at random. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 10_000, maxMs: 3_600_000, jitter: 0.5 };

/** Retries in `dev`: 1 s, 2 s, 4 s, ... up to 1 min, so that a person sees the retry. */
export const DEV_RETRY_POLICY: RetryPolicy = { baseMs: 1_000, maxMs: 60_000, jitter: 0.5 };

/**
 * The delay before the attempt after `failedAttempt` (0 for the first attempt's failure).
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY_POLICY, retryDelayMs } from "@evt/functions";
 *
 * retryDelayMs(0, DEFAULT_RETRY_POLICY); // between 5,000 and 10,000
 * ```
 */
export function retryDelayMs(
  failedAttempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failedAttempt, 30));
  return Math.round(exp * (1 - policy.jitter * random()));
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * The latest time evt schedules anything at (ms since the epoch): the last moment a `Date`
 * can hold, and still a safe integer, which the run store requires of `due_at`.
 */
export const MAX_TIME_MS = 8_640_000_000_000_000;

function clampTime(ms: number): number {
  return Math.min(MAX_TIME_MS, Math.max(0, ms));
}

/**
 * When a `step.sleep` / `step.sleepUntil` op wakes: its `name` holds a duration as the SDK
 * writes it (`"3s"`, `"1h30m"`, `"2d"`) or, for `sleepUntil`, an ISO date. `null` when the
 * text is neither. The time is kept between 0 and {@link MAX_TIME_MS}.
 *
 * @example
 * ```ts
 * import { sleepUntil } from "@evt/functions";
 *
 * sleepUntil("1m30s", 0); // 90_000
 * sleepUntil("2030-01-01T00:00:00Z", Date.now()); // 1893456000000
 * ```
 */
export function sleepUntil(text: string | null, now: number): number | null {
  if (text === null) return null;
  const value = text.trim();
  if (value === "") return null;
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/y;
  let total = 0;
  let at = 0;
  let matched = false;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (m === null) break;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = re.lastIndex;
    matched = true;
  }
  // Clamped: a wake time the run store refuses (past year 275760, before 1970) would leave
  // the run unreleasable. A date in the past wakes at once.
  if (matched && at === value.length) return clampTime(now + Math.round(total));
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return clampTime(date);
  }
  return null;
}

import { Cron } from "croner";
import { TriggerError } from "./errors";

/** The longest cron string Inngest accepts. */
export const MAX_CRON_LENGTH = 255;
/** Jitter bounds (Inngest's `MinCronJitter` / `MaxCronJitter`). */
export const MIN_JITTER_MS = 1_000;
export const MAX_JITTER_MS = 5 * 60_000;

/** A parsed cron string. */
export interface ParsedCron {
  /** The cron as written, `TZ=` prefix included. */
  readonly source: string;
  /** The IANA zone of the `TZ=`/`CRON_TZ=` prefix, `"UTC"` without one. */
  readonly timezone: string;
  /** The five fields, without the prefix. */
  readonly fields: string;
  /** The croner schedule (paused: it never starts a timer). */
  readonly schedule: Cron;
}

const PREFIX = /^(?:CRON_)?TZ=(\S+)\s+/;
// One comma-separated part of a field, as robfig/cron (Inngest's parser) accepts it: `*` or `?`
// or a number or name, an optional range, an optional step. No `L`, `W`, `#` or `@daily`.
const PART = /^(?:\*|\?|(?:\d+|[A-Za-z]{3})(?:-(?:\d+|[A-Za-z]{3}))?)(?:\/\d+)?$/;
const FIELDS = ["minute", "hour", "day of month", "month", "day of week"];

/** Parses a cron string, returning what is wrong instead of throwing. */
export function parseCron(
  source: string,
): { ok: true; cron: ParsedCron } | { ok: false; message: string } {
  if (typeof source !== "string")
    return { ok: false, message: `must be a string, got ${typeof source}` };
  if (source.length > MAX_CRON_LENGTH) {
    return {
      ok: false,
      message: `is ${source.length} characters long; at most ${MAX_CRON_LENGTH} are allowed`,
    };
  }
  let rest = source.trim();
  let timezone = "UTC";
  const tz = PREFIX.exec(rest);
  if (tz) {
    timezone = tz[1]!;
    rest = rest.slice(tz[0].length);
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch {
      return {
        ok: false,
        message: `names the time zone ${JSON.stringify(timezone)}, which is not an IANA zone (like "Europe/Paris")`,
      };
    }
  } else if (/^(?:CRON_)?TZ=/.test(rest)) {
    return { ok: false, message: 'has a "TZ=<zone>" prefix without a schedule after it' };
  }
  const fields = rest.split(/\s+/).filter((f) => f.length > 0);
  const allowed =
    'five fields "minute hour day-of-month month day-of-week" (like "0 12 * * 5"), optionally after "TZ=<IANA zone> "';
  if (fields.length !== 5) {
    return {
      ok: false,
      message: `has ${fields.length} field${fields.length === 1 ? "" : "s"}; a cron is ${allowed}`,
    };
  }
  for (let i = 0; i < 5; i++) {
    for (const part of fields[i]!.split(",")) {
      if (!PART.test(part)) {
        return {
          ok: false,
          message: `has ${JSON.stringify(part)} in the ${FIELDS[i]} field; each field is "*", "?", a number or 3-letter name, a range "a-b", or a list of them, each with an optional "/step"`,
        };
      }
    }
  }
  try {
    const schedule = new Cron(fields.join(" "), { timezone, mode: "5-part", paused: true });
    return { ok: true, cron: { source, timezone, fields: fields.join(" "), schedule } };
  } catch (err) {
    const why = ((err as Error).message ?? "").replace(/^CronPattern:\s*/, "");
    return { ok: false, message: `does not parse: ${why}` };
  }
}

function parsedOrThrow(cron: string): ParsedCron {
  const parsed = parseCron(cron);
  if (!parsed.ok) {
    throw new TriggerError("invalid_cron", `cron ${JSON.stringify(cron)} ${parsed.message}`, {
      issues: [{ path: "cron", message: parsed.message }],
    });
  }
  return parsed.cron;
}

/**
 * The next `count` scheduled times of a cron strictly after `after`, as `Date`s (UTC instants).
 * Five fields, names (`MON`, `JAN`) and steps; an optional `TZ=<IANA zone> ` prefix, UTC
 * without one; day-of-month and day-of-week combine as OR when both are restricted (Vixie cron,
 * like Inngest's robfig/cron). Across daylight-saving changes: a local time that does not exist
 * (skipped by a spring-forward) fires at the first instant after the jump, once; a local time that
 * occurs twice (fall-back) fires once, at its first occurrence. Pure: no timers.
 *
 * @example
 * ```ts
 * import { nextTicks } from "@evt/triggers";
 * nextTicks("TZ=Europe/Paris 0 12 * * 5", new Date("2026-03-27T00:00:00Z"), 2);
 * // [2026-03-27T11:00:00.000Z, 2026-04-03T10:00:00.000Z] (CET, then CEST)
 * ```
 */
export function nextTicks(cron: string, after: Date, count: number): Date[] {
  if (!(after instanceof Date) || Number.isNaN(after.getTime())) {
    throw new TriggerError("invalid_argument", "nextTicks: after must be a valid Date", {
      issues: [{ path: "after", message: "must be a valid Date" }],
    });
  }
  if (!Number.isSafeInteger(count) || count < 0 || count > 10_000) {
    throw new TriggerError(
      "invalid_argument",
      `nextTicks: count must be an integer from 0 to 10000, got ${count}`,
      {
        issues: [{ path: "count", message: "must be an integer from 0 to 10000" }],
      },
    );
  }
  if (count === 0) return [];
  // croner's `previous` is inclusive of a run later in the same second; ask from the next
  // whole second so that "strictly after" holds and a tick equal to `after` is not repeated.
  const from = new Date(Math.floor(after.getTime() / 1000) * 1000 + 999);
  return parsedOrThrow(cron).schedule.nextRuns(count, from);
}

/**
 * Parses a jitter like `"30s"`, `"5m"`, `"1m30s"` or `"1500ms"` (Go duration units `ms`, `s`,
 * `m`, `h`) to milliseconds; returns the problem for anything else or outside 1 s to 5 min.
 */
export function parseJitter(
  jitter: string,
): { ok: true; ms: number } | { ok: false; message: string } {
  const allowed = 'a duration from 1s to 5m, like "30s", "5m" or "1m30s"';
  if (typeof jitter !== "string" || !/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(jitter)) {
    return { ok: false, message: `must be ${allowed}` };
  }
  let ms = 0;
  for (const [, num, unit] of jitter.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    ms +=
      Number(num) * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000);
  }
  if (ms < MIN_JITTER_MS || ms > MAX_JITTER_MS)
    return { ok: false, message: `is ${ms} ms; it must be ${allowed}` };
  return { ok: true, ms: Math.round(ms) };
}

/** FNV-1a, 32 bits: a small stable hash (the same on every platform and run). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The delay of one scheduled tick, in ms, for a trigger with `jitter`: from 1 s up to the
 * jitter, the same every time for the same `key` (e.g. the function id) and tick, so a
 * restarted scheduler fires the tick at the same moment. Only delays, never early.
 *
 * @example
 * ```ts
 * import { cronJitterMs } from "@evt/triggers";
 * const at = new Date("2026-03-27T11:00:00Z");
 * cronJitterMs("5m", "weekly-report", at) === cronJitterMs("5m", "weekly-report", at); // true
 * ```
 */
export function cronJitterMs(jitter: string, key: string, scheduledAt: Date): number {
  const parsed = parseJitter(jitter);
  if (!parsed.ok) {
    throw new TriggerError("invalid_cron", `jitter ${JSON.stringify(jitter)} ${parsed.message}`, {
      issues: [{ path: "jitter", message: parsed.message }],
    });
  }
  const span = parsed.ms - MIN_JITTER_MS;
  if (span <= 0) return MIN_JITTER_MS;
  return MIN_JITTER_MS + (fnv1a(`${key}\u0000${scheduledAt.toISOString()}`) % (span + 1));
}

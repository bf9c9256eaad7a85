import { describeValue, eventPath } from "./issues";
import { resolveLimits } from "./limits";
import type {
  EventIssue,
  NormalizedEvent,
  ParseEventResult,
  ParseOptions,
  ParseResult,
} from "./types";
import { explainEvent, fastNormalize } from "./validate";

const REQUEST_ALLOWED = "an event object, or a JSON array of event objects";

/**
 * Validates and normalises one request body (a parsed JSON value: one event object or an
 * array of them; `[]` is ok). Checks every event (never stops at the first bad one) and
 * returns all normalised events, or every issue found. Never throws.
 *
 * @example
 * ```ts
 * import { formatIssues, parseEvents } from "@evt/schema";
 * const result = parseEvents([{ name: "app/user.signup", data: { userId: "u1" } }]);
 * if (result.ok) result.events[0].ts; // the receive time
 * else console.error(formatIssues(result.issues));
 * ```
 */
export function parseEvents(body: unknown, options: ParseOptions = {}): ParseResult {
  try {
    const limits = resolveLimits(options.limits);
    const receivedAt = options.receivedAt ?? Date.now();
    let list: readonly unknown[];
    if (Array.isArray(body)) {
      list = body;
    } else if (typeof body === "object" && body !== null) {
      list = [body];
    } else {
      return requestIssue(
        `expected ${REQUEST_ALLOWED}, got ${describeValue(body)}`,
        REQUEST_ALLOWED,
      );
    }
    const count = list.length;
    if (count > limits.maxEventsPerRequest) {
      return requestIssue(
        `the request holds ${count} events`,
        `at most ${limits.maxEventsPerRequest} events per request`,
      );
    }
    const events: NormalizedEvent[] = new Array(count);
    let issues: EventIssue[] | undefined;
    for (let i = 0; i < count; i++) {
      const one = parseOne(list[i], i, receivedAt, options, limits);
      if (one.ok) {
        if (issues === undefined) events[i] = one.event;
      } else {
        issues ??= [];
        for (const issue of one.issues) issues.push(issue);
      }
    }
    return issues === undefined ? { ok: true, events } : { ok: false, issues };
  } catch (error) {
    return requestIssue(`could not be validated: ${errorText(error)}`, REQUEST_ALLOWED);
  }
}

/**
 * Validates and normalises one event (what the client checks before sending). Never throws.
 * Issue paths are `events[<index>]...` (`index` defaults to 0).
 *
 * @example
 * ```ts
 * import { parseEvent } from "@evt/schema";
 * const result = parseEvent({ name: "app/user.signup", ts: 1700000000 });
 * // result.ok === false; result.issues[0].message ends with "(seconds?)"
 * ```
 */
export function parseEvent(
  value: unknown,
  options: ParseOptions & { index?: number } = {},
): ParseEventResult {
  const index = options.index ?? 0;
  try {
    const limits = resolveLimits(options.limits);
    const receivedAt = options.receivedAt ?? Date.now();
    return parseOne(value, index, receivedAt, options, limits);
  } catch (error) {
    return {
      ok: false,
      issues: [
        {
          index,
          path: eventPath(index),
          message: `could not be validated: ${errorText(error)}`,
          allowed: "a plain JSON event object",
        },
      ],
    };
  }
}

function parseOne(
  raw: unknown,
  index: number,
  receivedAt: number,
  options: ParseOptions,
  limits: ReturnType<typeof resolveLimits>,
): ParseEventResult {
  let event: NormalizedEvent | undefined;
  try {
    event = fastNormalize(raw, receivedAt, limits);
    if (event === undefined) {
      const slow = explainEvent(raw, index, receivedAt, limits);
      if (slow.event === undefined) return { ok: false, issues: slow.issues };
      event = slow.event;
    }
  } catch (error) {
    return {
      ok: false,
      issues: [
        {
          index,
          path: eventPath(index),
          message: `could not be read: ${errorText(error)}`,
          allowed: "a plain JSON event object",
        },
      ],
    };
  }
  const catalog = options.catalog;
  if (catalog !== undefined) {
    const issues = catalog.check(event.name, event.data, index);
    if (issues.length > 0) return { ok: false, issues };
  }
  return { ok: true, event };
}

function requestIssue(message: string, allowed: string): ParseResult {
  return { ok: false, issues: [{ index: -1, path: "events", message, allowed }] };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One readable line for a list of issues, for an HTTP `error` field or an exception message:
 * `2 invalid events: events[0].ts: ... (allowed: ...); events[3].name: ...`, then
 * `; and N more` past `max` issues.
 *
 * @example
 * ```ts
 * import { formatIssues, parseEvents } from "@evt/schema";
 * const result = parseEvents([{ name: "a", ts: 1.5 }]);
 * if (!result.ok) formatIssues(result.issues);
 * // "1 invalid event: events[0].ts: expected an integer number of milliseconds since epoch, got 1.5 (allowed: ...)"
 * ```
 */
export function formatIssues(issues: readonly EventIssue[], max = 10): string {
  if (issues.length === 0) return "no issues";
  const events = new Set<number>();
  let requestLevel = false;
  for (const issue of issues) {
    if (issue.index < 0) requestLevel = true;
    else events.add(issue.index);
  }
  const head =
    events.size > 0
      ? `${events.size} invalid event${events.size === 1 ? "" : "s"}`
      : requestLevel
        ? "invalid request"
        : "invalid input";
  const shown = issues
    .slice(0, Math.max(0, max))
    .map((issue) => `${issue.path}: ${issue.message} (allowed: ${issue.allowed})`);
  const rest = issues.length - shown.length;
  return `${head}: ${shown.join("; ")}${rest > 0 ? `; and ${rest} more` : ""}`;
}

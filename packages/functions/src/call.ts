import type { StoredEvent } from "@evt/schema";
import type { JsonValue, StepRecord } from "./run-store";
import { MAX_TIME_MS } from "./timing";

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * The event as the SDK receives it (`event` and `events[0]` of a call): the stored event with
 * evt's internal id as `id` (the id the SDK and Inngest's REST API use for an event), and
 * `user` as `{}` when none was sent.
 *
 * @example
 * ```ts
 * import { sdkEvent } from "@evt/functions";
 *
 * sdkEvent(await store.get(run.eventInternalId, run.env));
 * // { id: "01J…", name: "app/user.signup", data: { userId: "u1" }, user: {}, ts: 1796… }
 * ```
 */
export function sdkEvent(event: StoredEvent): JsonObject {
  const out: JsonObject = {
    id: event.internal_id,
    name: event.name,
    data: (event.data ?? {}) as JsonValue,
    user: (event.user ?? {}) as JsonValue,
    ts: event.ts,
  };
  if (event.v !== null && event.v !== undefined) out.v = event.v;
  return out;
}

/** What {@link callBody} is given for one call of a function. */
export interface CallInput {
  /** The triggering event, as {@link sdkEvent} gives it. */
  event: JsonObject;
  /** All the run's events (a batch), `event` first. @default [event] */
  events?: readonly JsonObject[];
  runId: string;
  /** The attempt of this call, from 0. */
  attempt: number;
  /** retries + 1: on the last attempt the SDK reports errors as final. */
  maxAttempts: number;
  /** The run's memoized steps, in the order they were stored (the SDK's `stack`). */
  steps: readonly StepRecord[];
  /** The environment of the run (the SDK's `ctx.env`). */
  env: string;
  /** Ask the SDK to plan steps instead of running one inline (after a parallel step). */
  disableImmediateExecution?: boolean;
}

/**
 * The memo the SDK reads for one stored step: `{ data }`, `{ error }`, or `null` for a sleep
 * that has elapsed.
 */
export function memoOf(step: StepRecord): JsonValue {
  if (step.op === "Sleep") return null;
  if (step.error !== null) return { error: step.error };
  return { data: step.data };
}

/**
 * The JSON body of a call, in the classic (non-checkpointing) protocol: no `ctx.fn_id`, so
 * the SDK answers each step with a 206 and evt memoizes it before calling again.
 *
 * @example
 * ```ts
 * import { callBody, sdkEvent } from "@evt/functions";
 *
 * const body = callBody({ event: sdkEvent(stored), runId, attempt: 0, maxAttempts: 5, steps: [], env: "production" });
 * await fetch(stepUrl, { method: "POST", headers: { "content-type": "application/json" }, body });
 * ```
 */
export function callBody(input: CallInput): string {
  const steps: JsonObject = {};
  const stack: string[] = [];
  for (const step of input.steps) {
    steps[step.stepId] = memoOf(step);
    stack.push(step.stepId);
  }
  return JSON.stringify({
    event: input.event,
    events: input.events !== undefined && input.events.length > 0 ? input.events : [input.event],
    steps,
    ctx: {
      run_id: input.runId,
      attempt: input.attempt,
      max_attempts: input.maxAttempts,
      disable_immediate_execution: input.disableImmediateExecution === true,
      use_api: false,
      stack: { stack, current: stack.length },
      env: input.env,
      step_id: "step",
    },
    version: -1,
    use_api: false,
  });
}

/** One step op of a 206 answer. */
export interface StepOp {
  /** The hashed step id (the key of `steps`). */
  id: string;
  /** `StepRun`, `StepError`, `StepFailed`, `StepPlanned`, `Sleep`, `WaitForEvent`, ... */
  op: string;
  /** The step's name; for `Sleep` the duration or date, for `WaitForEvent` the event name. */
  name: string | null;
  displayName: string | null;
  opts: JsonObject | null;
  data: JsonValue;
  error: JsonValue;
}

/** How one call ended, read from the answer. */
export type CallOutcome =
  /** 200: the function returned `output`. */
  | { kind: "completed"; output: JsonValue }
  /** 206: steps to memoize or to run. */
  | { kind: "steps"; ops: StepOp[] }
  /** The call failed and may be retried (a 5xx, `x-inngest-no-retry: false`, a network error). */
  | { kind: "retry"; error: JsonObject; retryAfterMs: number | null; status: number | null }
  /** The call failed for good (`x-inngest-no-retry: true`, `NonRetriableError`, last attempt). */
  | { kind: "failed"; error: JsonObject; status: number };

/** A serialized error as the SDK sends them and `inngest/function.failed` carries them. */
export function errorObject(name: string, message: string): JsonObject {
  return { name, message };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseJson(text: string): { ok: true; value: JsonValue } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as JsonValue };
  } catch {
    return { ok: false };
  }
}

const SNIPPET = 200;

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function snippet(text: string): string {
  return cut(text, SNIPPET);
}

/**
 * `retry-after` as ms from `now`: seconds (`30`) or an HTTP or ISO date. `null` when absent
 * or unreadable.
 */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (value === null || value.trim() === "") return null;
  const text = value.trim();
  // At most until MAX_TIME_MS: a later due time is one the run store refuses.
  if (/^\d+(\.\d+)?$/.test(text))
    return Math.min(Math.round(Number(text) * 1000), Math.max(0, MAX_TIME_MS - now));
  // Only an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 850, asctime) or an ISO date:
  // Date.parse alone reads garbage such as "later 5" as a date in 2001, a retry at once.
  if (!/^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s/i.test(text) && !/^\d{4}-\d{2}-\d{2}/.test(text))
    return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** Longest error evt keeps from an app (JSON characters); the run store takes 4 MiB at most. */
const MAX_ERROR_CHARS = 65_536;
/** What is kept of each text field of an error over {@link MAX_ERROR_CHARS}. */
const MAX_ERROR_FIELD = 4_096;

/**
 * An error from an app, made small enough to store: an error over {@link MAX_ERROR_CHARS}
 * keeps its `name`, the start of its `message` and `stack`, and `__serialized`. Without
 * this, an app throwing a huge error could never be marked failed (the store refuses it).
 */
function boundedError(error: JsonObject): JsonObject {
  if (JSON.stringify(error).length <= MAX_ERROR_CHARS) return error;
  const out: JsonObject = {
    name: typeof error.name === "string" ? cut(error.name, 200) : "Error",
    message:
      typeof error.message === "string"
        ? cut(error.message, MAX_ERROR_FIELD)
        : "the app's error was too large to keep",
  };
  if (typeof error.stack === "string") out.stack = cut(error.stack, MAX_ERROR_FIELD);
  if (error.__serialized === true) out.__serialized = true;
  out.evt_truncated = true;
  return out;
}

/** A step op read from an SDK answer, or a reason it is not one. */
function readOp(value: unknown, at: number): StepOp | string {
  if (!isObject(value)) return `op ${at} is not an object`;
  if (typeof value.id !== "string" || value.id === "") return `op ${at} has no string "id"`;
  if (typeof value.op !== "string" || value.op === "") return `op ${at} has no string "op"`;
  return {
    id: value.id,
    op: value.op,
    name: typeof value.name === "string" ? value.name : null,
    displayName: typeof value.displayName === "string" ? value.displayName : null,
    opts: isObject(value.opts) ? value.opts : null,
    data: value.data === undefined ? null : value.data,
    error:
      value.error === undefined
        ? null
        : isObject(value.error)
          ? boundedError(value.error)
          : value.error,
  };
}

/**
 * Read the answer of a call as the SDK means it (function-protocol §7):
 * - 200: completed with the JSON output;
 * - 206: step ops;
 * - 201: a streamed answer (`INNGEST_STREAMING`), unwrapped and read again;
 * - anything else: failed for good when `x-inngest-no-retry: true`, else retryable (with
 *   `retry-after` honoured), as Inngest's own executor decides.
 *
 * @example
 * ```ts
 * import { readCallAnswer } from "@evt/functions";
 *
 * const res = await fetch(stepUrl, { method: "POST", body });
 * const outcome = readCallAnswer(res.status, (h) => res.headers.get(h), await res.text(), Date.now());
 * if (outcome.kind === "steps") for (const op of outcome.ops) console.log(op.op, op.id);
 * ```
 */
export function readCallAnswer(
  status: number,
  header: (name: string) => string | null,
  text: string,
  now: number,
): CallOutcome {
  if (status === 200) {
    if (text.trim() === "") return { kind: "completed", output: null };
    const parsed = parseJson(text);
    if (parsed.ok) return { kind: "completed", output: parsed.value };
    return {
      kind: "retry",
      status,
      retryAfterMs: null,
      error: errorObject(
        "EvtCallError",
        `the app answered 200 with a body that is not JSON: ${snippet(text)}`,
      ),
    };
  }
  if (status === 206) {
    const parsed = parseJson(text);
    const problem = (why: string): CallOutcome => ({
      kind: "retry",
      status,
      retryAfterMs: null,
      error: errorObject("EvtCallError", `the app answered 206 with ${why}`),
    });
    if (!parsed.ok) return problem(`a body that is not JSON: ${snippet(text)}`);
    const list = parsed.value;
    if (!Array.isArray(list)) return problem("a body that is not an array of step ops");
    const ops: StepOp[] = [];
    for (let i = 0; i < list.length; i++) {
      const op = readOp(list[i], i);
      if (typeof op === "string") return problem(op);
      ops.push(op);
    }
    return { kind: "steps", ops };
  }
  if (status === 201) {
    const parsed = parseJson(text.trim());
    if (parsed.ok && isObject(parsed.value) && typeof parsed.value.status === "number") {
      const streamed = parsed.value;
      const headers = isObject(streamed.headers) ? streamed.headers : {};
      const body =
        typeof streamed.body === "string" ? streamed.body : JSON.stringify(streamed.body ?? null);
      const lookup = (name: string) => {
        for (const [k, v] of Object.entries(headers))
          if (k.toLowerCase() === name && typeof v === "string") return v;
        return null;
      };
      return readCallAnswer(streamed.status as number, lookup, body, now);
    }
  }
  const parsed = parseJson(text);
  const error: JsonObject =
    parsed.ok && isObject(parsed.value)
      ? boundedError(parsed.value)
      : errorObject(
          "EvtCallError",
          `the app answered ${status}${text.trim() === "" ? " with an empty body" : `: ${snippet(text)}`}`,
        );
  const noRetry = header("x-inngest-no-retry");
  if (noRetry === "true") return { kind: "failed", status, error };
  return {
    kind: "retry",
    status,
    error,
    retryAfterMs: retryAfterMs(header("retry-after"), now),
  };
}

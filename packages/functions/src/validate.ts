import type { ConcurrencySlot } from "./concurrency";
import { FunctionsError } from "./errors";
import type {
  AppRecord,
  AttemptInput,
  AttemptOutcome,
  CreateRunInput,
  FunctionInput,
  ReleaseInput,
  RunStatus,
  StepInput,
} from "./run-store";

/** Largest JSON text (UTF-8 bytes) of one output, error, step data or config: 4 MiB, as Inngest. */
export const MAX_VALUE_BYTES = 4 * 1024 * 1024;
/** Longest function id, app id, step id or env. */
export const MAX_ID_LENGTH = 255;
/** Longest app or step URL. */
export const MAX_URL_LENGTH = 2048;
/** Most runs one `claimDue` returns. */
export const MAX_CLAIM_LIMIT = 1000;
/** Most steps one `saveSteps` call stores. */
export const MAX_STEPS_PER_CALL = 1000;

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
// Printable, no spaces or control characters: ids end up in URLs, logs and metric labels.
const TOKEN = /^[\x21-\x7e]+$/;

/** Whether `text` holds a C0 control character or DEL. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
const OP = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** The error of a run created with a `runId` another run has (every driver, every create path). */
export function runIdTaken(where: string, runId: string, cause?: unknown): FunctionsError {
  return new FunctionsError(
    where,
    "invalid_input",
    `runId ${runId} is already the id of another run; give a fresh ULID or none`,
    cause === undefined ? {} : { cause },
  );
}

function fail(where: string, message: string): never {
  throw new FunctionsError(where, "invalid_input", message);
}

const show = (value: unknown): string => {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  }
  if (value === undefined) return "undefined";
  if (typeof value === "bigint") return `${value}n`;
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return typeof value;
    return text.length > 40 ? `${text.slice(0, 40)}...` : text;
  } catch {
    return typeof value;
  }
};

/** A run id: a ULID (26 Crockford base32 characters, upper case). */
export function checkRunId(where: string, field: string, value: unknown): string {
  if (typeof value !== "string" || !ULID.test(value)) {
    fail(
      where,
      `${field} must be a ULID (26 characters of 0-9 A-Z without I L O U), got ${show(value)}`,
    );
  }
  return value;
}

/** An id (function, event, step, owner): 1 to `max` printable ASCII characters, no spaces. */
export function checkToken(
  where: string,
  field: string,
  value: unknown,
  max = MAX_ID_LENGTH,
): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max || !TOKEN.test(value)) {
    fail(
      where,
      `${field} must be 1 to ${max} printable ASCII characters without spaces, got ${show(value)}${typeof value === "string" && value.length > max ? ` (${value.length} characters)` : ""}`,
    );
  }
  return value;
}

/** Free text (a name): 1 to `max` characters, no control characters. */
function checkText(where: string, field: string, value: unknown, max = MAX_ID_LENGTH): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max || hasControl(value)) {
    fail(
      where,
      `${field} must be 1 to ${max} characters without control characters, got ${show(value)}`,
    );
  }
  return value;
}

/** A step's name (the user's step id): `null`/absent, or 1 to 255 characters without control characters. */
export function checkStepName(where: string, field: string, value: unknown): string | null {
  return value === undefined || value === null ? null : checkText(where, field, value);
}

function checkNullableText(
  where: string,
  field: string,
  value: unknown,
  max = 2048,
): string | null {
  if (value === null) return null;
  if (typeof value !== "string" || value.length > max) {
    fail(
      where,
      `${field} must be null or a string of at most ${max} characters, got ${show(value)}`,
    );
  }
  return value;
}

/** An http(s) URL of at most {@link MAX_URL_LENGTH} characters, without credentials. */
export function checkUrl(where: string, field: string, value: unknown): string {
  let url: URL | null = null;
  if (typeof value === "string" && value.length <= MAX_URL_LENGTH) {
    try {
      url = new URL(value);
    } catch {
      url = null;
    }
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    fail(
      where,
      `${field} must be an http:// or https:// URL of at most ${MAX_URL_LENGTH} characters, got ${show(value)}`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    // Never echo the value: it holds a password.
    fail(
      where,
      `${field} must not hold credentials (user:password@); pass keys as signing keys instead`,
    );
  }
  return value as string;
}

/** A time in ms since the epoch: a non-negative safe integer. */
export function checkTime(where: string, field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail(
      where,
      `${field} must be a time in ms since the epoch (a non-negative integer), got ${show(value)}`,
    );
  }
  return value;
}

function checkNullableTime(where: string, field: string, value: unknown): number | null {
  return value === null ? null : checkTime(where, field, value);
}

/** A count or duration: an integer from `min` to `max`. */
export function checkInteger(
  where: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(where, `${field} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

/**
 * Encode a JSON value to its text, refusing what JSON would change (non-finite numbers,
 * undefined, functions, bigints, cycles) and text over {@link MAX_VALUE_BYTES}.
 */
export function encodeJson(
  where: string,
  field: string,
  value: unknown,
  maxBytes = MAX_VALUE_BYTES,
): string {
  let bad: string | null = null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, function (this: unknown, key, v: unknown) {
      if (bad !== null) return null;
      const t = typeof v;
      if (t === "number" && !Number.isFinite(v as number))
        bad = `${String(v)} (not a finite number)`;
      else if (t === "bigint") bad = "a bigint";
      else if (t === "function" || t === "symbol") bad = `a ${t}`;
      else if (t === "undefined" && (Array.isArray(this) || key === "")) bad = "undefined";
      if (bad === null) return v;
      bad = `${bad} at ${key === "" ? field : `key ${JSON.stringify(key)} of ${field}`}`;
      return null;
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    // Should V8 throw on a bigint before the replacer sees it, name it all the same.
    if (bad === null && /BigInt/.test(message)) bad = `a bigint in ${field}`;
    if (bad === null) fail(where, `${field} must be JSON: ${message}`);
  }
  if (bad !== null) {
    fail(
      where,
      `${field} must be JSON (null, booleans, finite numbers, strings, arrays, objects); found ${bad}`,
    );
  }
  if (text === undefined) fail(where, `${field} must be JSON, got ${show(value)}`);
  // UTF-16 length is a lower bound of UTF-8 bytes and at most a third of them: skip counting when small.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > maxBytes) {
      throw new FunctionsError(
        where,
        "too_large",
        `${field} is ${bytes} bytes of JSON; at most ${maxBytes} are allowed (store large results elsewhere and return a reference)`,
      );
    }
  }
  return text;
}

/** Decode a JSON column; `null` stays `null`. */
export function decodeJson(text: string | null): import("./run-store").JsonValue {
  return text === null ? null : JSON.parse(text);
}

/** An app, checked. */
export function checkApp(where: string, app: unknown): AppRecord {
  if (typeof app !== "object" || app === null)
    fail(where, `app must be an object, got ${show(app)}`);
  const a = app as Record<string, unknown>;
  return {
    url: checkUrl(where, "app.url", a.url),
    appId: checkToken(where, "app.appId", a.appId),
    sdk: checkNullableText(where, "app.sdk", a.sdk ?? null, 255),
    framework: checkNullableText(where, "app.framework", a.framework ?? null, 255),
    syncedAt: checkNullableTime(where, "app.syncedAt", a.syncedAt ?? null),
    lastError: checkNullableText(where, "app.lastError", a.lastError ?? null),
  };
}

/** A function of `syncApp`, checked, with its config encoded. */
export interface CheckedFunction {
  id: string;
  name: string;
  config: string;
  stepUrl: string;
}

/** The functions of `syncApp`, checked (ids unique). */
export function checkFunctions(where: string, functions: unknown): CheckedFunction[] {
  if (!Array.isArray(functions)) fail(where, `functions must be an array, got ${show(functions)}`);
  if (functions.length > 10_000)
    fail(where, `functions: at most 10000 per app, got ${functions.length}`);
  const seen = new Set<string>();
  return functions.map((f: unknown, i) => {
    const at = `functions[${i}]`;
    if (typeof f !== "object" || f === null) fail(where, `${at} must be an object, got ${show(f)}`);
    const fn = f as Partial<FunctionInput>;
    const id = checkToken(where, `${at}.id`, fn.id);
    if (seen.has(id)) fail(where, `${at}.id ${show(id)} appears twice; function ids are unique`);
    seen.add(id);
    return {
      id,
      name: checkText(where, `${at}.name`, fn.name),
      config: encodeJson(where, `${at}.config`, fn.config),
      stepUrl: checkUrl(where, `${at}.stepUrl`, fn.stepUrl),
    };
  });
}

/** A `createRun` input, checked. */
export interface CheckedCreateRun {
  functionId: string;
  eventInternalId: string;
  env: string;
  dueAt: number;
  now: number;
  runId: string | undefined;
  /** Held from creation: `owner` until `until` (`now + leaseMs`), or `null`. */
  lease: { owner: string; until: number } | null;
  /** Concurrency slots, checked (empty when none). */
  concurrency: ConcurrencySlot[];
}

export function checkCreateRun(where: string, input: unknown): CheckedCreateRun {
  if (typeof input !== "object" || input === null)
    fail(where, `createRun input must be an object, got ${show(input)}`);
  const r = input as Partial<CreateRunInput>;
  const dueAt = checkTime(where, "dueAt", r.dueAt);
  const now = r.now === undefined ? Date.now() : checkTime(where, "now", r.now);
  let lease: CheckedCreateRun["lease"] = null;
  if (r.lease !== undefined) {
    if (typeof r.lease !== "object" || r.lease === null)
      fail(where, `lease must be an object { owner, leaseMs }, got ${show(r.lease)}`);
    const owner = checkToken(where, "lease.owner", r.lease.owner);
    const leaseMs = checkInteger(where, "lease.leaseMs", r.lease.leaseMs, 1, 86_400_000);
    if (dueAt > now)
      fail(
        where,
        `a run created with a lease is claimed at once: dueAt (${dueAt}) must not be after now (${now})`,
      );
    lease = { owner, until: now + leaseMs };
  }
  return {
    functionId: checkToken(where, "functionId", r.functionId),
    eventInternalId: checkToken(where, "eventInternalId", r.eventInternalId, 64),
    env: checkToken(where, "env", r.env),
    dueAt,
    now,
    runId: r.runId === undefined ? undefined : checkRunId(where, "runId", r.runId),
    lease,
    concurrency: checkSlots(where, r.concurrency, lease !== null),
  };
}

/** `createRun`'s concurrency slots, checked: at most two, distinct indexes 0 or 1, keys. */
export function checkSlots(where: string, value: unknown, leased = false): ConcurrencySlot[] {
  if (value === undefined) return [];
  if (leased && Array.isArray(value) && value.length > 0)
    fail(
      where,
      "concurrency: a run with concurrency slots is claimed by claimDue, which applies the limits; create it without a lease",
    );
  if (!Array.isArray(value) || value.length > 2)
    fail(where, `concurrency must be an array of at most 2 slots, got ${show(value)}`);
  const seen = new Set<number>();
  return value.map((slot: unknown, i) => {
    const s = slot as Partial<ConcurrencySlot> | null;
    if (typeof s !== "object" || s === null)
      fail(where, `concurrency[${i}] must be an object { idx, key }, got ${show(slot)}`);
    const idx = checkInteger(where, `concurrency[${i}].idx`, s.idx, 0, 1);
    if (seen.has(idx)) fail(where, `concurrency[${i}].idx ${idx} appears twice`);
    seen.add(idx);
    if (typeof s.key !== "string" || s.key === "" || s.key.length > 1024)
      fail(
        where,
        `concurrency[${i}].key must be a string of 1 to 1024 characters, got ${show(s.key)}`,
      );
    return { idx, key: s.key };
  });
}

/** `claimDue` arguments, checked. */
export function checkClaim(
  where: string,
  now: unknown,
  owner: unknown,
  leaseMs: unknown,
  limit: unknown,
) {
  return {
    now: checkTime(where, "now", now),
    owner: checkToken(where, "owner", owner),
    leaseMs: checkInteger(where, "leaseMs", leaseMs, 1, 86_400_000),
    limit: checkInteger(where, "limit", limit, 1, MAX_CLAIM_LIMIT),
  };
}

/** A `release` update, checked and encoded. */
export interface CheckedRelease {
  status: RunStatus;
  now: number;
  dueAt: number | null;
  attempt: number | undefined;
  output: string | undefined;
  error: string | undefined;
}

const RELEASE_STATUSES = ["queued", "completed", "failed", "cancelled"];

export function checkRelease(where: string, update: unknown): CheckedRelease {
  if (typeof update !== "object" || update === null)
    fail(where, `release update must be an object, got ${show(update)}`);
  const u = update as Partial<ReleaseInput>;
  if (typeof u.status !== "string" || !RELEASE_STATUSES.includes(u.status)) {
    fail(
      where,
      `update.status must be one of ${RELEASE_STATUSES.join(", ")}, got ${show(u.status)}`,
    );
  }
  const now = checkTime(where, "update.now", u.now);
  if (u.status !== "queued" && u.dueAt !== undefined) {
    fail(
      where,
      `update.dueAt is only allowed with status "queued" (a ${u.status} run is never due)`,
    );
  }
  return {
    status: u.status,
    now,
    dueAt:
      u.status === "queued"
        ? u.dueAt === undefined
          ? now
          : checkTime(where, "update.dueAt", u.dueAt)
        : null,
    attempt:
      u.attempt === undefined
        ? undefined
        : checkInteger(where, "update.attempt", u.attempt, 0, 10_000),
    output: u.output === undefined ? undefined : encodeJson(where, "update.output", u.output),
    error: u.error === undefined ? undefined : encodeJson(where, "update.error", u.error),
  };
}

/** An attempt of `recordAttempt`, checked and encoded (`error` as JSON text). */
export interface CheckedAttempt {
  runId: string;
  attempt: number;
  outcome: AttemptOutcome;
  startedAt: number | null;
  endedAt: number;
  error: string;
}

const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = ["retried", "failed", "completed"];

export function checkAttempt(where: string, input: unknown): CheckedAttempt {
  if (typeof input !== "object" || input === null)
    fail(where, `attempt must be an object, got ${show(input)}`);
  const a = input as Partial<AttemptInput>;
  if (typeof a.outcome !== "string" || !ATTEMPT_OUTCOMES.includes(a.outcome)) {
    fail(
      where,
      `attempt.outcome must be one of ${ATTEMPT_OUTCOMES.join(", ")}, got ${show(a.outcome)}`,
    );
  }
  return {
    runId: checkRunId(where, "attempt.runId", a.runId),
    attempt: checkInteger(where, "attempt.attempt", a.attempt, 0, 10_000),
    outcome: a.outcome,
    startedAt:
      a.startedAt === null || a.startedAt === undefined
        ? null
        : checkTime(where, "attempt.startedAt", a.startedAt),
    endedAt: checkTime(where, "attempt.endedAt", a.endedAt),
    error: encodeJson(where, "attempt.error", a.error ?? null),
  };
}

/** A step of `saveSteps`, checked and encoded. */
export interface CheckedStep {
  stepId: string;
  op: string;
  data: string;
  error: string;
  attempts: number;
  updatedAt: number;
  name: string | null;
  startedAt: number | null;
}

export function checkSteps(where: string, steps: unknown, now: number): CheckedStep[] {
  if (!Array.isArray(steps)) fail(where, `steps must be an array, got ${show(steps)}`);
  if (steps.length > MAX_STEPS_PER_CALL)
    fail(where, `steps: at most ${MAX_STEPS_PER_CALL} per call, got ${steps.length}`);
  return steps.map((s: unknown, i) => {
    const at = `steps[${i}]`;
    if (typeof s !== "object" || s === null) fail(where, `${at} must be an object, got ${show(s)}`);
    const step = s as Partial<StepInput>;
    const op = step.op;
    if (typeof op !== "string" || !OP.test(op)) {
      fail(
        where,
        `${at}.op must be an op name (a letter, then letters, digits or _, at most 64), got ${show(op)}`,
      );
    }
    return {
      stepId: checkToken(where, `${at}.stepId`, step.stepId),
      op,
      data: encodeJson(where, `${at}.data`, step.data ?? null),
      error: encodeJson(where, `${at}.error`, step.error ?? null),
      attempts: checkInteger(where, `${at}.attempts`, step.attempts, 0, 10_000),
      updatedAt:
        step.updatedAt === undefined ? now : checkTime(where, `${at}.updatedAt`, step.updatedAt),
      name: checkStepName(where, `${at}.name`, step.name),
      startedAt:
        step.startedAt === undefined
          ? null
          : checkNullableTime(where, `${at}.startedAt`, step.startedAt),
    };
  });
}

const TABLE_PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

/** The SQL drivers' `tablePrefix` option: a plain identifier prefix, `evt_fn_` when not given. */
export function tablePrefixOption(where: string, value: unknown): string {
  const prefix = value ?? "evt_fn_";
  if (typeof prefix !== "string" || !TABLE_PREFIX.test(prefix)) {
    throw new FunctionsError(
      where,
      "invalid_input",
      `options.tablePrefix must be a plain identifier (a letter or _, then letters, digits or _, at most 40 characters), got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

/** The SQL drivers' `timeoutMs` option: 1 ms to 10 min, 2 s when not given. */
export function timeoutOption(where: string, value: unknown): number {
  return value === undefined ? 2_000 : checkInteger(where, "options.timeoutMs", value, 1, 600_000);
}

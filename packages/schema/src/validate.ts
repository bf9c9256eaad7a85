/**
 * The two validation paths for one event. The fast path is hand-written plain checks for the
 * common valid shape; it answers "valid, here is the normalised event" or "not valid". The
 * slow path runs only then: it walks `data`/`user` for JSON problems with their paths, asks
 * the zod schema (the source of truth) about the fields, and explains every problem.
 */
import { allowedFor, describeFieldProblem, describeValue, eventPath } from "./issues";
import {
  eventByteLength,
  isPlainObject,
  jsonObjectBound,
  MAX_BYTES_PER_UNIT,
  MAX_NUMBER_BYTES,
} from "./json-size";
import { type Limits, RESERVED_NAME_RE } from "./limits";
import { schemaFor } from "./schema";
import { isCleanText, TEXT_ALLOWED, textProblem } from "./text";
import type { EventIssue, NormalizedEvent } from "./types";

/** JSON bytes of a normalised event besides its six values. */
const EVENT_OVERHEAD = '{"name":,"data":,"user":,"id":,"ts":,"v":}'.length;

/**
 * A bound past which an event is certainly too big: every JSON piece takes at least 1/25 of
 * its bound, so a bound over 25x the limit needs no exact measure (and stops the walk early).
 */
const BOUND_FACTOR = MAX_NUMBER_BYTES;

const FIELDS = ["name", "data", "user", "id", "ts", "v"] as const;
type Field = (typeof FIELDS)[number];

/** The normalised event when `raw` is valid under `limits`, else `undefined`. Never throws on JSON input. */
export function fastNormalize(
  raw: unknown,
  receivedAt: number,
  limits: Limits,
): NormalizedEvent | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const event = raw as Record<string, unknown>;
  const budget = limits.maxEventBytes;
  const cap = budget * BOUND_FACTOR;
  const maxDepth = limits.maxDepth;

  const name = event.name;
  if (typeof name !== "string") return undefined;
  if (name.length === 0 || name.length > limits.nameMaxLength) return undefined;
  const first = name.charCodeAt(0) | 0x20;
  if ((first === 0x69 || first === 0x65) && RESERVED_NAME_RE.test(name)) return undefined;
  if (!isCleanText(name)) return undefined;
  // An upper bound of the event's JSON size; measured exactly only when it passes the limit.
  let bound = EVENT_OVERHEAD + name.length * MAX_BYTES_PER_UNIT + 2 + 4 * MAX_NUMBER_BYTES;

  let data = event.data as Record<string, unknown> | null | undefined;
  if (data === undefined || data === null) {
    data = {};
  } else {
    if (typeof data !== "object" || Array.isArray(data) || !isPlainObject(data)) return undefined;
    const bytes = jsonObjectBound(data, maxDepth, cap);
    if (bytes < 0) return undefined;
    bound += bytes;
  }

  let user = event.user as Record<string, unknown> | null | undefined;
  if (user === undefined || user === null) {
    user = null;
  } else {
    if (typeof user !== "object" || Array.isArray(user) || !isPlainObject(user)) return undefined;
    const bytes = jsonObjectBound(user, maxDepth, cap);
    if (bytes < 0) return undefined;
    bound += bytes;
  }

  let id = event.id as string | null | undefined;
  if (id === undefined || id === null || id === "") {
    id = null;
  } else {
    if (typeof id !== "string" || id.length > limits.idMaxLength || !isCleanText(id)) {
      return undefined;
    }
    bound += id.length * MAX_BYTES_PER_UNIT;
  }

  let ts = event.ts as number | null | undefined;
  if (ts === undefined || ts === null) {
    ts = receivedAt;
  } else if (
    typeof ts !== "number" ||
    !Number.isInteger(ts) ||
    ts < limits.tsMin ||
    ts >= limits.tsMax
  ) {
    return undefined;
  }

  let v = event.v as string | null | undefined;
  if (v === undefined || v === null || v === "") {
    v = null;
  } else {
    if (typeof v !== "string" || v.length > limits.versionMaxLength || !isCleanText(v)) {
      return undefined;
    }
    bound += v.length * MAX_BYTES_PER_UNIT;
  }

  const normalized: NormalizedEvent = { name, data, user, id, ts, v };
  if (bound > budget && (bound > cap || eventByteLength(normalized) > budget)) return undefined;
  return normalized;
}

/** What the slow path found: the issues, or the event when there are none. */
export type SlowResult =
  | { issues: EventIssue[]; event?: undefined }
  | { issues: []; event: NormalizedEvent };

/** Validates `raw` with full explanations (zod decides the fields). Never throws on JSON input. */
export function explainEvent(
  raw: unknown,
  index: number,
  receivedAt: number,
  limits: Limits,
): SlowResult {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return {
      issues: [
        {
          index,
          path: eventPath(index),
          message: `expected an event object, got ${describeValue(raw)}`,
          allowed: 'an object like {"name": "app/user.signup", "data": {...}}',
        },
      ],
    };
  }
  const event = raw as Record<string, unknown>;
  // Only the known fields, into a fresh literal: nothing else of the input reaches zod.
  const values: Record<Field, unknown> = {
    name: event.name,
    data: event.data,
    user: event.user,
    id: event.id,
    ts: event.ts,
    v: event.v,
  };
  const probe = { ...values };
  const found = new Map<Field, EventIssue>();

  for (const field of ["data", "user"] as const) {
    const value = probe[field];
    if (typeof value !== "object" || value === null || Array.isArray(value)) continue;
    const problem = isPlainObject(value)
      ? findJsonProblem(value, limits)
      : {
          segments: [],
          message: `expected a JSON object, got ${describeValue(value)}`,
          allowed: allowedFor(field, limits),
        };
    if (problem !== undefined) {
      found.set(field, {
        index,
        path: eventPath(index, [field, ...problem.segments]),
        message: problem.message,
        allowed: problem.allowed,
      });
    }
    // Either rejected above or a plain object of JSON values within the depth limit, which
    // the schema's JSON object type accepts: zod need not walk it again (nor deep nesting).
    probe[field] = {};
  }

  const parsed = schemaFor(limits).safeParse(probe);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = issue.path[0] as Field | undefined;
      if (field === undefined || found.has(field)) continue;
      const problem = describeFieldProblem(field, probe[field], limits);
      found.set(field, {
        index,
        path: eventPath(index, issue.path),
        message: problem?.message ?? issue.message,
        allowed: problem?.allowed ?? allowedFor(field, limits),
      });
    }
  }
  if (found.size > 0) {
    const issues: EventIssue[] = [];
    for (const field of FIELDS) {
      const issue = found.get(field);
      if (issue !== undefined) issues.push(issue);
    }
    return { issues };
  }

  const normalized: NormalizedEvent = {
    name: values.name as string,
    data: (values.data ?? {}) as Record<string, unknown>,
    user: (values.user ?? null) as Record<string, unknown> | null,
    id: values.id === "" || values.id == null ? null : (values.id as string),
    ts: values.ts == null ? receivedAt : (values.ts as number),
    v: values.v === "" || values.v == null ? null : (values.v as string),
  };
  const bytes = eventByteLength(normalized);
  if (bytes > limits.maxEventBytes) {
    return {
      issues: [
        {
          index,
          path: eventPath(index),
          message: `is ${bytes} bytes as JSON`,
          allowed: `at most ${limits.maxEventBytes} bytes of JSON (UTF-8) per event`,
        },
      ],
    };
  }
  return { issues: [], event: normalized };
}

interface JsonProblem {
  segments: PropertyKey[];
  message: string;
  allowed: string;
}

const JSON_VALUES = "JSON values only: string, finite number, boolean, null, array, plain object";

/**
 * The first non-JSON value, too-deep container, or key or string value that is not clean text
 * (`textProblem`), under `root`, with its path. Iterative, and bounded in the number of values
 * visited, so neither nesting nor shared references can hang.
 */
function findJsonProblem(root: object, limits: Limits): JsonProblem | undefined {
  const stack: { value: object; segments: PropertyKey[] }[] = [{ value: root, segments: [] }];
  let visited = 0;
  while (stack.length > 0) {
    const { value, segments } = stack.pop()!;
    if (segments.length + 1 > limits.maxDepth) {
      return {
        segments,
        message: `is nested deeper than ${limits.maxDepth} levels`,
        allowed: `at most ${limits.maxDepth} levels of nested objects/arrays, counting the top object`,
      };
    }
    const entries: [PropertyKey, unknown][] = [];
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) entries.push([i, value[i]]);
    } else {
      for (const key of Object.keys(value)) {
        const v = (value as Record<string, unknown>)[key];
        if (v !== undefined) entries.push([key, v]); // left out by JSON.stringify: allowed
      }
    }
    visited += entries.length + 1;
    if (visited > limits.maxEventBytes) {
      return {
        segments: [],
        message: `holds more than ${limits.maxEventBytes} values`,
        allowed: `at most ${limits.maxEventBytes} bytes of JSON (UTF-8) per event`,
      };
    }
    for (const [key, v] of entries) {
      const path = [...segments, key];
      if (typeof key === "string") {
        const text = textProblem(key);
        if (text !== undefined) {
          return { segments: path, message: `the key ${text}`, allowed: TEXT_ALLOWED };
        }
      }
      if (typeof v === "object" && v !== null) {
        if (!Array.isArray(v) && !isPlainObject(v)) {
          return {
            segments: path,
            message: `is not a JSON value: got ${describeValue(v)}`,
            allowed: JSON_VALUES,
          };
        }
        stack.push({ value: v, segments: path });
      } else if (typeof v === "string") {
        const text = textProblem(v);
        if (text !== undefined) return { segments: path, message: text, allowed: TEXT_ALLOWED };
      } else if (
        typeof v === "boolean" ||
        v === null ||
        (typeof v === "number" && Number.isFinite(v))
      ) {
        // a JSON primitive
      } else {
        return {
          segments: path,
          message: `is not a JSON value: got ${describeValue(v)}`,
          allowed: JSON_VALUES,
        };
      }
    }
  }
  return undefined;
}

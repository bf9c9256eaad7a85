import type * as z from "zod";
import { isoDay, type Limits, RESERVED_NAME_RE } from "./limits";
import { TEXT_ALLOWED, textProblem } from "./text";
import type { EventIssue } from "./types";

/** `events[3]`, or `events[3].data.user["first name"]` when given segments. */
export function eventPath(index: number, segments: readonly PropertyKey[] = []): string {
  let path = `events[${index}]`;
  for (const segment of segments) {
    if (typeof segment === "number") path += `[${segment}]`;
    else if (typeof segment === "symbol") path += `[${String(segment)}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) path += `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/** A short, safe description of a value for a message: `string "abc"`, `an array`, `null`. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `string ${preview(value)}`;
    case "number":
      return `number ${String(value)}`;
    case "boolean":
      return `boolean ${String(value)}`;
    case "bigint":
      return `bigint ${String(value)}n`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    default: {
      if (value === null) return "null";
      if (Array.isArray(value)) return `an array of ${value.length}`;
      const proto = Object.getPrototypeOf(value);
      if (proto === null || proto === Object.prototype) return "an object";
      if (value instanceof Date) return "a Date object (send date.toISOString())";
      const ctor = proto?.constructor?.name;
      return typeof ctor === "string" && ctor !== "" ? `a ${ctor} object` : "a non-plain object";
    }
  }
}

/** A JSON-quoted preview of a string, cut at 40 characters. */
function preview(value: string): string {
  if (value.length <= 40) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, 40))}... (${value.length} characters)`;
}

/** What each top-level field allows, for `EventIssue.allowed`. */
export function allowedFor(field: string, limits: Limits): string {
  switch (field) {
    case "name":
      return `a string of 1..${limits.nameMaxLength} characters, not starting with "inngest/" or "evt/" (any case)`;
    case "data":
      return "a JSON object ({...}), null or absent (becomes {})";
    case "user":
      return "a JSON object ({...}), null or absent";
    case "id":
      return `a string of at most ${limits.idMaxLength} characters, null or absent`;
    case "ts":
      return `integer ms since epoch in [${isoDay(limits.tsMin)}, ${isoDay(limits.tsMax)}), null or absent (the receive time)`;
    case "v":
      return `a string of at most ${limits.versionMaxLength} characters, null or absent`;
    default:
      return "no such field is checked";
  }
}

/** What is wrong with a top-level field and what it allows. */
export interface FieldProblem {
  message: string;
  allowed: string;
}

/**
 * Why `value` is not a valid top-level `field`, or `undefined` when it is valid (so the caller
 * can fall back to the zod message if the two ever disagree).
 */
export function describeFieldProblem(
  field: string,
  value: unknown,
  limits: Limits,
): FieldProblem | undefined {
  const message = describeShapeProblem(field, value, limits);
  if (message !== undefined) return { message, allowed: allowedFor(field, limits) };
  if (typeof value === "string" && (field === "name" || field === "id" || field === "v")) {
    const text = textProblem(value);
    if (text !== undefined) return { message: text, allowed: TEXT_ALLOWED };
  }
  return undefined;
}

/** A field's problem other than its characters (type, length, reserved name, range). */
function describeShapeProblem(field: string, value: unknown, limits: Limits): string | undefined {
  switch (field) {
    case "name": {
      if (value === undefined) return "is required: every event needs a name";
      if (typeof value !== "string") return `expected a string, got ${describeValue(value)}`;
      if (value.length === 0) return "must not be empty";
      if (value.length > limits.nameMaxLength) return `is ${value.length} characters long`;
      const reserved = RESERVED_NAME_RE.exec(value);
      if (reserved) return `starts with the reserved prefix "${reserved[0]}"`;
      return undefined;
    }
    case "data":
    case "user": {
      if (value === undefined || value === null) return undefined;
      if (typeof value !== "object" || Array.isArray(value)) {
        return `expected a JSON object, got ${describeValue(value)}`;
      }
      return undefined;
    }
    case "id":
    case "v": {
      if (value === undefined || value === null) return undefined;
      if (typeof value !== "string") return `expected a string, got ${describeValue(value)}`;
      const max = field === "id" ? limits.idMaxLength : limits.versionMaxLength;
      if (value.length > max) return `is ${value.length} characters long`;
      return undefined;
    }
    case "ts":
      return describeTsProblem(value, limits);
    default:
      return undefined;
  }
}

function describeTsProblem(value: unknown, limits: Limits): string | undefined {
  if (value === undefined || value === null) return undefined;
  const expected = "expected an integer number of milliseconds since epoch";
  if (typeof value !== "number") return `${expected}, got ${describeValue(value)}`;
  if (!Number.isFinite(value)) return `${expected}, got ${String(value)}`;
  if (!Number.isInteger(value)) {
    const asSeconds = value * 1000;
    const hint = asSeconds >= limits.tsMin && asSeconds < limits.tsMax ? " (seconds?)" : "";
    return `${expected}, got ${value}${hint}`;
  }
  if (value < limits.tsMin) {
    const asSeconds = value * 1000;
    if (asSeconds >= limits.tsMin && asSeconds < limits.tsMax) {
      return `${expected}, got ${value} (seconds?)`;
    }
    return `${expected}, got ${value}, before ${isoDay(limits.tsMin)}`;
  }
  if (value >= limits.tsMax) {
    const asMillis = value / 1000;
    const hint = asMillis >= limits.tsMin && asMillis < limits.tsMax ? " (microseconds?)" : "";
    return `${expected}, got ${value}, not before ${isoDay(limits.tsMax)}${hint}`;
  }
  return undefined;
}

/** One zod issue (from a catalog's data schema) as an {@link EventIssue} under `prefix`. */
export function zodIssueToEventIssue(
  issue: z.core.$ZodIssue,
  index: number,
  prefix: readonly PropertyKey[],
): EventIssue {
  return {
    index,
    path: eventPath(index, [...prefix, ...issue.path]),
    message: issue.message,
    allowed: allowedFromZodIssue(issue),
  };
}

/** A human phrase for what a zod issue allows. */
function allowedFromZodIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `a value of type ${issue.expected}`;
    case "too_small":
      return `${issue.origin} ${issue.inclusive === false ? ">" : ">="} ${String(issue.minimum)}${sizeUnit(issue.origin)}`;
    case "too_big":
      return `${issue.origin} ${issue.inclusive === false ? "<" : "<="} ${String(issue.maximum)}${sizeUnit(issue.origin)}`;
    case "invalid_value":
      return `one of ${issue.values.map((v) => JSON.stringify(v) ?? String(v)).join(", ")}`;
    case "invalid_format":
      return issue.pattern ? `a string matching ${issue.pattern}` : `a ${issue.format} string`;
    case "not_multiple_of":
      return `a multiple of ${String(issue.divisor)}`;
    case "unrecognized_keys":
      return `no keys besides those of the event's schema (remove ${issue.keys.join(", ")})`;
    case "invalid_union":
      return "a value matching one of the schema's alternatives";
    case "invalid_key":
      return "keys the schema accepts";
    case "invalid_element":
      return "elements the schema accepts";
    default:
      return "what the event's data schema accepts";
  }
}

function sizeUnit(origin: string): string {
  if (origin === "string") return " characters";
  if (origin === "array" || origin === "set") return " items";
  return "";
}

import { compileValue, TriggerError, type ValueExpression } from "@evt/triggers";
import type { WebhooksIssue } from "./errors";
import type { TransformSpec } from "./types";

/** The variables a transform reads. */
export const TRANSFORM_VARIABLES = ["body", "headers", "query"] as const;

/** The event fields a transform may set, besides `split`. */
export const TRANSFORM_FIELDS = ["name", "data", "id", "ts", "user"] as const;
type Field = (typeof TRANSFORM_FIELDS)[number];

/** The default event name (Inngest's for webhooks). */
export const DEFAULT_EVENT_NAME = "webhook/request.received";

/** What a transform sees of a request. */
export interface TransformInput {
  body: unknown;
  /** Lower-case names. */
  headers: Record<string, unknown>;
  query: Record<string, unknown>;
}

/** A transform that failed: which field and why (answered 400). */
export interface TransformFailure {
  ok: false;
  /** Like `transform.name`, or `transform.name (body[2])` for the third element of a split body. */
  field: string;
  reason: string;
}

/** Events as the sender would have written them to `/e/` (validated after). */
export type TransformResult = { ok: true; events: Record<string, unknown>[] } | TransformFailure;

/** A compiled transform. */
export interface CompiledTransform {
  readonly spec: TransformSpec;
  apply(input: TransformInput): TransformResult;
}

/**
 * Compiles a transform's CEL expressions (over `body`, `headers`, `query`). Throws nothing:
 * problems come back as issues with paths like `transform.name`, so a definition lists all.
 */
export function compileTransform(
  spec: TransformSpec,
  path = "transform",
): { ok: true; transform: CompiledTransform } | { ok: false; issues: WebhooksIssue[] } {
  const issues: WebhooksIssue[] = [];
  const compiled: Partial<Record<Field, ValueExpression>> = {};
  for (const field of TRANSFORM_FIELDS) {
    const text = spec[field];
    if (text === undefined) continue;
    try {
      compiled[field] = compileValue(text, TRANSFORM_VARIABLES);
    } catch (err) {
      const message =
        err instanceof TriggerError ? (err.issues[0]?.message ?? err.message) : String(err);
      issues.push({
        path: `${path}.${field}`,
        message: `${message} (a CEL expression over body, headers, query)`,
      });
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  const split = spec.split === true;
  return {
    ok: true,
    transform: {
      spec,
      apply(input) {
        if (split && Array.isArray(input.body)) {
          const events: Record<string, unknown>[] = [];
          for (const [i, element] of input.body.entries()) {
            const one = toEvent(compiled, { ...input, body: element }, ` (body[${i}])`);
            if (!one.ok) return one;
            events.push(one.event);
          }
          return { ok: true, events };
        }
        const one = toEvent(compiled, input, "");
        return one.ok ? { ok: true, events: [one.event] } : one;
      },
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function kind(v: unknown): string {
  return v === null
    ? "null"
    : Array.isArray(v)
      ? "a list"
      : typeof v === "object"
        ? "a map"
        : `a ${typeof v}`;
}

function toEvent(
  compiled: Partial<Record<Field, ValueExpression>>,
  input: TransformInput,
  where: string,
): { ok: true; event: Record<string, unknown> } | TransformFailure {
  const fail = (field: Field, reason: string): TransformFailure => ({
    ok: false,
    field: `transform.${field}${where}`,
    reason,
  });
  const values: Partial<Record<Field, unknown>> = {};
  for (const field of TRANSFORM_FIELDS) {
    const expr = compiled[field];
    if (expr === undefined) continue;
    const result = expr.evaluate(input as unknown as Record<string, unknown>);
    if (!result.ok) return fail(field, result.error.message);
    if (result.value === null) {
      return fail(
        field,
        `${expr.expression} gives null: it reads a field the request does not have`,
      );
    }
    values[field] = result.value;
  }
  const name = "name" in values ? values.name : DEFAULT_EVENT_NAME;
  if (typeof name !== "string" || name === "") {
    return fail("name", `must give a non-empty string, but gives ${kind(name)}`);
  }
  const event: Record<string, unknown> = { name };
  const data = "data" in values ? values.data : input.body;
  if (!isObject(data)) {
    return fail(
      "data",
      `must give a map (the event's data), but gives ${kind(data)}${
        "data" in values
          ? ""
          : ": the body is not a JSON object; set transform.data, or split: true for an array body"
      }`,
    );
  }
  event.data = data;
  if ("id" in values) {
    const id = values.id;
    if (typeof id === "number" && Number.isFinite(id)) event.id = String(id);
    else if (typeof id === "string") event.id = id;
    else return fail("id", `must give a string, but gives ${kind(id)}`);
  }
  if ("ts" in values) {
    const ts = values.ts;
    if (typeof ts === "number") event.ts = ts;
    else if (typeof ts === "string" && !Number.isNaN(Date.parse(ts))) event.ts = Date.parse(ts);
    else
      return fail("ts", `must give epoch milliseconds or an ISO 8601 time, but gives ${kind(ts)}`);
  }
  if ("user" in values) {
    if (!isObject(values.user))
      return fail("user", `must give a map, but gives ${kind(values.user)}`);
    event.user = values.user;
  }
  return { ok: true, event };
}

import * as z from "zod";
import { LIMITS, type Limits } from "./limits";
import { isCleanText, TEXT_ALLOWED, textProblem } from "./text";

/** A name that does not start with `inngest/` or `evt/` in any case (as a JSON Schema pattern). */
const NOT_RESERVED = /^(?![Ii][Nn][Nn][Gg][Ee][Ss][Tt]\/|[Ee][Vv][Tt]\/)/;

/** A zod string that is well-formed Unicode without U+0000 (see `isCleanText`). */
function text() {
  return z.string().refine(isCleanText, {
    error: (issue) => (typeof issue.input === "string" ? textProblem(issue.input) : undefined),
  });
}

/**
 * A {@link text} of at most `max` UTF-16 code units (`string.length`), the unit of `Limits`.
 * zod's `.max` counts code points (zod 4.6), so it stays only for the JSON Schema's `maxLength`
 * (code points as well: looser than this for characters beyond U+FFFF, which
 * test/json-schema.test.ts lists); the refinement enforces the limit.
 */
function textOfAtMost(max: number) {
  return text()
    .max(max)
    .refine((s) => s.length <= max, { error: `must be at most ${max} UTF-16 code units` });
}

/**
 * `z.json()` with every string and key checked by {@link text}: same structure, type and JSON
 * Schema (zod leaves refinements out of it).
 */
function jsonObjectSchema() {
  const key = text();
  const value: z.ZodJSONSchema = z.lazy(() =>
    z.union([text(), z.number(), z.boolean(), z.null(), z.array(value), z.record(key, value)]),
  ) as unknown as z.ZodJSONSchema;
  return z.record(key, value);
}

/**
 * The zod schema of one event payload under `limits`: the single source of the rules, used
 * for the JSON Schema and for the error details when the fast path rejects an event.
 * Unknown top-level fields are stripped. `null` means "absent" for every optional field.
 *
 * @example
 * ```ts
 * import { createEventPayloadSchema } from "@evt/schema";
 * const schema = createEventPayloadSchema({ nameMaxLength: 64 });
 * schema.safeParse({ name: "app/user.signup" }).success; // true
 * ```
 */
export function createEventPayloadSchema(overrides: Partial<Limits> = {}) {
  const limits: Limits = { ...LIMITS, ...overrides };
  const jsonObject = jsonObjectSchema();
  return z
    .object({
      name: textOfAtMost(limits.nameMaxLength)
        .min(1)
        .regex(NOT_RESERVED, { message: "must not start with inngest/ or evt/" })
        .describe(
          `Event name, e.g. "app/user.signup". 1..${limits.nameMaxLength} UTF-16 code units (a character beyond U+FFFF counts 2); names starting with "inngest/" or "evt/" (any case) are reserved.`,
        ),
      data: jsonObject
        .nullable()
        .optional()
        .describe("Any JSON object. Absent or null becomes {}."),
      user: jsonObject.nullable().optional().describe("Any JSON object describing the user."),
      id: textOfAtMost(limits.idMaxLength)
        .nullable()
        .optional()
        .describe(
          `Deduplication id, global across event names, kept 24 hours. At most ${limits.idMaxLength} UTF-16 code units; empty means none.`,
        ),
      ts: z
        .int()
        .gte(limits.tsMin)
        .lt(limits.tsMax)
        .nullable()
        .optional()
        .describe(
          "Event time in integer milliseconds since the Unix epoch, from 1980-01-01 (inclusive) to 2100-01-01 (exclusive). Defaults to the time the event is received.",
        ),
      v: textOfAtMost(limits.versionMaxLength)
        .nullable()
        .optional()
        .describe(
          `Version of the event's shape, e.g. "2024-01-14.1". At most ${limits.versionMaxLength} UTF-16 code units.`,
        ),
    })
    .meta({
      title: "evt event payload",
      description: `One event sent to POST /e/{eventKey} (Inngest-compatible). A request body is one such object or an array of up to 5000 of them. Unknown top-level fields are ignored. Every string (name, id, v, and every key and string value inside data and user) must be ${TEXT_ALLOWED}: no lone surrogate escapes such as "\\ud800", no "\\u0000".`,
    });
}

/** The type of the schema {@link createEventPayloadSchema} builds. */
export type EventPayloadSchema = ReturnType<typeof createEventPayloadSchema>;

/** The event payload schema under the default {@link LIMITS}. */
export const eventPayloadSchema: EventPayloadSchema = createEventPayloadSchema();

const schemaCache = new Map<string, EventPayloadSchema>();

/** The schema for `limits`, cached (servers use one set of limits). */
export function schemaFor(limits: Limits): EventPayloadSchema {
  if (limits === LIMITS) return eventPayloadSchema;
  const key = JSON.stringify(limits);
  let schema = schemaCache.get(key);
  if (schema === undefined) {
    schema = createEventPayloadSchema(limits);
    if (schemaCache.size > 32) schemaCache.clear();
    schemaCache.set(key, schema);
  }
  return schema;
}

/**
 * JSON Schema (draft 2020-12) of one event payload, generated from the zod schema. The same
 * document ships as `@evt/schema/event.schema.json` for senders in other languages.
 *
 * @example
 * ```ts
 * import { eventPayloadJsonSchema } from "@evt/schema";
 * eventPayloadJsonSchema.required; // ["name"]
 * ```
 */
export const eventPayloadJsonSchema: Record<string, unknown> =
  /* @__PURE__ */ generateEventPayloadJsonSchema();

/** Builds {@link eventPayloadJsonSchema} (exported for the script that writes the file). */
export function generateEventPayloadJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(eventPayloadSchema, { io: "input", target: "draft-2020-12" });
  // zod names the recursive JSON value `__schema0`; give it a readable name.
  return JSON.parse(JSON.stringify(generated).replaceAll("__schema0", "JsonValue"));
}

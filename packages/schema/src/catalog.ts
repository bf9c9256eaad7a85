import type * as z from "zod";
import { EvtSchemaError } from "./errors";
import { eventPath, zodIssueToEventIssue } from "./issues";
import { LIMITS, RESERVED_NAME_RE } from "./limits";
import type { EventIssue, EventPayload } from "./types";

/** The zod schema of one event's `data`: an object in, an object out. */
export type DataSchema = z.ZodType<Record<string, unknown>, Record<string, unknown>>;

/** What `defineEvents` takes: event name -> zod schema of its `data`. */
export type EventSchemas = Record<string, DataSchema>;

/** Options of {@link defineEvents}. */
export interface DefineEventsOptions {
  /** Reject events whose name is not in the catalog. @default false */
  strict?: boolean;
}

/** A typed event catalog: the names and `data` schemas of the events an app sends. */
export interface EventCatalog<T extends EventSchemas> {
  /** The schemas, by event name, as given. */
  readonly schemas: Readonly<T>;
  /** The event names of the catalog. */
  readonly names: readonly (keyof T & string)[];
  /** Whether names outside the catalog are rejected. */
  readonly strict: boolean;
  /** True when `name` is in the catalog. */
  has(name: string): name is keyof T & string;
  /**
   * Issues of one event's `data` against its name's schema (paths `events[index].data...`);
   * `[]` when it conforms, or the name is unknown and the catalog is not strict.
   */
  check(name: string, data: unknown, index?: number): EventIssue[];
}

/** Any catalog, whatever its names. */
export type AnyEventCatalog = EventCatalog<EventSchemas>;

/** The event names of a catalog. */
export type EventNames<C> = C extends EventCatalog<infer T> ? keyof T & string : never;

/** The `data` type (zod input) a sender writes for event `N` of catalog `C`. */
export type EventDataOf<C, N extends EventNames<C>> =
  C extends EventCatalog<infer T>
    ? z.input<T[N]> extends infer D extends Record<string, unknown>
      ? D
      : never
    : never;

/** A payload whose `data` must be given (its schema has required keys). */
export interface PayloadWithData<N extends string, D extends Record<string, unknown>>
  extends Omit<EventPayload<N, D>, "data"> {
  data: D;
}

/** One payload type for event `N`: `data` optional when `{}` is valid data, else required. */
export type PayloadFor<N extends string, D extends Record<string, unknown>> =
  Record<string, never> extends D ? EventPayload<N, D> : PayloadWithData<N, D>;

/** Every payload a catalog allows: a union over its names, each with its typed `data`. */
export type TypedEventPayload<C> = {
  [N in EventNames<C>]: PayloadFor<N, EventDataOf<C, N>>;
}[EventNames<C>];

/**
 * Declares the events an app sends, by name, each with the zod schema of its `data`. The
 * result types the client (`send` accepts only these names with their data) and lets a server
 * check `data` per name (`parseEvents(body, { catalog })`), with the same precise issues as
 * the payload checks. Data is checked, not transformed: stored data is what was sent.
 *
 * @throws {EvtSchemaError} `invalid_catalog` for a name that could never be sent (empty,
 *   too long, reserved) or a value that is not a zod schema.
 * @example
 * ```ts
 * import { defineEvents, parseEvents } from "@evt/schema";
 * import * as z from "zod";
 *
 * const events = defineEvents({
 *   "app/user.signup": z.object({ userId: z.string() }),
 * });
 * const result = parseEvents({ name: "app/user.signup", data: { userId: 42 } }, { catalog: events });
 * // result.ok === false; result.issues[0].path === "events[0].data.userId"
 * ```
 */
export function defineEvents<const T extends EventSchemas>(
  schemas: T,
  options: DefineEventsOptions = {},
): EventCatalog<T> {
  if (typeof schemas !== "object" || schemas === null || Array.isArray(schemas)) {
    throw new EvtSchemaError(
      "invalid_catalog",
      "defineEvents: expected an object mapping event names to zod schemas of data",
    );
  }
  const byName = new Map<string, DataSchema>();
  for (const name of Object.keys(schemas)) {
    const schema = schemas[name] as unknown;
    if (name.length === 0 || name.length > LIMITS.nameMaxLength || RESERVED_NAME_RE.test(name)) {
      throw new EvtSchemaError(
        "invalid_catalog",
        `defineEvents: event name ${JSON.stringify(name)} can never be sent (allowed: 1..${LIMITS.nameMaxLength} characters, not starting with "inngest/" or "evt/")`,
      );
    }
    if (
      typeof schema !== "object" ||
      schema === null ||
      typeof (schema as { safeParse?: unknown }).safeParse !== "function"
    ) {
      throw new EvtSchemaError(
        "invalid_catalog",
        `defineEvents: the value for ${JSON.stringify(name)} is not a zod schema (allowed: e.g. z.object({ ... }))`,
      );
    }
    byName.set(name, schema as DataSchema);
  }
  const strict = options.strict === true;
  const names = Object.freeze([...byName.keys()]) as readonly (keyof T & string)[];

  return Object.freeze({
    schemas,
    names,
    strict,
    has(name: string): name is keyof T & string {
      return byName.has(name);
    },
    check(name: string, data: unknown, index = 0): EventIssue[] {
      const schema = byName.get(name);
      if (schema === undefined) {
        if (!strict) return [];
        const shown = names.slice(0, 10).map((n) => JSON.stringify(n));
        const more = names.length > 10 ? `, ... (${names.length} names)` : "";
        return [
          {
            index,
            path: eventPath(index, ["name"]),
            message: `${JSON.stringify(name)} is not an event of the catalog`,
            allowed:
              names.length === 0
                ? "no names (the catalog is empty)"
                : `one of ${shown.join(", ")}${more}`,
          },
        ];
      }
      try {
        const result = schema.safeParse(data);
        if (result.success) return [];
        return result.error.issues.map((issue) => zodIssueToEventIssue(issue, index, ["data"]));
      } catch (error) {
        return [
          {
            index,
            path: eventPath(index, ["data"]),
            message: `the catalog schema for ${JSON.stringify(name)} failed: ${error instanceof Error ? error.message : String(error)}`,
            allowed: "a synchronous zod schema (no async refinements or transforms)",
          },
        ];
      }
    },
  });
}

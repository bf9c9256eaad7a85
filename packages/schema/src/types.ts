import type { AnyEventCatalog } from "./catalog";
import type { Limits } from "./limits";

/**
 * One event as a sender writes it (the Inngest wire format). Only `name` is required.
 * At runtime `null` is also accepted for `data`, `user`, `id`, `ts` and `v` and means "absent".
 */
export interface EventPayload<
  Name extends string = string,
  Data extends Record<string, unknown> = Record<string, unknown>,
> {
  /** Event name, e.g. `app/user.signup`. 1..256 UTF-16 code units, not `inngest/...` or `evt/...`. */
  name: Name;
  /** Any JSON object; absent or `null` becomes `{}`. */
  data?: Data | null;
  /** Any JSON object describing the user; absent or `null` becomes `null`. */
  user?: Record<string, unknown> | null;
  /** Deduplication id (global across names, 24 h window). At most 256 UTF-16 code units. */
  id?: string;
  /** Event time, integer ms since epoch in [1980-01-01, 2100-01-01). Defaults to the receive time. */
  ts?: number;
  /** Version of the event's shape, e.g. `2024-01-14.1`. At most 128 UTF-16 code units. */
  v?: string;
}

/** An event after validation: every field present, unknown top-level fields dropped. */
export interface NormalizedEvent {
  name: string;
  /** The sender's `data` object itself (not a copy), or `{}` when absent/null. */
  data: Record<string, unknown>;
  user: Record<string, unknown> | null;
  /** Deduplication id; `null` when absent, `null` or `""`. */
  id: string | null;
  /** The sender's `ts`, or `receivedAt` when absent/null. */
  ts: number;
  /** Version; `null` when absent, `null` or `""`. */
  v: string | null;
}

/** One problem with a request, precise enough to fix it. */
export interface EventIssue {
  /** 0-based position of the event in the request; `-1` for whole-request problems. */
  index: number;
  /** Where: `events[3].ts`, `events[0].data.user.email`; `events` for the whole request. */
  path: string;
  /** What was wrong, e.g. `expected an integer number of milliseconds since epoch, got 1.5`. */
  message: string;
  /** What is allowed there, e.g. `integer ms in [1980-01-01, 2100-01-01)`. */
  allowed: string;
}

/** Options of {@link parseEvents} and {@link parseEvent}. */
export interface ParseOptions {
  /** The receive time, used as `ts` for events without one. @default Date.now() */
  receivedAt?: number;
  /** Overrides of the default {@link LIMITS}. @default LIMITS */
  limits?: Partial<Limits>;
  /** A catalog from `defineEvents` to also check `data` per event name. @default undefined */
  catalog?: AnyEventCatalog;
}

/** The outcome of {@link parseEvents}: all events normalised, or every issue found. */
export type ParseResult =
  | { ok: true; events: NormalizedEvent[] }
  | { ok: false; issues: EventIssue[] };

/** The outcome of {@link parseEvent}. */
export type ParseEventResult =
  | { ok: true; event: NormalizedEvent }
  | { ok: false; issues: EventIssue[] };

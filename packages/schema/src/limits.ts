import { EvtSchemaError } from "./errors";

/**
 * The limits every event and request is checked against. A server can override any of them
 * through `ParseOptions.limits`; everything not overridden keeps the value in {@link LIMITS}.
 */
export interface Limits {
  /** Longest event name, in UTF-16 code units (`string.length`). @default 256 */
  readonly nameMaxLength: number;
  /** Longest deduplication `id`, in UTF-16 code units. @default 256 */
  readonly idMaxLength: number;
  /** Longest version string `v`, in UTF-16 code units. @default 128 */
  readonly versionMaxLength: number;
  /** Smallest accepted `ts` (inclusive), ms since epoch. @default Date.UTC(1980, 0, 1) */
  readonly tsMin: number;
  /** First rejected `ts` (exclusive upper bound), ms since epoch. @default Date.UTC(2100, 0, 1) */
  readonly tsMax: number;
  /** Most events in one request. @default 5000 */
  readonly maxEventsPerRequest: number;
  /** Largest event, in UTF-8 bytes of the JSON of its normalised form. @default 524288 */
  readonly maxEventBytes: number;
  /** Deepest nesting of objects/arrays inside `data` or `user` (the object itself is 1). @default 64 */
  readonly maxDepth: number;
}

/**
 * The default limits: what Inngest clients expect, plus our own bounds on depth and size.
 *
 * @example
 * ```ts
 * import { LIMITS } from "@evt/schema";
 * LIMITS.maxEventsPerRequest; // 5000
 * ```
 */
export const LIMITS: Limits = Object.freeze({
  nameMaxLength: 256,
  idMaxLength: 256,
  versionMaxLength: 128,
  tsMin: Date.UTC(1980, 0, 1),
  tsMax: Date.UTC(2100, 0, 1),
  maxEventsPerRequest: 5000,
  maxEventBytes: 524288,
  maxDepth: 64,
});

/**
 * Event-name prefixes nobody may send: `inngest/` (Inngest's own events) and `evt/` (ours).
 * Matched case-insensitively.
 */
export const RESERVED_NAME_PREFIXES: readonly string[] = Object.freeze(["inngest/", "evt/"]);

/** Matches a name that starts with a reserved prefix, any case. */
export const RESERVED_NAME_RE = /^(?:inngest|evt)\//i;

/** `LIMITS` with `overrides` applied; returns `LIMITS` itself when there is nothing to apply. */
export function resolveLimits(overrides: Partial<Limits> | undefined): Limits {
  if (overrides === undefined) return LIMITS;
  let changed = false;
  for (const key in overrides) {
    if (overrides[key as keyof Limits] !== undefined) changed = true;
  }
  if (!changed) return LIMITS;
  const out: Record<string, number> = { ...LIMITS };
  for (const key of Object.keys(LIMITS) as (keyof Limits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    const isTime = key === "tsMin" || key === "tsMax";
    if (typeof value !== "number" || Number.isNaN(value) || (!isTime && value < 0)) {
      throw new EvtSchemaError(
        "invalid_request",
        `limits.${key} is ${String(value)} (allowed: ${isTime ? "a number of ms since epoch" : "a number >= 0"})`,
      );
    }
    out[key] = value;
  }
  return Object.freeze(out) as unknown as Limits;
}

/** An ISO date (`1980-01-01`) for a ms timestamp at midnight UTC, else the full ISO time. */
export function isoDay(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : iso;
}

import {
  type AnyEventCatalog,
  type EventIssue,
  formatIssues,
  LIMITS,
  type Limits,
  parseEvent,
} from "@evt/schema";
import { EventSendError } from "./errors";

/** An event validated and serialized once, ready to be joined into request bodies. */
export interface PreparedEvent {
  /** The event as it goes on the wire (JSON). */
  json: string;
  /** UTF-8 length of `json`. */
  bytes: number;
}

const NON_ASCII = /[\u0080-\uffff]/;

/** UTF-8 byte length of a string without allocating (JSON.stringify never emits lone surrogates). */
export function utf8Length(text: string): number {
  if (!NON_ASCII.test(text)) return text.length;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair: 2 UTF-16 units, 4 bytes.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Validates one event with `@evt/schema` and serializes what the wire needs: `ts` becomes
 * `receivedAt` when missing, `data` defaults to `{}`, unknown top-level fields are dropped.
 * Event size is checked by the caller against `maxRequestBytes`, on the exact JSON sent; pass
 * `limits` only when they differ from the schema defaults (the default path is the fast one).
 */
export function prepareEvent(
  value: unknown,
  index: number,
  receivedAt: number,
  catalog: AnyEventCatalog | undefined,
  limits?: Partial<Limits>,
): { ok: true; event: PreparedEvent } | { ok: false; issues: EventIssue[] } {
  const parsed = parseEvent(
    value,
    limits === undefined ? { index, receivedAt, catalog } : { index, receivedAt, catalog, limits },
  );
  if (!parsed.ok) return parsed;
  const e = parsed.event;
  // Same text as JSON.stringify({ name, data, user?, id?, ts, v? }), without the extra object.
  let json = `{"name":${JSON.stringify(e.name)},"data":${JSON.stringify(e.data)}`;
  if (e.user !== null) json += `,"user":${JSON.stringify(e.user)}`;
  if (e.id !== null) json += `,"id":${JSON.stringify(e.id)}`;
  json += `,"ts":${e.ts}`;
  if (e.v !== null) json += `,"v":${JSON.stringify(e.v)}`;
  json += "}";
  return { ok: true, event: { json, bytes: utf8Length(json) } };
}

/**
 * Schema limits for a client whose requests may be larger than the schema's per-event default:
 * `undefined` (the defaults) unless `maxRequestBytes` allows bigger events.
 */
export function limitsFor(maxRequestBytes: number): Partial<Limits> | undefined {
  const maxEventBytes = maxEventBytesFor(maxRequestBytes);
  return maxEventBytes > LIMITS.maxEventBytes ? { maxEventBytes } : undefined;
}

/** Largest single event that fits a request of `maxRequestBytes` (the body adds `[` and `]`). */
export function maxEventBytesFor(maxRequestBytes: number): number {
  return maxRequestBytes - 2;
}

/** Throws the error for events that are larger than one request may be. */
export function tooLargeError(
  oversized: { index: number; bytes: number }[],
  maxRequestBytes: number,
): EventSendError {
  const shown = oversized
    .slice(0, 10)
    .map((o) => `events[${o.index}] is ${o.bytes} bytes`)
    .join("; ");
  const more = oversized.length > 10 ? `; and ${oversized.length - 10} more` : "";
  return new EventSendError(
    "event_too_large",
    `${oversized.length} event(s) too large for one request, nothing was sent: ${shown}${more} (allowed: at most ${maxEventBytesFor(maxRequestBytes)} bytes of JSON per event, maxRequestBytes=${maxRequestBytes})`,
  );
}

/**
 * Validates and serializes every event; throws one `EventSendError` listing every problem
 * (by input index) when any event is invalid or too large, so nothing is sent.
 */
export function prepareEvents(
  values: readonly unknown[],
  receivedAt: number,
  catalog: AnyEventCatalog | undefined,
  maxRequestBytes: number,
): PreparedEvent[] {
  const prepared: PreparedEvent[] = new Array(values.length);
  const issues: EventIssue[] = [];
  const oversized: { index: number; bytes: number }[] = [];
  const maxBytes = maxEventBytesFor(maxRequestBytes);
  const limits = limitsFor(maxRequestBytes);
  for (let i = 0; i < values.length; i++) {
    const r = prepareEvent(values[i], i, receivedAt, catalog, limits);
    if (!r.ok) {
      issues.push(...r.issues);
      continue;
    }
    if (r.event.bytes > maxBytes) oversized.push({ index: i, bytes: r.event.bytes });
    prepared[i] = r.event;
  }
  if (issues.length > 0) {
    throw new EventSendError("invalid_event", `${formatIssues(issues)}; nothing was sent`, {
      issues,
    });
  }
  if (oversized.length > 0) throw tooLargeError(oversized, maxRequestBytes);
  return prepared;
}

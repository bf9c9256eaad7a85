/**
 * The JSON body of every Event API answer. Success: `{ ids, status: 200 }` with `ids[i]` the
 * internal id of the i-th event of the request. Errors add `error`, a message for a person.
 */
export interface SendResponse {
  ids: string[];
  status: number;
  error?: string;
}

/**
 * Where an event came from, assigned by the server that stored it (never by the sender):
 * - `api`: `POST /e/:eventKey` (an SDK's `inngest.send()`, curl, the console's send form);
 * - `webhook`: a webhook source (`POST /w/:id`), whose id is the event's `source_id`;
 * - `function`: `step.sendEvent` or `step.invoke` of a run, whose run id is the `source_id`;
 * - `cron`: a cron trigger's tick (`inngest/scheduled.timer`);
 * - `evt`: the server's own events (`inngest/function.finished`, `.failed`, `.cancelled`).
 */
export type EventSource = "api" | "webhook" | "function" | "cron" | "evt";

/** Every {@link EventSource}, in the order the docs list them. */
export const EVENT_SOURCES: readonly EventSource[] = ["api", "webhook", "function", "cron", "evt"];

/** An event as the store keeps it and the read API returns it. */
export interface StoredEvent {
  /** ULID assigned by the server (the value in `ids`), unique per environment. */
  internal_id: string;
  /** The sender's deduplication id, when given. */
  id: string | null;
  name: string;
  data: Record<string, unknown>;
  user: Record<string, unknown> | null;
  /** Event time, ms since epoch (the sender's `ts`, or the receive time). */
  ts: number;
  v: string | null;
  /** Environment (`production` unless a branch environment was selected). */
  env: string;
  /** When the server received the request, ms since epoch. */
  received_at: number;
  /**
   * Where the event came from (see {@link EventSource}), set by the server; `null` for events
   * stored before evt recorded it. An `append` without it stores `null`.
   */
  source: EventSource | null;
  /** The webhook source id or the run id behind the event, when `source` has one; else `null`. */
  source_id: string | null;
}

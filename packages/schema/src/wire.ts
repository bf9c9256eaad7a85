/**
 * The JSON body of every Event API answer. Success: `{ ids, status: 200 }` with `ids[i]` the
 * internal id of the i-th event of the request. Errors add `error`, a message for a person.
 */
export interface SendResponse {
  ids: string[];
  status: number;
  error?: string;
}

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
}

import type { DedupStore } from "@evt/dedup";
import type { EventCatalog, EventSource, Limits } from "@evt/schema";
import type { EventStore, StoredEvent } from "@evt/store";
import type { ingest } from "./ingest.js";
import type { EventKeyOptions } from "./key-scopes.js";

/**
 * Why a request was refused, as reported to {@link EventApiHooks.onRejected} (a metrics label).
 * `invalid_request` covers bad headers and query parameters, `timeout` a body that did not
 * arrive in time, `internal` an unexpected server error, `misdirected` a `Host` the server does
 * not serve (421), `unsupported_media_type` a cross-origin body that is not JSON (415),
 * `too_many_reads` a list read past `maxConcurrentReads` (429).
 */
export type RejectReason =
  | "invalid_json"
  | "invalid_event"
  | "invalid_request"
  | "too_large"
  | "too_many_events"
  | "unauthorized"
  | "misdirected"
  | "unsupported_media_type"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "unavailable"
  | "too_many_reads"
  | "timeout"
  | "internal";

/** Route templates reported to {@link EventApiHooks.onRequest} (never the raw URL: it holds the event key). */
export type RouteName =
  | "/e/:eventKey"
  | "/v1/events"
  | "/v1/events/:internalId"
  | "/v1/envs"
  | "/health"
  | "/ready"
  | "unknown";

/**
 * Where the events of one request or {@link EventApi.send} call came from, stored with each of
 * them as `source` / `source_id`. Only the server decides it: a field of the same name in an
 * event's JSON is not read.
 */
export interface EventOrigin {
  source: EventSource;
  /** The webhook source id or run id behind the events, or `null`. */
  sourceId: string | null;
}

/** Metric callbacks, so the API can be measured without depending on a metrics library. */
export interface EventApiHooks {
  /** Once per answered request. */
  onRequest?(info: { route: RouteName; method: string; status: number; durationMs: number }): void;
  /** Once per accepted ingest request: new events stored and duplicates ignored. */
  onEvents?(info: {
    accepted: number;
    duplicates: number;
    /** The environment written to. */
    env: string;
    /** The request's events (validated), in order; only `name` is part of this contract. */
    events: readonly { readonly name: string }[];
    /** The internal ids answered, in the order of `events`. */
    ids: readonly string[];
  }): void;
  /** Once per refused request. */
  onRejected?(info: { reason: RejectReason }): void;
  /** Duration of the dedup `claim` call of an ingest request. */
  onDedup?(durationMs: number): void;
  /** Duration of the store calls (`has` + `append`) of an ingest request. */
  onStore?(durationMs: number): void;
}

/** The subset of a pino logger the API uses: `logger[level](obj, msg)`. */
export interface EventApiLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** What {@link EventApiOptions.dispatch} is given: the stored events of one accepted request. */
export interface DispatchBatch {
  /** The environment the events were written to. */
  env: string;
  /** The request's events as stored, in request order (duplicates carry the first internal id). */
  events: readonly StoredEvent[];
}

/** CORS for `POST /e/*`: `true` (any origin), `false` (no CORS headers) or one allowed origin. */
export type CorsOption = boolean | { origin: string };

/** Options of {@link createEventApi}. */
export interface EventApiOptions {
  /** Deduplication store (from `@evt/dedup`). The API does not close it. */
  dedup: DedupStore;
  /** Event store (from `@evt/store`). The API does not close it. */
  store: EventStore;
  /**
   * Accepted event keys (the `:eventKey` of `POST /e/:eventKey`): plain strings (any
   * environment, any event name, the shared dedup namespace) or {@link EventKeyOptions} with a
   * scope. A key used outside its scope gets 403. None or empty: development mode, any key is
   * accepted.
   * @default []
   */
  eventKeys?: readonly (string | EventKeyOptions)[];
  /**
   * Keys for the read API (`Authorization: Bearer <key>`). None or empty: reads are open.
   * @default []
   */
  apiKeys?: readonly string[];
  /**
   * How long an event `id` (or a retried request's seed-derived ids) is remembered.
   * @default 86_400_000 (24 hours)
   */
  dedupWindowMs?: number;
  /**
   * Largest accepted request body in bytes; larger bodies get 413.
   * @default 524_288 (512 KiB)
   */
  maxRequestBytes?: number;
  /**
   * Overrides of the event limits of `@evt/schema` (`LIMITS`), e.g. `{ maxEventsPerRequest: 1000 }`.
   * @default LIMITS
   */
  limits?: Partial<Limits>;
  /** Event catalog (`defineEvents` from `@evt/schema`): validates `data` per event name. */
  // biome-ignore lint/suspicious/noExplicitAny: a catalog of any shape is accepted
  catalog?: EventCatalog<any>;
  /**
   * CORS for `POST /e/*` (browsers send events too). `true`: `Access-Control-Allow-Origin: *`.
   * @default true
   */
  cors?: CorsOption;
  /**
   * Clock in ms since epoch (received_at, default `ts`).
   * @default Date.now
   */
  now?: () => number;
  /**
   * Called with every event of an accepted request (new ones and duplicates, each with the
   * internal id answered) once they are stored and **before** the answer is sent; awaited.
   * This is where the functions the events trigger are queued (`@evt/functions`), so that an
   * acknowledged event always has its runs. A rejection answers 503: the events stay stored,
   * and a retry of the request (deduplicated) calls it again with the same internal ids, so
   * the callee must be idempotent by internal id.
   * @default none
   */
  dispatch?: (batch: DispatchBatch) => Promise<void> | void;
  /**
   * Where the events of an accepted `POST /e/:eventKey` request came from (see
   * {@link EventOrigin}), decided from the request by the adapter or embedder: e.g. a gateway
   * tells `step.sendEvent` calls of its runs from other senders. Called once per request after
   * validation, before anything is stored; a rejection answers 500 and stores nothing.
   * @default every request is `{ source: "api", sourceId: null }`
   */
  originOf?: (req: ApiRequest) => EventOrigin | Promise<EventOrigin>;
  /**
   * Runs the store step of a request instead of the built-in {@link ingest} (same arguments,
   * same result and guarantees): for example one call to a thread that holds both stores, so
   * the claim and the append travel there once. It must behave as `ingest` does: answer only
   * after every new event is appended, and report a failure with its stage.
   * @default ingest
   */
  ingest?: typeof ingest;
  /** Logger (pino-compatible). Event and API keys never appear in what is logged. */
  logger?: EventApiLogger;
  /** Metric callbacks. */
  hooks?: EventApiHooks;
  /**
   * Byte budget of one `GET /v1/events` page (the store's `ListQuery.maxBytes`): the page
   * stops before the event that would pass it (always at least one event) and the answer's
   * `cursor` points at the rest, whatever `limit` asked.
   * @default 8_388_608 (8 MiB)
   */
  maxPageBytes?: number;
  /**
   * `GET /v1/events` reads served at once, counted from the store call until the response
   * body is sent (or abandoned); more get 429 with `Retry-After`. `GET /v1/envs` (a count over
   * every event) takes a slot for its store call too. Single-event reads
   * (`GET /v1/events/:id`, at most one event) are not counted.
   * @default 4
   */
  maxConcurrentReads?: number;
  /**
   * Furthest an event's `ts` may lie ahead of its receipt, in ms. A future `ts` delays the
   * runs the event triggers until then; one further ahead is refused with 400, so a typo in
   * `ts` (seconds read as ms, a wrong year) cannot park runs for decades.
   * @default 31_536_000_000 (365 days)
   */
  maxEventDelayMs?: number;
}

/** What an adapter knows of a request before reading its body. Header names are lower-case. */
export interface ApiRequestHead {
  method: string;
  /** Path and query, as in {@link ApiRequest.url}. */
  url: string;
  headers: Record<string, string | undefined>;
  requestId?: string;
}

/** A transport-free HTTP request. Header names are lower-case. */
export interface ApiRequest {
  method: string;
  /** Path and query, e.g. `/e/key?x=1` (an absolute URL is accepted too). */
  url: string;
  headers: Record<string, string | undefined>;
  /** The body bytes; adapters pass at most `maxRequestBytes + 1` bytes. */
  body: Uint8Array | null;
  /** Echoed as `x-request-id` and included in logs. */
  requestId?: string;
}

/**
 * A response body sent in pieces: chunks of JSON text (about 64 KiB each), produced one at a
 * time as the consumer pulls them, so a large answer is never one string and the event loop
 * runs between chunks. Consume it to the end or call the iterator's `return()`: a list read
 * holds one of the `maxConcurrentReads` slots until then. The adapters do both (and give up on
 * a client that stops reading after `drainTimeoutMs`); `responseText` reads it whole.
 */
export type ApiBodyStream = AsyncIterable<string>;

/**
 * A transport-free HTTP response; `body` is JSON text (empty for 204 and HEAD), or an
 * {@link ApiBodyStream} for `GET /v1/events` pages.
 */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string | ApiBodyStream;
}

/** An {@link ApiResponse} whose body is text (every error and refusal). */
export interface ApiTextResponse extends ApiResponse {
  body: string;
}

/** The Event API: one `handle` function plus lifecycle. Build it with {@link createEventApi}. */
export interface EventApi {
  /** Answer one request. Never rejects: every failure becomes a JSON error response. */
  handle(req: ApiRequest): Promise<ApiResponse>;
  /**
   * Answer a request from its head alone when the head decides it (unknown event key 401,
   * forbidden or bad environment 403/400, declared body over the limit 413, closed API 503,
   * POST to a route without a body 404/405), so an adapter never reads, buffers or waits for a
   * body that will be refused. The answer carries `connection: close` (the body stays unread).
   * `null`: read the body and call {@link EventApi.handle}, which checks everything again.
   *
   * @example
   * ```ts
   * const early = api.screen({ method: "POST", url: "/e/unknown-key", headers: {} });
   * if (early) return early; // 401, before a byte of the body is read
   * ```
   */
  screen(head: ApiRequestHead): ApiResponse | null;
  /**
   * Build the error response for a request an adapter refused on its own (oversized or slow
   * body, too many concurrent requests), reporting it to the hooks like any other.
   */
  reject(reason: RejectReason, message: string, method?: string, url?: string): ApiTextResponse;
  /**
   * Store events on the server's own behalf (system events such as `inngest/function.failed`),
   * through the same validation, deduplication and {@link EventApiOptions.dispatch} as
   * `POST /e/:eventKey`, without an event key. Resolves with the internal ids, or rejects with
   * a `ServerError` saying why nothing was stored (`invalid_event`, `unavailable`, ...).
   *
   * @example
   * ```ts
   * const ids = await api.send([{ id: `failed:${runId}`, name: "inngest/function.failed", data }]);
   * // `ts` (ms) may be given too, e.g. a cron tick's scheduled time; it defaults to the receipt.
   * await api.send([{ name: "shop/order.paid", data }], { source: "webhook", sourceId: "wh_1" });
   * ```
   * The events are stored with `source` `options.source` (default `"evt"`, the server's own) and
   * `source_id` `options.sourceId` (default `null`).
   */
  send(
    events: readonly unknown[],
    options?: { env?: string; source?: EventSource; sourceId?: string | null },
  ): Promise<string[]>;
  /** `true` when both stores answer a ping. */
  ready(): Promise<boolean>;
  /**
   * Stop accepting events (new requests get 503) and resolve once the requests in flight are
   * answered. Does not close the stores: their owner does.
   */
  close(): Promise<void>;
  /** The effective body limit in bytes (adapters read at most one byte more). */
  readonly maxRequestBytes: number;
}

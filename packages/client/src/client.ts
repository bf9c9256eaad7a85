import type { AnyEventCatalog, EventPayload, TypedEventPayload } from "@evt/schema";
import { type BatcherOptions, EventBatcher } from "./batcher";
import { chunkBody, planChunks } from "./chunk";
import { EventSendError } from "./errors";
import { type EventClientOptions, type ResolvedOptions, resolveOptions } from "./options";
import {
  limitsFor,
  maxEventBytesFor,
  type PreparedEvent,
  prepareEvent,
  prepareEvents,
} from "./prepare";
import { postEvents } from "./transport";

/**
 * What `send` and `add` accept: any {@link EventPayload} without a catalog; with one, only the
 * catalog's names, each with its own `data` type.
 */
export type SendPayload<C extends AnyEventCatalog | undefined> = C extends AnyEventCatalog
  ? TypedEventPayload<C>
  : EventPayload;

/** The answer of a successful {@link EventClient.send}. */
export interface SendResult {
  /** Server ids (ULIDs), `ids[i]` for the i-th event given, in input order. */
  ids: string[];
}

function range(start: number, end: number): string {
  return end - start === 1 ? `events[${start}]` : `events[${start}..${end - 1}]`;
}

/**
 * Sends events to an Inngest-compatible Event API (`POST <baseUrl>/e/<eventKey>`).
 *
 * Every event is validated before anything is sent, gets `ts` set to the moment it was handed
 * over (unless given), and large arrays are split into requests within `maxRequestBytes` and
 * `maxEventsPerRequest`. Each request carries an `x-inngest-event-id-seed` that stays the same
 * across its retries, so retrying never stores an event twice.
 *
 * @example
 * ```ts
 * import { EventClient } from "@evt/client";
 *
 * const evt = new EventClient({ eventKey: process.env.EVT_EVENT_KEY, baseUrl: "http://127.0.0.1:8288" });
 * const { ids } = await evt.send({ name: "app/user.signup", data: { userId: "u1" } });
 * ```
 */
export class EventClient<C extends AnyEventCatalog | undefined = undefined> {
  readonly #opts: ResolvedOptions;
  readonly #limits: ReturnType<typeof limitsFor>;

  /**
   * @throws EventSendError `missing_event_key` when no key is configured and `baseUrl` is not a
   * local address; `invalid_options` for out-of-range options.
   */
  constructor(options: EventClientOptions<C> = {}) {
    this.#opts = resolveOptions(options as EventClientOptions<AnyEventCatalog | undefined>);
    this.#limits = limitsFor(this.#opts.maxRequestBytes);
  }

  /** The settings in use (event key left out). */
  get config(): {
    endpoint: string;
    env: string | undefined;
    timeoutMs: number;
    maxAttempts: number;
    maxRequestBytes: number;
    maxEventsPerRequest: number;
  } {
    const o = this.#opts;
    return {
      endpoint: o.url.replace(/\/e\/[^/]*$/, "/e/<key>"),
      env: o.env,
      timeoutMs: o.timeoutMs,
      maxAttempts: o.maxAttempts,
      maxRequestBytes: o.maxRequestBytes,
      maxEventsPerRequest: o.maxEventsPerRequest,
    };
  }

  /**
   * Sends one event or an array of events and resolves with their ids, in input order.
   * Rejects with an {@link EventSendError}: before any request when an event is invalid
   * (`invalid_event`) or too large for one request (`event_too_large`); after retries when a
   * request fails, with `acceptedIds` / `failedIndexes` telling which events were stored.
   *
   * @example
   * ```ts
   * const { ids } = await evt.send([
   *   { name: "app/order.placed", data: { orderId: "o1" } },
   *   { name: "app/order.placed", data: { orderId: "o2" }, id: "order-o2" },
   * ]);
   * ```
   */
  async send(events: SendPayload<C> | readonly SendPayload<C>[]): Promise<SendResult> {
    const receivedAt = Date.now();
    const list: readonly unknown[] = Array.isArray(events) ? events : [events];
    if (list.length === 0) return { ids: [] };
    const prepared = prepareEvents(
      list,
      receivedAt,
      this.#opts.catalog,
      this.#opts.maxRequestBytes,
    );
    return { ids: await this.sendPrepared(prepared) };
  }

  /**
   * Creates a background batcher on this client: `add()` one event at a time, requests go out
   * by size, count or interval.
   *
   * @example
   * ```ts
   * const batcher = evt.batcher({ maxEvents: 500, flushIntervalMs: 1000, handleShutdown: true });
   * const id = await batcher.add({ name: "app/page.viewed", data: { path: "/" } });
   * await batcher.close();
   * ```
   */
  batcher(options: BatcherOptions = {}): EventBatcher<SendPayload<C>> {
    return new EventBatcher<SendPayload<C>>(
      {
        prepare: (value, receivedAt) => this.#prepareOne(value, receivedAt),
        send: (prepared) => this.sendPrepared(prepared),
        maxRequestBytes: this.#opts.maxRequestBytes,
        maxEventsPerRequest: this.#opts.maxEventsPerRequest,
        logger: this.#opts.logger,
      },
      options,
    );
  }

  #prepareOne(value: unknown, receivedAt: number): PreparedEvent {
    const { catalog, maxRequestBytes } = this.#opts;
    const r = prepareEvent(value, 0, receivedAt, catalog, this.#limits);
    if (r.ok && r.event.bytes <= maxEventBytesFor(maxRequestBytes)) return r.event;
    // The slow path builds the same error send() would.
    return prepareEvents([value], receivedAt, catalog, maxRequestBytes)[0]!;
  }

  /**
   * Sends already prepared events, split into requests, one request at a time, in order.
   * Stops at the first request that fails after retries and throws an error carrying
   * `acceptedIds` and `failedIndexes`.
   * @internal
   */
  async sendPrepared(prepared: readonly PreparedEvent[]): Promise<string[]> {
    const { maxRequestBytes, maxEventsPerRequest } = this.#opts;
    const chunks = planChunks(prepared, maxRequestBytes, maxEventsPerRequest);
    const ids: (string | null)[] = new Array(prepared.length).fill(null);
    for (let c = 0; c < chunks.length; c++) {
      const { start, end } = chunks[c]!;
      let chunkIds: string[];
      try {
        chunkIds = await postEvents(this.#opts, chunkBody(prepared, start, end), end - start);
      } catch (err) {
        throw this.#partialError(err, chunks.length, c, start, end, ids);
      }
      for (let i = start; i < end; i++) ids[i] = chunkIds[i - start]!;
    }
    return ids as string[];
  }

  #partialError(
    err: unknown,
    chunkCount: number,
    chunkIndex: number,
    start: number,
    end: number,
    ids: (string | null)[],
  ): EventSendError {
    const failedIndexes: number[] = [];
    for (let i = start; i < ids.length; i++) failedIndexes.push(i);
    const inner = err instanceof EventSendError ? err : undefined;
    const innerMessage = (inner?.message ?? String(err)).replace(/^\[evt\/client\] /, "");
    let message: string;
    if (chunkCount === 1) {
      message = `${innerMessage}; none of the ${ids.length} event(s) were accepted`;
    } else {
      const accepted =
        start > 0 ? `${range(0, start)} were accepted (acceptedIds)` : "no event was accepted";
      message = `request ${chunkIndex + 1} of ${chunkCount} (${range(start, end)}) failed: ${innerMessage}; ${accepted}, ${range(start, ids.length)} were not (failedIndexes)`;
    }
    return new EventSendError(inner?.code ?? "network_error", message, {
      retryable: inner?.retryable ?? true,
      acceptedIds: ids.slice(),
      failedIndexes,
      cause: inner?.cause ?? err,
      ...(inner?.status === undefined ? {} : { status: inner.status }),
      ...(inner?.serverMessage === undefined ? {} : { serverMessage: inner.serverMessage }),
      ...(inner?.attempts === undefined ? {} : { attempts: inner.attempts }),
    });
  }
}

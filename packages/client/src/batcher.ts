import { EventSendError } from "./errors";
import type { Logger } from "./options";
import type { PreparedEvent } from "./prepare";

/** Options of {@link EventClient.batcher}. */
export interface BatcherOptions {
  /**
   * Send a batch as soon as it holds this many events.
   * @default 500 (or the client's maxEventsPerRequest when smaller)
   */
  maxEvents?: number;
  /**
   * Send a batch before its request body would exceed this many bytes.
   * @default the client's maxRequestBytes (512 KiB)
   */
  maxBytes?: number;
  /**
   * Send a batch at most this long after its first event was added, in milliseconds.
   * @default 1000
   */
  flushIntervalMs?: number;
  /**
   * Most events added and not yet settled (waiting, buffered or in flight). Past it, `add`
   * waits or rejects, as `onFull` says.
   * @default 10000
   */
  maxQueuedEvents?: number;
  /**
   * What `add` does when `maxQueuedEvents` events are already queued: `"wait"` until there is
   * room (the returned promise resolves later, as usual), or `"reject"` at once with code
   * `queue_full`.
   * @default "wait"
   */
  onFull?: "wait" | "reject";
  /**
   * Most batches being sent at once.
   * @default 1
   */
  concurrency?: number;
  /**
   * Close (drain) the batcher on process `beforeExit` and `SIGTERM` (Node only; a no-op
   * elsewhere). After SIGTERM, when no other SIGTERM listener exists, the signal is raised again
   * once draining ends, so the process still exits.
   * @default false
   */
  handleShutdown?: boolean;
  /**
   * Called once per failed batch (and per rejected add) with the error and the number of
   * events it concerns. The `add` promises reject too. Without it, failures go to the
   * client's logger at `error` level, so none is silent even when `add` is not awaited.
   */
  onError?: (error: EventSendError, events: number) => void;
}

/** What the batcher needs from its client. */
export interface BatcherTransport {
  prepare(value: unknown, receivedAt: number): PreparedEvent;
  send(events: readonly PreparedEvent[]): Promise<string[]>;
  maxRequestBytes: number;
  maxEventsPerRequest: number;
  logger: Logger;
}

interface Entry {
  event: PreparedEvent;
  promise: Promise<string>;
  resolve(id: string): void;
  reject(error: EventSendError): void;
}

interface Batch {
  entries: Entry[];
  done: Promise<void>;
  markDone(): void;
}

type ShutdownProcess = {
  once(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
  listenerCount(event: string): number;
  kill(pid: number, signal: string): unknown;
  pid: number;
};

const noop = () => {};

function intOption(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new EventSendError(
      "invalid_options",
      `batcher option ${name} is ${String(value)}; allowed: an integer in [1, ${max}]`,
    );
  }
  return value;
}

/**
 * Collects events from `add()` and sends them in batches, by count, size or interval, whichever
 * comes first. Create one with {@link EventClient.batcher}.
 *
 * @example
 * ```ts
 * const batcher = evt.batcher({ maxEvents: 500, flushIntervalMs: 1000 });
 * const id = await batcher.add({ name: "app/page.viewed", data: { path: "/" } });
 * await batcher.close(); // sends everything still queued
 * ```
 */
export class EventBatcher<P = unknown> {
  readonly #t: BatcherTransport;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #intervalMs: number;
  readonly #maxQueued: number;
  readonly #onFull: "wait" | "reject";
  readonly #concurrency: number;
  readonly #onError: ((error: EventSendError, events: number) => void) | undefined;

  #buffer: Entry[] = [];
  #bufferBytes = 2;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ready: Batch[] = [];
  #pending = new Set<Promise<void>>();
  #inFlight = 0;
  #queued = 0;
  #waiters: Entry[] = [];
  #waiterHead = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #process: ShutdownProcess | undefined;
  #onBeforeExit = () => {
    void this.close();
  };
  #onSigterm = () => {
    const proc = this.#process;
    void this.close().then(() => {
      if (proc && proc.listenerCount("SIGTERM") === 0) proc.kill(proc.pid, "SIGTERM");
    });
  };

  /** @internal Use {@link EventClient.batcher}. */
  constructor(transport: BatcherTransport, options: BatcherOptions = {}) {
    this.#t = transport;
    this.#maxEvents = intOption(
      "maxEvents",
      options.maxEvents,
      Math.min(500, transport.maxEventsPerRequest),
      transport.maxEventsPerRequest,
    );
    this.#maxBytes = intOption(
      "maxBytes",
      options.maxBytes,
      transport.maxRequestBytes,
      transport.maxRequestBytes,
    );
    this.#intervalMs = intOption("flushIntervalMs", options.flushIntervalMs, 1000, 2_147_483_647);
    this.#maxQueued = intOption(
      "maxQueuedEvents",
      options.maxQueuedEvents,
      10_000,
      Number.MAX_SAFE_INTEGER,
    );
    this.#concurrency = intOption("concurrency", options.concurrency, 1, 1000);
    const onFull = options.onFull ?? "wait";
    if (onFull !== "wait" && onFull !== "reject") {
      throw new EventSendError(
        "invalid_options",
        `batcher option onFull is ${JSON.stringify(onFull)}; allowed: "wait" or "reject"`,
      );
    }
    this.#onFull = onFull;
    this.#onError = options.onError;
    if (options.handleShutdown) this.#hookShutdown();
  }

  /** Events added and not yet settled (waiting for room, buffered, or being sent). */
  get size(): number {
    return this.#queued + this.#waiters.length - this.#waiterHead;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues one event; resolves with its server id once its batch is accepted, rejects with an
   * {@link EventSendError} when it is invalid, when the batch fails after retries, when the
   * queue is full and `onFull` is `"reject"`, or after `close()`. `ts` is set now when missing.
   * A rejection nobody handles does not crash the process: it is reported to `onError` or the
   * logger instead.
   *
   * @example
   * ```ts
   * const id = await batcher.add({ name: "app/page.viewed", data: { path: "/" } });
   * ```
   */
  add(event: P): Promise<string> {
    if (this.#closed) {
      return this.#rejected(
        new EventSendError("closed", "batcher.add() after close(): the event was not queued"),
      );
    }
    const receivedAt = Date.now();
    let prepared: PreparedEvent;
    try {
      prepared = this.#t.prepare(event, receivedAt);
    } catch (err) {
      return this.#rejected(err as EventSendError);
    }
    const full = this.#queued >= this.#maxQueued || this.#waiterHead < this.#waiters.length;
    if (full && this.#onFull === "reject") {
      return this.#rejected(
        new EventSendError(
          "queue_full",
          `batcher queue is full (maxQueuedEvents=${this.#maxQueued}): the event was not queued (use onFull: "wait" to wait for room)`,
          { retryable: true },
        ),
      );
    }
    let resolve!: (id: string) => void;
    let reject!: (error: EventSendError) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = { event: prepared, promise, resolve, reject };
    if (full) {
      this.#waiters.push(entry);
      // Make room as fast as possible instead of waiting for the interval.
      this.#seal();
    } else {
      this.#admit(entry);
    }
    return promise;
  }

  /**
   * Sends everything queued now (without waiting for the interval) and resolves when those
   * events are settled. Never rejects: each `add()` promise carries its own outcome.
   *
   * @example
   * ```ts
   * batcher.add(ev);
   * await batcher.flush();
   * ```
   */
  async flush(): Promise<void> {
    const waiting: Promise<unknown>[] = [];
    for (let i = this.#waiterHead; i < this.#waiters.length; i++) {
      waiting.push(this.#waiters[i]!.promise.then(noop, noop));
    }
    this.#seal();
    await Promise.all([...this.#pending, ...waiting]);
  }

  /**
   * Stops accepting events, sends everything queued (including adds waiting for room) and
   * resolves when every queued event is accepted or has failed. Idempotent.
   *
   * @example
   * ```ts
   * await batcher.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#unhookShutdown();
    this.#closing = (async () => {
      while (this.size > 0 || this.#pending.size > 0) await this.flush();
      clearTimeout(this.#timer);
      this.#timer = undefined;
    })();
    return this.#closing;
  }

  #rejected(error: EventSendError): Promise<string> {
    this.#report(error, 1);
    const p = Promise.reject(error);
    p.catch(noop);
    return p;
  }

  #report(error: EventSendError, events: number): void {
    if (this.#onError) {
      try {
        this.#onError(error, events);
      } catch {
        // A throwing callback must not break the batcher.
      }
    } else {
      this.#t.logger.error?.(error.message, { code: error.code, events });
    }
  }

  #admit(entry: Entry): void {
    this.#queued++;
    const bytes = entry.event.bytes;
    if (this.#buffer.length > 0 && this.#bufferBytes + 1 + bytes > this.#maxBytes) this.#seal();
    this.#bufferBytes += this.#buffer.length === 0 ? bytes : bytes + 1;
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#maxEvents) this.#seal();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#seal();
      }, this.#intervalMs);
    }
  }

  #seal(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#buffer.length === 0) return;
    let markDone!: () => void;
    const done = new Promise<void>((res) => {
      markDone = res;
    });
    this.#ready.push({ entries: this.#buffer, done, markDone });
    this.#pending.add(done);
    this.#buffer = [];
    this.#bufferBytes = 2;
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && this.#ready.length > 0) {
      const batch = this.#ready.shift()!;
      this.#inFlight++;
      void this.#run(batch);
    }
  }

  async #run(batch: Batch): Promise<void> {
    const { entries } = batch;
    try {
      const ids = await this.#t.send(entries.map((e) => e.event));
      for (let i = 0; i < entries.length; i++) entries[i]!.resolve(ids[i]!);
    } catch (err) {
      const error =
        err instanceof EventSendError
          ? err
          : new EventSendError("network_error", `batch failed: ${String(err)}`, {
              cause: err,
              retryable: true,
            });
      let failed = 0;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const acceptedId = error.acceptedIds?.[i];
        if (typeof acceptedId === "string") {
          e.resolve(acceptedId);
          continue;
        }
        // Reported below (onError or logger): a rejection nobody awaits must not crash the app.
        e.promise.catch(noop);
        e.reject(error);
        failed++;
      }
      this.#report(error, failed);
    } finally {
      this.#inFlight--;
      this.#queued -= entries.length;
      this.#pending.delete(batch.done);
      this.#admitWaiters();
      this.#pump();
      batch.markDone();
    }
  }

  #admitWaiters(): void {
    if (this.#waiterHead >= this.#waiters.length) return;
    while (this.#waiterHead < this.#waiters.length && this.#queued < this.#maxQueued) {
      const w = this.#waiters[this.#waiterHead]!;
      this.#waiters[this.#waiterHead++] = undefined as unknown as Entry;
      this.#admit(w);
    }
    if (this.#waiterHead === this.#waiters.length) {
      this.#waiters = [];
      this.#waiterHead = 0;
    }
    // These events already waited for room: send them now rather than after another interval.
    this.#seal();
  }

  #hookShutdown(): void {
    const proc = (globalThis as { process?: Partial<ShutdownProcess> }).process;
    if (
      !proc ||
      typeof proc.once !== "function" ||
      typeof proc.off !== "function" ||
      typeof proc.listenerCount !== "function" ||
      typeof proc.kill !== "function"
    ) {
      return;
    }
    this.#process = proc as ShutdownProcess;
    this.#process.once("beforeExit", this.#onBeforeExit);
    this.#process.once("SIGTERM", this.#onSigterm);
  }

  #unhookShutdown(): void {
    const proc = this.#process;
    if (!proc) return;
    proc.off("beforeExit", this.#onBeforeExit);
    proc.off("SIGTERM", this.#onSigterm);
  }
}

import { Worker } from "node:worker_threads";
import { type ClaimEntry, type ClaimResult, DedupError, type DedupStore } from "@evt/dedup";
import { FunctionsError, type RunStore } from "@evt/functions";
import { type IngestResult, type ingest as ingestInProcess, toStoredEvent } from "@evt/server";
import {
  type EventStore,
  type ListPage,
  type ListQuery,
  type StoredEvent,
  StoreError,
} from "@evt/store";
import type { Call, IngestReply, Reply, Target, WireError, WorkerSetup } from "./sqlite-wire";

/** What {@link openSqliteThread} opens in the worker (a SQLite file per store, or `null`), and how long a call may take. */
export interface SqliteThreadOptions extends WorkerSetup {
  /**
   * Longest a call waits for the worker's answer. Past it the call rejects with a retryable
   * `unavailable` error (the client gets 503 with Retry-After), so a hung fsync or a file
   * locked by another process does not hold requests forever. The worker is not stopped: the
   * statement may still complete, which dedup and the store's idempotent append absorb when
   * the client retries. @default 5000
   */
  callTimeoutMs?: number;
}

/** Default of {@link SqliteThreadOptions.callTimeoutMs}. */
export const SQLITE_CALL_TIMEOUT_MS = 5_000;

/** The stores living in the worker thread, as ordinary store objects of this thread. */
export interface SqliteThreadStores {
  dedup: DedupStore | null;
  store: EventStore | null;
  runs: RunStore | null;
  /**
   * With `oneFile` and both stores: `@evt/server`'s `ingest` run in the worker, next to both
   * stores (one message per request instead of one for the claim and one for the append), for
   * `createEventApi({ ingest })`; otherwise `null`.
   */
  ingest: typeof ingestInProcess | null;
  /**
   * Stops the worker at once, as a crash would: calls in flight reject with a retryable
   * `unavailable` error and the next call starts a new worker. (Use the stores' `close()` for a
   * clean stop.)
   */
  terminate(): Promise<void>;
}

/**
 * The built worker entry. From `dist/` it sits next to this file; when this module runs from
 * its TypeScript source (tests), the built one in `../dist/` is used.
 */
function workerUrl(): URL {
  const fromSource = import.meta.url.endsWith(".ts");
  return new URL(fromSource ? "../dist/sqlite-worker.js" : "./sqlite-worker.js", import.meta.url);
}

interface Pending {
  target: Target;
  /** The worker the call was sent to (none while it waits in the outbox). */
  worker: Worker | null;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  method: string;
  /** performance.now() when the call was made. */
  at: number;
}

function rebuild(target: Target, w: WireError): Error {
  let error: Error;
  if (w.name === "DedupError") {
    error = new DedupError((w.code ?? "internal") as DedupError["code"], "", {
      ...(w.driver ? { driver: w.driver } : {}),
      ...(w.retryable !== undefined ? { retryable: w.retryable } : {}),
    });
  } else if (w.name === "FunctionsError") {
    error = new FunctionsError(
      w.where ?? "sqlite",
      (w.code ?? "failed") as FunctionsError["code"],
      "",
      w.retryable !== undefined ? { retryable: w.retryable } : {},
    );
  } else if (w.name === "StoreError") {
    error = new StoreError(w.driver ?? "sqlite", (w.code ?? "failed") as StoreError["code"], "", {
      ...(w.retryable !== undefined ? { retryable: w.retryable } : {}),
    });
  } else {
    error = new Error("");
    error.name = w.name;
    if (w.code) (error as { code?: string }).code = w.code;
    void target;
  }
  error.message = w.message;
  if (w.stack) error.stack = w.stack;
  return error;
}

function unavailable(target: Target, message: string): Error {
  if (target === "runs") return new FunctionsError("sqlite", "unavailable", message);
  return target === "dedup" || target === "ingest"
    ? new DedupError("unavailable", message, { driver: "sqlite" })
    : new StoreError("sqlite", "unavailable", message);
}

function invalidArgument(target: Target, method: string, error: unknown): Error {
  const why = error instanceof Error ? error.message : String(error);
  if (target === "runs")
    return new FunctionsError(
      "sqlite",
      "invalid_input",
      `${method}: the arguments cannot be copied (${why})`,
    );
  return target === "dedup" || target === "ingest"
    ? new DedupError("invalid_argument", `${method}: the arguments cannot be copied (${why})`, {
        driver: "sqlite",
      })
    : new StoreError(
        "sqlite",
        "invalid_input",
        `${method}: the arguments cannot be copied (${why})`,
      );
}

function closedError(target: Target): Error {
  if (target === "runs") return new FunctionsError("sqlite", "closed", "the run store is closed");
  return target === "dedup" || target === "ingest"
    ? new DedupError("closed", "the store is closed; create a new store to keep claiming", {
        driver: "sqlite",
      })
    : new StoreError("sqlite", "closed", "the store is closed");
}

/**
 * Opens the SQLite dedup store and/or event store in one worker thread and returns stand-ins
 * that forward every call to it. The main thread keeps HTTP, parsing and validation; the worker
 * runs the SQLite statements, commits and fsyncs (and WAL checkpoints), so a commit never stops
 * the main thread and the two use both cores.
 *
 * Calls made in one turn of the event loop travel in one message, and the worker's drivers
 * group-commit them as they would in-process. Errors keep their class, `code` and `retryable`.
 * If the worker dies, calls in flight reject with a retryable `unavailable` error (nothing was
 * acknowledged for them) and the next call starts a new worker.
 *
 * @example
 * ```ts
 * const { dedup, store } = openSqliteThread({ dedupPath: ".evt/dedup.sqlite", storePath: ".evt/events.sqlite" });
 * await store!.append(events);
 * await Promise.all([dedup!.close(), store!.close()]);
 * ```
 */
export function openSqliteThread(options: SqliteThreadOptions): SqliteThreadStores {
  const callTimeoutMs = options.callTimeoutMs ?? SQLITE_CALL_TIMEOUT_MS;
  const setup: WorkerSetup = {
    dedupPath: options.dedupPath,
    storePath: options.storePath,
    runsPath: options.runsPath ?? null,
    oneFile: options.oneFile ?? false,
  };
  let worker: Worker | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  /** Calls each worker has not answered yet: a worker keeps the process alive only while > 0. */
  const outstanding = new Map<Worker, number>();

  function track(w: Worker, delta: number): void {
    const n = (outstanding.get(w) ?? 0) + delta;
    outstanding.set(w, n);
    if (n > 0 && n === delta) w.ref();
    else if (n === 0) w.unref();
  }
  let outbox: Call[] = [];
  let sendScheduled = false;
  const open: Record<Target, boolean> = {
    dedup: options.dedupPath !== null,
    store: options.storePath !== null,
    runs: (options.runsPath ?? null) !== null,
    ingest: setup.oneFile === true && options.dedupPath !== null && options.storePath !== null,
  };

  /** Rejects the calls sent to `w` (calls already sent to a newer worker are not affected). */
  function failSentTo(w: Worker, message: string): void {
    for (const [id, p] of pending) {
      if (p.worker !== w) continue;
      pending.delete(id);
      p.reject(unavailable(p.target, message));
    }
    outstanding.delete(w);
  }

  function spawn(): Worker {
    const w = new Worker(workerUrl(), { workerData: setup });
    w.unref();
    w.on("message", (replies: Reply[]) => {
      let answered = 0;
      for (const r of replies) {
        const p = pending.get(r.id);
        if (!p) continue;
        pending.delete(r.id);
        answered++;
        if (r.ok) p.resolve(r.value);
        else p.reject(rebuild(p.target, r.error));
      }
      track(w, -answered);
    });
    w.on("error", (err) => {
      if (worker === w) worker = null;
      failSentTo(
        w,
        `the SQLite worker thread failed (${err.message}) before answering; retry the call`,
      );
    });
    w.on("exit", (code) => {
      if (worker === w) worker = null;
      failSentTo(
        w,
        `the SQLite worker thread stopped (exit code ${code}) before answering; retry the call`,
      );
    });
    return w;
  }

  function send(): void {
    sendScheduled = false;
    const calls = outbox;
    outbox = [];
    if (calls.length === 0) return;
    worker ??= spawn();
    const w = worker;
    for (const c of calls) {
      const p = pending.get(c.id);
      if (p) p.worker = w;
    }
    try {
      w.postMessage(calls);
      track(w, calls.length);
    } catch {
      // A call with an argument that cannot be copied to the worker (a function, a symbol):
      // send the calls one by one so only that call fails.
      for (const c of calls) {
        try {
          w.postMessage([c]);
          track(w, 1);
        } catch (error) {
          const p = pending.get(c.id);
          pending.delete(c.id);
          p?.reject(invalidArgument(c.target, c.method, error));
        }
      }
    }
  }

  function call<T>(target: Target, method: string, args: unknown[]): Promise<T> {
    if (!open[target]) return Promise.reject(closedError(target));
    return new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, {
        target,
        worker: null,
        resolve: resolve as (v: unknown) => void,
        reject,
        method,
        at: performance.now(),
      });
      if (!watching) startWatchdog();
      outbox.push({ id, target, method, args });
      if (!sendScheduled) {
        sendScheduled = true;
        setImmediate(send);
      }
    });
  }

  /**
   * One timer for all calls (not one per call): every quarter of the timeout it rejects the
   * calls older than the timeout. It runs only while calls are pending.
   */
  let watching = false;
  function startWatchdog(): void {
    watching = true;
    const t = setInterval(
      () => {
        const now = performance.now();
        for (const [id, p] of pending) {
          if (now - p.at < callTimeoutMs) continue;
          pending.delete(id);
          if (p.worker) track(p.worker, -1);
          p.reject(
            unavailable(
              p.target,
              `the SQLite worker thread did not answer ${p.method} within ${callTimeoutMs} ms (a hung disk or a file locked by another process); nothing is known to be stored, retry the call`,
            ),
          );
        }
        if (pending.size === 0) {
          clearInterval(t);
          watching = false;
        }
      },
      Math.max(10, Math.min(1_000, callTimeoutMs / 4)),
    );
    t.unref();
  }

  async function close(target: Target): Promise<void> {
    if (!open[target]) return;
    const done = call<void>(target, "close", []);
    open[target] = false;
    if (target !== "runs") open.ingest = false;
    try {
      await done;
    } finally {
      if (!open.dedup && !open.store && !open.runs && worker) {
        const w = worker;
        worker = null;
        await w.terminate();
      }
    }
  }

  // Start the worker now, so opening the files begins before the first request.
  worker = spawn();

  const dedup: DedupStore | null = options.dedupPath
    ? {
        driver: "sqlite",
        claim: (entries: readonly ClaimEntry[], ttlMs: number) =>
          call<ClaimResult[]>("dedup", "claim", [entries, ttlMs]),
        release: (entries: readonly ClaimEntry[]) => call<void>("dedup", "release", [entries]),
        ping: () => call<void>("dedup", "ping", []),
        close: () => close("dedup"),
      }
    : null;
  const store: EventStore | null = options.storePath
    ? {
        driver: "sqlite",
        append: (events: readonly StoredEvent[]) => call<void>("store", "append", [events]),
        get: (internalId: string, env: string) =>
          call<StoredEvent | null>("store", "get", [internalId, env]),
        has: (internalIds: readonly string[], env: string) =>
          call<Set<string>>("store", "has", [internalIds, env]),
        list: (query: ListQuery) => call<ListPage>("store", "list", [query]),
        deleteReceivedBefore: (cutoffMs: number) =>
          call<number>("store", "deleteReceivedBefore", [cutoffMs]),
        listEnvs: () => call<Awaited<ReturnType<EventStore["listEnvs"]>>>("store", "listEnvs", []),
        ping: () => call<void>("store", "ping", []),
        close: () => close("store"),
      }
    : null;
  const methods = [
    "upsertApp",
    "getApp",
    "listApps",
    "syncApp",
    "getFunction",
    "listFunctions",
    "createRun",
    "getRun",
    "listRunsForEvent",
    "listActiveRuns",
    "claimDue",
    "renewLease",
    "release",
    "cancelRun",
    "replayRun",
    "expireLeases",
    "countActive",
    "recordCronTick",
    "lastCronTick",
    "nextDueAt",
    "saveSteps",
    "listSteps",
    // --- waits ---
    "waitRun",
    "resolveWait",
    "listWaits",
    "listWaitsSince",
    "countWaits",
    // --- concurrency ---
    "listConcurrencySlots",
    // --- batching ---
    "appendToBatch",
    "listBatchEvents",
    "listBatchRunsForEvent",
    "closeBatch",
    // --- flow control ---
    "takeRateLimit",
    "reserveThrottle",
    "debounceRun",
    "listFailedRuns",
    "recordAttempt",
    "listAttempts",
  ] as const;
  let runs: RunStore | null = null;
  if (options.runsPath) {
    const proxy: Record<string, unknown> = { driver: "sqlite", close: () => close("runs") };
    for (const m of methods) proxy[m] = (...args: unknown[]) => call("runs", m, args);
    runs = proxy as unknown as RunStore;
  }
  /** The store step of a request in one call to the worker (see `ingest` in the worker). */
  const ingest: SqliteThreadStores["ingest"] = open.ingest
    ? (deps, events, ids, env, receivedAt, origin, dedupPrefix = null) =>
        call<IngestReply>("ingest", "ingest", [
          events,
          ids,
          env,
          receivedAt,
          origin,
          dedupPrefix,
          deps.windowMs,
        ]).then(
          (r): IngestResult => {
            if (r.dedupMs !== undefined) deps.hooks?.onDedup?.(r.dedupMs);
            if (!r.ok) {
              return {
                ok: false,
                stage: r.stage,
                error: rebuild(r.stage === "claim" ? "dedup" : "store", r.error),
                ...(r.releaseError ? { releaseError: rebuild("dedup", r.releaseError) } : {}),
              };
            }
            if (r.storeMs !== undefined) deps.hooks?.onStore?.(r.storeMs);
            // Every event as stored (duplicates under the first internal id), built here
            // rather than copied back from the worker.
            const out = r.ids ?? [...ids];
            const stored = new Array<StoredEvent>(events.length);
            for (let i = 0; i < events.length; i++)
              stored[i] = toStoredEvent(events[i]!, out[i]!, env, receivedAt, origin);
            const { accepted, duplicates } = r;
            return { ok: true, ids: out, accepted, duplicates, stored };
          },
          // Not answered (the worker died, or past the call timeout): nothing is known to be
          // stored; a retry is deduplicated and adopts a claim whose event is missing.
          (error: unknown): IngestResult => ({ ok: false, stage: "claim", error }),
        )
    : null;
  return {
    dedup,
    store,
    runs,
    ingest,
    async terminate() {
      const w = worker;
      worker = null;
      if (w) await w.terminate();
    },
  };
}

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { EventStore, StoredEvent } from "@evt/store";
import type { Logger } from "pino";

/**
 * How far back from now an event may have been received and still not be dispatched without
 * being tracked: the time from its receipt to the start of its dispatch (dedup and the store's
 * append, each bounded by the store call timeouts of a few seconds), with room for a stalled
 * event loop.
 */
export const DISPATCH_MARGIN_MS = 60_000;

/** Options of {@link createDispatchMark}. */
export interface DispatchMarkOptions {
  /** The file the mark is kept in (in the data dir, beside the SQLite files). */
  file: string;
  /** @default DISPATCH_MARGIN_MS */
  marginMs?: number;
  /** How often the mark is written. @default 1_000 */
  intervalMs?: number;
  now?: () => number;
}

/**
 * The outbox cursor of a gateway on SQLite: a time before which every stored event has had
 * its runs created. Events are stored (one commit) and then dispatched (the run inserts, in
 * the run store's file): a crash between the two leaves events without runs. The Event API
 * does not acknowledge them, but they are stored; at the next start the gateway dispatches
 * again every event received since the mark (run creation is idempotent, so events that
 * did get their runs get nothing twice).
 *
 * The mark is the earliest receive time among dispatches in flight, and never later than
 * now - `marginMs` (an event between its receipt and its dispatch is not tracked yet). It is
 * written every `intervalMs` (a write that is lost only moves the next start's re-dispatch
 * further back), and set to now by a clean {@link DispatchMark.close} once nothing is in flight.
 *
 * @example
 * ```ts
 * const mark = createDispatchMark({ file: join(dataDir, "dispatch-mark.json") });
 * const since = mark.read(); // null on a first start
 * const done = mark.begin(events, "production");
 * try { await dispatch(events); } finally { done(); }
 * ```
 */
export interface DispatchMark {
  /**
   * The mark the last run of the gateway left (ms since the epoch) and the environments it
   * dispatched to, or `null` when there is none (a first start).
   */
  read(): { mark: number; envs: string[] } | null;
  /** Track a dispatch of `events`; call the returned function when it has settled. */
  begin(events: readonly { received_at: number }[], env: string): () => void;
  /** The mark now. */
  current(): number;
  /** Write the mark every interval. */
  start(): void;
  /** Stop writing; write now as the mark when no dispatch is in flight (a clean stop). */
  close(): void;
}

export function createDispatchMark(options: DispatchMarkOptions): DispatchMark {
  const marginMs = options.marginMs ?? DISPATCH_MARGIN_MS;
  const intervalMs = options.intervalMs ?? 1_000;
  const now = options.now ?? Date.now;
  const inflight = new Map<number, number>();
  /** Environments dispatched to (few; capped), so that a restart knows where to look. */
  const envs = new Set<string>(["production"]);
  let next = 0;
  let timer: NodeJS.Timeout | null = null;

  function current(): number {
    let mark = now() - marginMs;
    for (const at of inflight.values()) if (at < mark) mark = at;
    return mark;
  }

  function write(mark: number): void {
    const tmp = `${options.file}.tmp`;
    try {
      const body = { mark, at: new Date(mark).toISOString(), envs: [...envs] };
      writeFileSync(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
      renameSync(tmp, options.file);
    } catch {
      // A mark not written leaves the previous, earlier one: the next start re-dispatches more.
    }
  }

  return {
    read() {
      try {
        const parsed = JSON.parse(readFileSync(options.file, "utf8")) as {
          mark?: unknown;
          envs?: unknown;
        };
        if (typeof parsed.mark !== "number" || !Number.isFinite(parsed.mark)) return null;
        const list = Array.isArray(parsed.envs)
          ? parsed.envs.filter((e): e is string => typeof e === "string")
          : [];
        for (const e of list) if (envs.size < 1_000) envs.add(e);
        return { mark: parsed.mark, envs: [...new Set(["production", ...list])] };
      } catch {
        return null;
      }
    },
    begin(events, env) {
      if (events.length === 0) return () => {};
      if (envs.size < 1_000) envs.add(env);
      let min = Number.POSITIVE_INFINITY;
      for (const e of events) if (e.received_at < min) min = e.received_at;
      const id = next++;
      inflight.set(id, min);
      return () => {
        inflight.delete(id);
      };
    },
    current,
    start() {
      if (timer !== null) return;
      write(current());
      timer = setInterval(() => write(current()), intervalMs);
      timer.unref();
    },
    close() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      write(inflight.size === 0 ? now() : current());
    },
  };
}

/** The mark's file name in the data dir. */
export const DISPATCH_MARK_FILE = "dispatch-mark.json";

/** Dispatches awaiting a retry at most (more stay pinned in the mark for the next start). */
const MAX_RETRIES_QUEUED = 1_000;

interface Batch {
  env: string;
  events: readonly StoredEvent[];
}

/** The mark, the retry of failed dispatches, and the re-dispatch at start. */
export interface Outbox {
  readonly mark: DispatchMark;
  /** Dispatch `batch` again later (every 2 s) until it succeeds, then call `done`. */
  retry(batch: Batch, done: () => void): void;
  /**
   * Re-dispatch every event received since the last mark (nothing on a first start), then
   * start writing the mark. Call before the Event API takes requests.
   */
  recover(
    store: Pick<EventStore, "list">,
    dispatch: (batch: Batch) => Promise<readonly unknown[]>,
    logger: Pick<Logger, "info" | "warn" | "error">,
  ): Promise<void>;
  close(): void;
}

/**
 * The outbox of a gateway whose events and runs are in two SQLite files: see
 * {@link createDispatchMark}.
 */
export function createOutbox(
  file: string,
  logger: Pick<Logger, "warn">,
  options: Omit<DispatchMarkOptions, "file"> & { retryMs?: number } = {},
): Outbox {
  const mark = createDispatchMark({ file, ...options });
  const retryMs = options.retryMs ?? 2_000;
  const queue: { batch: Batch; done: () => void }[] = [];
  let dispatchAgain: ((batch: Batch) => Promise<readonly unknown[]>) | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  function schedule(): void {
    if (timer !== null || closed || queue.length === 0 || dispatchAgain === null) return;
    timer = setTimeout(() => {
      timer = null;
      void drain();
    }, retryMs);
    timer.unref();
  }

  async function drain(): Promise<void> {
    const again = dispatchAgain;
    if (again === null) return;
    while (queue.length > 0 && !closed) {
      const item = queue[0]!;
      try {
        await again(item.batch);
      } catch (err) {
        logger.warn(
          { err, events: item.batch.events.length },
          "creating the runs of stored events failed again; retrying",
        );
        break;
      }
      queue.shift();
      item.done();
    }
    schedule();
  }

  return {
    mark,
    retry(batch, done) {
      // Past the cap the dispatch stays pinned in the mark: the next start re-dispatches it.
      if (queue.length >= MAX_RETRIES_QUEUED) return;
      queue.push({ batch, done });
      schedule();
    },
    async recover(store, dispatch, log) {
      dispatchAgain = dispatch;
      const last = mark.read();
      if (last !== null) {
        const since = last.mark - 1_000;
        let events = 0;
        let runs = 0;
        try {
          for (const env of last.envs) {
            let cursor: string | null = null;
            do {
              const page = await store.list({ env, since, limit: 1_000, cursor });
              if (page.events.length > 0) {
                runs += (await dispatch({ env, events: page.events })).length;
                events += page.events.length;
              }
              cursor = page.cursor;
            } while (cursor !== null);
          }
          if (runs > 0) {
            log.info(
              { events, runs, since: new Date(since).toISOString() },
              "created the runs of events stored before a crash (re-dispatched the events since the last mark)",
            );
          }
        } catch (err) {
          // Keep the mark where it was, so that the next start tries again.
          mark.begin([{ received_at: since }], "production");
          log.error(
            { err, since: new Date(since).toISOString() },
            "re-dispatching the events stored since the last mark failed; the next start tries again",
          );
        }
      }
      mark.start();
    },
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      mark.close();
    },
  };
}

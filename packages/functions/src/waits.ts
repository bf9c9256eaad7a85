import type { StoredEvent } from "@evt/schema";
import { createTriggerIndex, type TriggerIndex, waitMatchExpression } from "@evt/triggers";
import { type JsonObject, sdkEvent } from "./call";
import type { ExecutorLogger } from "./executor";
import type { JsonValue, RunStore, WaitRecord, WaitResolution } from "./run-store";

/** Options of {@link createWaitMatcher}. */
export interface WaitMatcherOptions {
  runs: RunStore;
  /**
   * Several gateways write waits to the store (PostgreSQL): the store is read for new waits
   * before every match, and a `seq` skipped by one read (maybe a transaction not yet
   * committed) is read again for a while. When `false`, this process records every wait: the
   * store is read at the first match and after each {@link WaitMatcher.notify}.
   * @default runs.driver === "postgres"
   */
  shared?: boolean;
  /** Told about each wait resolved here (wake the executor). */
  onResolved?(wait: WaitRecord): void;
  now?: () => number;
  logger?: ExecutorLogger;
}

/** Resumes waiting runs by event: see {@link createWaitMatcher}. */
export interface WaitMatcher {
  /** Load the waits stored since the last look (by this gateway or another). */
  sync(): Promise<void>;
  /**
   * Say that this process is recording waits (the executor's `onWaiting`, before and after
   * `waitRun`): the next match reads the store. Needed only when not `shared`.
   */
  notify(): void;
  /**
   * Resolve the waits that `events` (stored in `env`) match, after a {@link sync}: each wait
   * once, in the store. Returns how many were resolved here.
   */
  match(env: string, events: readonly StoredEvent[]): Promise<number>;
  /**
   * Drop from the index the waits the store no longer holds (resolved or cancelled through
   * another gateway), in pages of the seqs held. `match` runs it by itself every few minutes
   * on a shared store; returns how many were dropped.
   */
  sweep(): Promise<number>;
  /** Waits held in the index. */
  readonly size: number;
  /**
   * How the index does: `waits` held, and since creation `events` matched and `evaluations`
   * (CEL runs: an equality `if` is looked up by value and needs none).
   */
  stats(): { waits: number; events: number; evaluations: number };
}

/** Waits read per query. */
const PAGE = 1_000;
/** How long a skipped seq is read again (a PostgreSQL transaction still open). */
const HOLE_MS = 30_000;
/** Most skipped seqs remembered at once. */
const MAX_HOLES = 1_000;
/** How often waits past their timeout are dropped from the index (their run times them out). */
const PRUNE_MS = 5_000;
/**
 * How often a shared index drops waits that another gateway resolved: an event that matches
 * one drops it too, but an invoke's wait (a correlation id no event of this gateway matches,
 * and a one-year timeout) would otherwise stay until it expires.
 */
const SWEEP_MS = 5 * 60_000;

const silent: ExecutorLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The step a wait resumes with: the raw event (`step.waitForEvent`), or the child's result or
 * error from its `inngest/function.finished` (`step.invoke`).
 */
export function waitResolution(kind: WaitRecord["kind"], event: StoredEvent): WaitResolution {
  if (kind === "event") return { op: "WaitForEvent", data: sdkEvent(event), error: null };
  const data = (event.data ?? {}) as JsonObject;
  const error = data.error;
  if (error !== undefined && error !== null) return { op: "InvokeFunction", data: null, error };
  return { op: "InvokeFunction", data: (data.result ?? null) as JsonValue, error: null };
}

/** The step a wait resumes with at its timeout. */
export function waitTimeout(wait: WaitRecord): WaitResolution {
  if (wait.kind === "event") return { op: "WaitForEvent", data: null, error: null };
  return {
    op: "InvokeFunction",
    data: null,
    error: {
      name: "InngestInvokeTimeoutError",
      message: "Timed out waiting for invoked function to complete",
    },
  };
}

/**
 * Resume runs waiting for events (`step.waitForEvent`, and `step.invoke` waiting for its
 * child's `inngest/function.finished`). Waits are held in an `@evt/triggers` index: each is a
 * definition on the waited event name whose `if` is the wait's (already interpolated)
 * expression over `event`, so an equality such as `async.data.id == "u1"` is looked up by
 * value, not evaluated per waiting run. Before each match, waits stored since the last look
 * (here or on another gateway) are loaded by their increasing `seq`. A match resolves the
 * wait in the store (once, whoever races); only events received after the wait was recorded,
 * in its env and before its timeout, match.
 *
 * @example
 * ```ts
 * import { createWaitMatcher } from "@evt/functions";
 *
 * const waits = createWaitMatcher({ runs, onResolved: () => executor.wake() });
 * await waits.sync();
 * await waits.match("production", storedEvents);
 * ```
 */
export function createWaitMatcher(options: WaitMatcherOptions): WaitMatcher {
  const { runs } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silent;
  const shared = options.shared ?? runs.driver === "postgres";
  const index: TriggerIndex = createTriggerIndex();
  const bySeq = new Map<string, WaitRecord>();
  let removals: string[] = [];
  let cursor = 0;
  const holes = new Map<number, number>();
  let lastPrune = now();
  let lastSweep = now();
  let sweeping: Promise<number> | null = null;
  /** Not shared: whether a wait may have been stored since the last read. */
  let dirty = true;

  function drop(id: string): void {
    if (!bySeq.delete(id)) return;
    removals.push(id);
    // Removing rebuilds the touched buckets: done in batches, the index skips dropped ids.
    if (removals.length >= Math.max(256, bySeq.size >> 3)) {
      index.remove(removals);
      removals = [];
    }
  }

  function add(w: WaitRecord): void {
    const id = String(w.seq);
    if (bySeq.has(id) || index.has(id)) return;
    let expression: string | undefined;
    try {
      expression = w.expression === null ? undefined : waitMatchExpression(w.expression);
      index.add([
        {
          id,
          triggers: [
            expression === undefined ? { event: w.event } : { event: w.event, expression },
          ],
        },
      ]);
    } catch (err) {
      // Checked when recorded; one that no longer compiles waits for its timeout.
      logger.warn(
        { runId: w.runId, stepId: w.stepId, err },
        "a wait cannot be indexed; it will time out",
      );
      return;
    }
    bySeq.set(id, w);
  }

  async function load(): Promise<void> {
    dirty = false;
    const at = now();
    for (const [seq, until] of holes) if (until < at) holes.delete(seq);
    for (;;) {
      const rows = await runs.listWaitsSince(cursor, [...holes.keys()], PAGE);
      let fresh = 0;
      for (const w of rows) {
        if (holes.delete(w.seq)) {
          add(w);
          continue;
        }
        if (w.seq <= cursor) continue;
        if (shared) {
          for (let s = cursor + 1; s < w.seq && holes.size < MAX_HOLES; s++)
            holes.set(s, at + HOLE_MS);
        }
        cursor = w.seq;
        fresh++;
        add(w);
      }
      if (fresh < PAGE) break;
    }
  }

  /** Drop waits past their timeout (their runs time them out), every few seconds. */
  function prune(): void {
    const at = now();
    if (at - lastPrune < PRUNE_MS) return;
    lastPrune = at;
    for (const [id, w] of bySeq) if (w.expiresAt < at) drop(id);
  }

  async function sweepOnce(): Promise<number> {
    lastSweep = now();
    const held = [...bySeq.values()].map((w) => w.seq);
    let dropped = 0;
    for (let i = 0; i < held.length; i += PAGE) {
      const page = held.slice(i, i + PAGE);
      // Seqs at or below the cursor come back only if still stored, and before any newer one.
      const alive = new Set(
        (await runs.listWaitsSince(cursor, page, page.length + 1)).map((w) => w.seq),
      );
      for (const seq of page) {
        if (alive.has(seq) || seq > cursor) continue;
        drop(String(seq));
        dropped++;
      }
    }
    return dropped;
  }

  function sweep(): Promise<number> {
    sweeping ??= sweepOnce().finally(() => {
      sweeping = null;
    });
    return sweeping;
  }

  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  function sync(): Promise<void> {
    if (running === null) {
      running = load().finally(() => {
        running = null;
      });
      return running;
    }
    // A look already under way may have read before this caller's event was stored: one more.
    next ??= running
      .catch(() => {})
      .then(() => {
        next = null;
        return sync();
      });
    return next;
  }

  return {
    sync,
    sweep,
    notify() {
      dirty = true;
    },
    get size() {
      return bySeq.size;
    },
    stats() {
      const st = index.stats();
      return { waits: bySeq.size, events: st.events, evaluations: st.evaluations };
    },
    async match(env, events) {
      if (shared || dirty) await sync();
      if (bySeq.size === 0) return 0;
      prune();
      if (shared && now() - lastSweep >= SWEEP_MS) {
        sweep().catch((err: unknown) =>
          logger.warn({ err }, "checking the indexed waits against the store failed"),
        );
      }
      const pending: Promise<boolean>[] = [];
      for (const event of events) {
        const matches = index.match({
          name: event.name,
          data: event.data as Record<string, unknown> | null,
          user: event.user as Record<string, unknown> | null,
          id: event.id,
          ts: event.ts,
          v: event.v,
        });
        for (const m of matches) {
          const w = bySeq.get(m.functionId);
          if (w === undefined || w.env !== env) continue;
          // Only events received after the wait was recorded, and before its timeout.
          if (event.received_at < w.createdAt) continue;
          if (event.received_at >= w.expiresAt) {
            drop(m.functionId);
            continue;
          }
          drop(m.functionId);
          const id = m.functionId;
          pending.push(
            runs.resolveWait(w.runId, w.stepId, waitResolution(w.kind, event), now()).then(
              (ok) => {
                if (ok) {
                  logger.info(
                    { runId: w.runId, stepId: w.stepId, by: event.internal_id },
                    w.kind === "event"
                      ? "a waiting run got its event"
                      : "an invoking run got its child's result",
                  );
                  options.onResolved?.(w);
                }
                return ok;
              },
              (err: unknown) => {
                // Not resolved: keep matching it (the caller's retry of the ingest finds it).
                if (index.has(id)) bySeq.set(id, w);
                throw err;
              },
            ),
          );
        }
      }
      const results = await Promise.all(pending);
      return results.filter(Boolean).length;
    },
  };
}

import { type CronEntry, nextTicks } from "@evt/triggers";
import type { ExecutorLogger } from "./executor";
import type { RunStore } from "./run-store";

/** One cron tick to start a run for. */
export interface CronTick {
  functionId: string;
  /** The cron as registered (`TZ=` prefix included). */
  cron: string;
  /** The scheduled time of the tick (ms since the epoch). */
  tickAt: number;
  /** When the run is due: the tick plus the registered jitter, drawn at random. */
  dueAt: number;
}

/** Options of {@link createCronScheduler}. */
export interface CronSchedulerOptions {
  /** Where the latest tick of each function is kept (`recordCronTick`, `lastCronTick`). */
  runs: RunStore;
  /** The cron triggers of the registered functions (`Dispatcher.crons()`). */
  crons(): CronEntry[];
  /**
   * Start the run of a tick: store its `inngest/scheduled.timer` event with a deterministic id
   * and create the run on it, so that several gateways firing the same tick make one run.
   */
  fire(tick: CronTick): Promise<void>;
  now?: () => number;
  random?: () => number;
  logger?: ExecutorLogger;
}

/** Runs cron triggers: see {@link createCronScheduler}. */
export interface CronScheduler {
  /** Re-read the cron triggers (after a sync): new ones are scheduled, changed ones replaced. */
  refresh(): Promise<void>;
  /** Fire every tick due at `now` (the timer calls this; tests call it with their own clock). */
  check(now?: number): Promise<void>;
  /** The next tick per function, for logs and tests. */
  next(): Map<string, number>;
  stop(): void;
}

const silent: ExecutorLogger = { debug() {}, info() {}, warn() {}, error() {} };
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The first tick after `after`, or `null` if the cron never fires again. */
function following(cron: string, after: number): number | null {
  const [next] = nextTicks(cron, new Date(after), 1);
  return next === undefined ? null : next.getTime();
}

/**
 * The ticks in `(after, until]`: the most recent of them and how many came before it.
 * Walks in pages of 1,000, so a long downtime of a frequent cron stays bounded in memory.
 */
function missedTicks(
  cron: string,
  after: number,
  until: number,
): { latest: number | null; older: number } {
  let latest: number | null = null;
  let count = 0;
  let from = after;
  for (let page = 0; page < 1_000; page++) {
    const ticks = nextTicks(cron, new Date(from), 1_000).map((d) => d.getTime());
    for (const t of ticks) {
      if (t > until) return { latest, older: Math.max(0, count - 1) };
      latest = t;
      count++;
    }
    if (ticks.length < 1_000) break;
    from = ticks[ticks.length - 1]!;
  }
  return { latest, older: Math.max(0, count - 1) };
}

/**
 * Schedule the cron triggers of registered functions: one timer for the earliest next tick of
 * all of them. Each tick is fired once per gateway; `fire` makes it once overall (a
 * deterministic event id and the run store's one run per (function, event)). The latest tick
 * handled is kept per function in the run store, so after a downtime the most recent missed
 * tick of each function runs once and older missed ones are skipped (and logged). A function
 * seen for the first time starts with its next tick.
 *
 * @example
 * ```ts
 * import { createCronScheduler } from "@evt/functions";
 *
 * const cron = createCronScheduler({ runs, crons: () => dispatcher.crons(), fire: startTickRun });
 * await cron.refresh();
 * ```
 */
export function createCronScheduler(options: CronSchedulerOptions): CronScheduler {
  const { runs } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? silent;
  /** functionId -> what is scheduled for it. */
  const entries = new Map<string, { entry: CronEntry; next: number | null }>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let checking: Promise<void> | null = null;

  function arm(): void {
    if (stopped) return;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    let earliest = Number.POSITIVE_INFINITY;
    for (const { next } of entries.values()) if (next !== null && next < earliest) earliest = next;
    if (earliest === Number.POSITIVE_INFINITY) return;
    timer = setTimeout(
      () => {
        timer = null;
        void check();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, earliest - now())),
    );
    timer.unref?.();
  }

  async function fireTick(entry: CronEntry, tickAt: number): Promise<void> {
    const jitter = entry.jitterMs ?? 0;
    const dueAt = tickAt + (jitter > 0 ? Math.floor(random() * jitter) : 0);
    await options.fire({ functionId: entry.functionId, cron: entry.cron, tickAt, dueAt });
    await runs.recordCronTick(entry.functionId, tickAt);
  }

  async function check(at: number = now()): Promise<void> {
    // One check at a time: a slow fire must not let the timer fire the same tick again.
    while (checking !== null) await checking.catch(() => {});
    const run = (async () => {
      for (const state of entries.values()) {
        while (state.next !== null && state.next <= at) {
          const tickAt = state.next;
          try {
            await fireTick(state.entry, tickAt);
          } catch (err) {
            logger.warn(
              { functionId: state.entry.functionId, tickAt: new Date(tickAt).toISOString(), err },
              "starting a cron run failed; trying again shortly",
            );
            return;
          }
          state.next = following(state.entry.cron, tickAt);
        }
      }
    })();
    checking = run;
    try {
      await run;
    } finally {
      checking = null;
      arm();
    }
  }

  return {
    async refresh() {
      const current = new Map<string, CronEntry>();
      // One schedule per function: its first cron trigger (Inngest allows one cron per function
      // in practice; more would be merged here by taking the earliest next tick).
      for (const e of options.crons()) if (!current.has(e.functionId)) current.set(e.functionId, e);
      for (const id of [...entries.keys()]) if (!current.has(id)) entries.delete(id);
      const at = now();
      for (const [id, entry] of current) {
        const known = entries.get(id);
        if (known !== undefined && known.entry.cron === entry.cron) {
          known.entry = entry;
          continue;
        }
        const last = await runs.lastCronTick(id);
        if (last === null || known !== undefined) {
          // New, or its schedule changed: from now on.
          entries.set(id, { entry, next: following(entry.cron, at) });
          await runs.recordCronTick(id, at);
          continue;
        }
        const missed = missedTicks(entry.cron, last, at);
        entries.set(id, { entry, next: following(entry.cron, at) });
        if (missed.latest !== null) {
          if (missed.older > 0) {
            logger.warn(
              { functionId: id, skipped: missed.older, since: new Date(last).toISOString() },
              "cron ticks missed while no gateway ran were skipped; the most recent one runs now",
            );
          }
          try {
            await fireTick(entry, missed.latest);
          } catch (err) {
            logger.warn({ functionId: id, err }, "starting a missed cron run failed");
          }
        }
      }
      arm();
    },
    check,
    next() {
      const out = new Map<string, number>();
      for (const [id, { next }] of entries) if (next !== null) out.set(id, next);
      return out;
    },
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

import type { EventStore } from "@evt/store";
import type { Logger } from "pino";

/** A running retention sweep. */
export interface RetentionSweep {
  /** Runs one sweep now; resolves with how many events were deleted. */
  runOnce(): Promise<number>;
  /** Stops the schedule; resolves once a sweep in progress has finished. */
  stop(): Promise<void>;
}

/** How often the sweep runs: a 24th of the retention, between 1 minute and 1 hour. */
export function sweepIntervalMs(retentionMs: number): number {
  return Math.min(3_600_000, Math.max(60_000, Math.floor(retentionMs / 24)));
}

/**
 * Deletes events received longer than `retentionMs` ago, shortly after start and then on a
 * schedule (see {@link sweepIntervalMs}), with `store.deleteReceivedBefore`. `null` disables it.
 * A failing sweep is logged and retried at the next tick; it never stops the gateway.
 *
 * @example
 * ```ts
 * const sweep = startRetention(store, 30 * 86_400_000, logger);
 * sweep.stop();
 * ```
 */
export function startRetention(
  store: EventStore,
  retentionMs: number | null,
  logger: Logger,
  now: () => number = Date.now,
): RetentionSweep {
  let running: Promise<number> | null = null;
  const runOnce = () => {
    if (retentionMs === null) return Promise.resolve(0);
    running ??= store
      .deleteReceivedBefore(now() - retentionMs)
      .then(
        (deleted) => {
          if (deleted > 0)
            logger.info({ deleted, retentionMs }, "retention sweep deleted old events");
          return deleted;
        },
        (err: unknown) => {
          logger.warn({ err }, "retention sweep failed; retrying at the next tick");
          return 0;
        },
      )
      .finally(() => {
        running = null;
      });
    return running;
  };
  if (retentionMs === null) return { runOnce, stop: async () => {} };

  const first = setTimeout(() => void runOnce(), 5_000);
  const every = setInterval(() => void runOnce(), sweepIntervalMs(retentionMs));
  first.unref();
  every.unref();
  return {
    runOnce,
    async stop() {
      clearTimeout(first);
      clearInterval(every);
      await running;
    },
  };
}

/**
 * Whether the last write failed: a store that answers pings can still refuse writes (a full
 * disk, a read-only replica), and readiness must say so. The ingest path reports every write
 * outcome; `/ready` asks {@link WriteHealth.failing}.
 *
 * A failure is reported as not-ready until a write succeeds, or for at most `holdMs` without
 * any write: a load balancer takes a not-ready instance out of rotation, so waiting for the next
 * write alone could keep it out forever. After `holdMs` readiness falls back to the pings, the
 * next write decides again.
 */
export interface WriteHealth {
  /** A write reached the store and failed (not the client's fault). */
  failed(error: unknown): void;
  /** A write was stored. */
  succeeded(): void;
  /** The failure readiness reports now, or `null` when writes are healthy. */
  failing(): { since: number; error: unknown } | null;
}

/** How long a write failure keeps `/ready` at 503 when no write follows it. */
export const WRITE_FAILURE_HOLD_MS = 30_000;

export function createWriteHealth(
  now: () => number,
  holdMs: number = WRITE_FAILURE_HOLD_MS,
): WriteHealth {
  let since = 0;
  let last = 0;
  let error: unknown;
  let down = false;
  return {
    failed(err) {
      const t = now();
      if (!down) since = t;
      down = true;
      last = t;
      error = err;
    },
    succeeded() {
      down = false;
      error = undefined;
    },
    failing() {
      if (!down) return null;
      if (now() - last >= holdMs) {
        down = false;
        error = undefined;
        return null;
      }
      return { since, error };
    },
  };
}

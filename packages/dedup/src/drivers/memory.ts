import { closedError, DedupError } from "../errors.js";
import type { ClaimEntry, ClaimResult, DedupStore } from "../types.js";
import { checkEntries, checkTtl } from "../validate.js";

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Hard bound on remembered keys. Expired keys are dropped first; when a claim would still
   * exceed the bound, the whole claim is refused with a retryable `DedupError` (`full`) and
   * nothing is claimed. Live keys are never forgotten before their window ends: forgetting them
   * would let one client push another producer's ids out of the window and resend them.
   * @default 1_000_000
   */
  maxKeys?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** How many head entries a claim inspects for expiry, keeping the sweep amortised O(1). */
const SWEEP_STEP = 4;

/** One shared, frozen answer for every fresh key: no allocation per key on the hot path. */
const FRESH: ClaimResult = Object.freeze({ fresh: true });

interface Slot {
  value: string;
  expiresAt: number;
}

/**
 * A deduplication store in process memory: for one gateway process, or tests. Every operation
 * is O(1) per key (amortised). Keys live in a `Map` in insertion order; each claim drops a few
 * expired keys from the oldest end. At `maxKeys` live keys, claims of new keys are refused
 * (retryable `full`) until keys expire or are released. Nothing survives a restart.
 *
 * @example
 * ```ts
 * import { createMemoryStore } from "@evt/dedup/memory";
 * const store = createMemoryStore({ maxKeys: 100_000 });
 * const [first] = await store.claim([{ key: "order-1", value: "01J..." }], 86_400_000);
 * // first.fresh === true; claiming "order-1" again answers { fresh: false, value: "01J..." }
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): DedupStore {
  const maxKeys = options.maxKeys ?? 1_000_000;
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    throw new DedupError(
      "invalid_argument",
      `options.maxKeys must be a positive integer, got ${String(options.maxKeys)}`,
      { driver: "memory" },
    );
  }
  const now = options.now ?? Date.now;
  const map = new Map<string, Slot>();
  let closed = false;

  // The oldest end of the map is read through ONE long-lived iterator. A fresh `map.keys()` per
  // eviction would rescan the holes V8 leaves where deleted entries were (quadratic at the
  // bound); a live iterator walks past each hole once. `head` is the oldest entry seen and not
  // yet removed; it is stale when its key was since released or re-inserted (new slot object).
  let it = map.entries();
  let head: [string, Slot] | undefined;

  function oldest(): [string, Slot] | undefined {
    for (;;) {
      if (head !== undefined && map.get(head[0]) === head[1]) return head;
      const next = it.next();
      if (next.done) {
        // a finished iterator stays finished: start a new one (only after the map ran empty)
        it = map.entries();
        head = undefined;
        if (map.size === 0) return undefined;
        continue;
      }
      head = next.value;
    }
  }

  /** Drop expired keys from the oldest end until one is live (or the map is empty). */
  function sweepAll(t: number): void {
    for (;;) {
      const h = oldest();
      if (h === undefined || h[1].expiresAt > t) return;
      map.delete(h[0]);
      head = undefined;
    }
  }

  /** Keys of `entries` a claim would add: not held, or held but expired (an upper bound). */
  function newKeys(entries: readonly ClaimEntry[], t: number): number {
    let n = 0;
    for (let i = 0; i < entries.length; i++) {
      const held = map.get(entries[i]!.key);
      if (held === undefined || held.expiresAt <= t) n++;
    }
    return n;
  }

  function refuseWhenFull(entries: readonly ClaimEntry[], t: number): void {
    if (map.size + entries.length <= maxKeys) return;
    if (map.size + newKeys(entries, t) <= maxKeys) return;
    sweepAll(t);
    const needed = newKeys(entries, t);
    if (map.size + needed <= maxKeys) return;
    throw new DedupError(
      "full",
      `the memory dedup store holds ${map.size} live keys (maxKeys ${maxKeys}) and cannot take ${needed} more; nothing was claimed. Retry after keys expire, raise maxKeys, or use a persistent driver (sqlite, redis, postgres)`,
      { driver: "memory", retryable: true },
    );
  }

  function sweepHead(t: number): void {
    for (let n = 0; n < SWEEP_STEP; n++) {
      const h = oldest();
      if (h === undefined || h[1].expiresAt > t) return;
      map.delete(h[0]);
      head = undefined;
    }
  }

  function claimSync(entries: readonly ClaimEntry[], ttlMs: number): ClaimResult[] {
    const t = now();
    refuseWhenFull(entries, t);
    const expiresAt = t + ttlMs;
    const out = new Array<ClaimResult>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const { key, value } = entries[i]!;
      const held = map.get(key);
      if (held !== undefined && held.expiresAt > t) {
        out[i] = { fresh: false, value: held.value };
        continue;
      }
      if (held !== undefined) map.delete(key); // expired: re-insert at the young end
      map.set(key, { value, expiresAt });
      out[i] = FRESH;
    }
    sweepHead(t);
    return out;
  }

  return {
    driver: "memory",
    async claim(entries, ttlMs) {
      if (closed) throw closedError("memory");
      checkEntries(entries, "claim");
      checkTtl(ttlMs);
      return claimSync(entries, ttlMs);
    },
    async release(entries) {
      if (closed) throw closedError("memory");
      checkEntries(entries, "release");
      for (const { key, value } of entries) {
        if (map.get(key)?.value === value) map.delete(key);
      }
    },
    async ping() {
      if (closed) throw closedError("memory");
    },
    async close() {
      closed = true;
      map.clear();
    },
  };
}

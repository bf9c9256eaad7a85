import { decodeRow, type EncodedEvent, encodeEvents } from "../encode";
import { StoreError } from "../errors";
import { checkCutoff, checkEnv, checkIds, collectPage, normalizeListQuery } from "../query";
import type { EnvSummary, EventStore, ListPage, ListQuery, StoredEvent } from "../types";

const DRIVER = "memory";

/** Options of {@link createMemoryStore}. None yet; the object is reserved for later. */
export type MemoryStoreOptions = Record<string, never>;

interface EnvLog {
  byId: Map<string, EncodedEvent>;
  /** Ascending by (received_at, internal_id); `list` walks it from the end. */
  sorted: EncodedEvent[];
}

function compare(a: EncodedEvent, receivedAt: number, internalId: string): number {
  if (a.received_at !== receivedAt) return a.received_at < receivedAt ? -1 : 1;
  if (a.internal_id === internalId) return 0;
  return a.internal_id < internalId ? -1 : 1;
}

/** First index whose row is >= (receivedAt, internalId). */
function lowerBound(rows: EncodedEvent[], receivedAt: number, internalId: string): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(rows[mid]!, receivedAt, internalId) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Code point order, which is the bytewise order of the UTF-8 encodings: how SQLite (BINARY)
 * and PostgreSQL (`COLLATE "C"`) sort. (`<` on strings compares UTF-16 units, which differs
 * for characters above U+FFFF.)
 */
function compareCodePoints(a: string, b: string): number {
  for (let i = 0; ; ) {
    if (i >= a.length) return i >= b.length ? 0 : -1;
    if (i >= b.length) return 1;
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
  }
}

/**
 * An event store in process memory, for tests and development. Nothing survives the process;
 * events are kept as JSON text, so reads return copies exactly as other drivers would.
 *
 * @example
 * ```ts
 * import { createMemoryStore } from "@evt/store/memory";
 *
 * const store = createMemoryStore();
 * await store.append([{ internal_id: "01J0000000000000000000000A", id: null, name: "app/signup",
 *   data: { plan: "pro" }, user: null, ts: Date.now(), v: null, env: "production",
 *   received_at: Date.now() }]);
 * console.log(await store.get("01J0000000000000000000000A", "production"));
 * ```
 */
export function createMemoryStore(_options: MemoryStoreOptions = {}): EventStore {
  const envs = new Map<string, EnvLog>();
  let closed = false;

  const open = (op: string) => {
    if (closed) throw new StoreError(DRIVER, "closed", `${op}: the store is closed`);
  };

  return {
    driver: DRIVER,

    async append(events: readonly StoredEvent[]): Promise<void> {
      open("append");
      const encoded = encodeEvents(DRIVER, events);
      for (const row of encoded) {
        let log = envs.get(row.env);
        if (!log) {
          log = { byId: new Map(), sorted: [] };
          envs.set(row.env, log);
        }
        if (log.byId.has(row.internal_id)) continue;
        log.byId.set(row.internal_id, row);
        const last = log.sorted[log.sorted.length - 1];
        if (!last || compare(last, row.received_at, row.internal_id) < 0) log.sorted.push(row);
        else log.sorted.splice(lowerBound(log.sorted, row.received_at, row.internal_id), 0, row);
      }
    },

    async get(internalId: string, env: string): Promise<StoredEvent | null> {
      open("get");
      checkEnv(DRIVER, "get", env);
      const row = envs.get(env)?.byId.get(internalId);
      return row ? decodeRow(row) : null;
    },

    async has(internalIds: readonly string[], env: string): Promise<Set<string>> {
      open("has");
      checkIds(DRIVER, internalIds, env);
      const found = new Set<string>();
      const log = envs.get(env);
      if (log) for (const id of internalIds) if (log.byId.has(id)) found.add(id);
      return found;
    },

    async list(query: ListQuery): Promise<ListPage> {
      open("list");
      const q = normalizeListQuery(DRIVER, query);
      const log = envs.get(q.env);
      if (!log) return { events: [], cursor: null };
      const rows = log.sorted;
      // Walk down from just below the cursor (or from `until`, exclusive).
      let i = rows.length - 1;
      if (q.after) i = Math.min(i, lowerBound(rows, q.after.receivedAt, q.after.internalId) - 1);
      if (q.until != null) {
        // Every id sorts after "", so this is the first row with received_at >= until.
        i = Math.min(i, lowerBound(rows, q.until, "") - 1);
      }
      function* walk(from: number): Generator<EncodedEvent> {
        for (let j = from; j >= 0; j--) {
          const row = rows[j]!;
          if (q.since != null && row.received_at < q.since) return;
          if (q.name != null && row.name !== q.name) continue;
          yield row;
        }
      }
      return collectPage(walk(i), q.limit, q.maxBytes);
    },

    async listEnvs(): Promise<EnvSummary[]> {
      open("listEnvs");
      const out: EnvSummary[] = [];
      for (const [env, log] of envs) {
        const last = log.sorted[log.sorted.length - 1];
        if (last) out.push({ env, events: log.sorted.length, lastReceivedAt: last.received_at });
      }
      return out.sort((a, b) => compareCodePoints(a.env, b.env));
    },

    async deleteReceivedBefore(cutoffMs: number): Promise<number> {
      open("deleteReceivedBefore");
      const cutoff = checkCutoff(DRIVER, cutoffMs);
      let deleted = 0;
      for (const [env, log] of envs) {
        const end = lowerBound(log.sorted, cutoff, "");
        if (end === 0) continue;
        for (const row of log.sorted.splice(0, end)) log.byId.delete(row.internal_id);
        deleted += end;
        if (log.sorted.length === 0) envs.delete(env);
      }
      return deleted;
    },

    async ping(): Promise<void> {
      open("ping");
    },

    async close(): Promise<void> {
      closed = true;
      envs.clear();
    },
  };
}

/** Alias of {@link createMemoryStore} that reads well next to `@evt/dedup`'s memory store. */
export const createMemoryEventStore = createMemoryStore;

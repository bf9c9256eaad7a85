/**
 * The store step of a request (`@evt/server`'s `ingest`) for the one SQLite file, as run by the
 * SQLite worker next to both stores: the dedup claim and the append of a request are ONE part of
 * the connection's shared commit, so all requests of a turn cost one transaction and one fsync.
 */
import type { SqliteSharedCommit, SqliteStore } from "@evt/dedup";
import type { NormalizedEvent } from "@evt/schema";
import {
  type AppendPlan,
  adopt,
  claimEntries,
  type EventOrigin,
  type IngestStage,
  ingested,
  planAppend,
} from "@evt/server";
import type { SqliteEventStore } from "@evt/store";
import { type IngestReply, toWire } from "./sqlite-wire";

/** What {@link createFileIngest} writes with: the stores of one connection and its commit. */
export interface FileIngestDeps {
  dedup: SqliteStore;
  store: SqliteEventStore;
  sharedCommit: SqliteSharedCommit;
  /** Runs `write` in a transaction of its own on the connection (a part's `alone()`). */
  writeAlone: (write: () => void) => void;
}

/** The arguments of an `ingest` call to the worker (see `ingest` in `sqlite-thread.ts`). */
type IngestArgs = [NormalizedEvent[], string[], string, number, EventOrigin, string | null, number];

/**
 * Returns the worker's `ingest`: each request joins the shared commit as one part whose
 * `write()` claims its dedup keys (deciding fresh and duplicate), checks the duplicates of
 * earlier requests and appends the fresh (and adopted) events, inside the transaction of the
 * turn. It answers after that commit. If the turn's transaction fails, each request runs alone
 * in a transaction of its own: a bad request fails alone, and its claims roll back with its
 * append (nothing half-stored, no claim left without its event). `dedupMs` is the time to the
 * end of the claim (waiting for the turn included), `storeMs` from there to the commit.
 */
export function createFileIngest(deps: FileIngestDeps): (args: unknown[]) => Promise<IngestReply> {
  const { dedup, store, sharedCommit, writeAlone } = deps;
  let opened: Promise<void> | null = null;
  /** The synchronous calls need both stores open (their schema made). */
  function open(windowMs: number): Promise<void> {
    opened ??= Promise.all([dedup.claim([], windowMs), store.append([])]).then(
      () => undefined,
      (error: unknown) => {
        opened = null;
        throw error;
      },
    );
    return opened;
  }
  return async (args) => {
    const [events, ids, env, receivedAt, origin, dedupPrefix, windowMs] = args as IngestArgs;
    const t0 = performance.now();
    await open(windowMs);
    if (events.length === 0) return { ok: true, ids: [], accepted: 0, duplicates: 0 };
    const entries = claimEntries(events, ids, env, dedupPrefix);
    const times: { dedupMs?: number; storeMs?: number } = {};
    let stage: IngestStage = "claim";
    let plan: AppendPlan | null = null;
    let claimedAt = 0;
    /** Claim, then append: the SQL of the request, in a transaction its caller holds. */
    function write(): void {
      stage = "claim";
      plan = null;
      const claims = dedup.claimInTransaction(entries, windowMs);
      claimedAt = performance.now();
      times.dedupMs = claimedAt - t0;
      const p = planAppend(claims, entries, events, ids, env, receivedAt, origin);
      if (p.earlier !== null) {
        stage = "has";
        const present = store.hasInTransaction([...p.earlier.keys()], env);
        adopt(p, present, events, env, receivedAt, origin);
      }
      stage = "append";
      if (p.toAppend.length > 0) store.appendInTransaction(p.toAppend);
      plan = p;
    }
    return new Promise<IngestReply>((resolve) => {
      function done(): void {
        times.storeMs = performance.now() - claimedAt;
        const r = ingested(plan!, events, env, receivedAt, origin);
        resolve({ ...times, ok: true, ids: r.ids, accepted: r.accepted, duplicates: r.duplicates });
      }
      function fail(error: unknown): void {
        delete times.storeMs;
        if (stage === "claim") delete times.dedupMs;
        resolve({ ...times, ok: false, stage, error: toWire(error) });
      }
      sharedCommit.join({
        durable: true,
        write,
        committed: done,
        alone() {
          try {
            writeAlone(write);
          } catch (error) {
            fail(error);
            return;
          }
          done();
        },
      });
    });
  };
}

/**
 * The store step of a request (`@evt/server`'s `ingest`) for the one SQLite file, run next to
 * both stores (on the HTTP thread, or in the SQLite worker): the dedup claim and the append of
 * a request are ONE part of the connection's shared commit, so all requests of a turn cost one
 * transaction and one fsync.
 */
import type { SqliteSharedCommit, SqliteStore } from "@evt/dedup";
import type { NormalizedEvent } from "@evt/schema";
import {
  type AppendPlan,
  adopt,
  claimEntries,
  type EventOrigin,
  type IngestDeps,
  type IngestResult,
  type IngestStage,
  ingested,
  type ingest as ingestInProcess,
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

/** The arguments of one request's store step (as an `ingest` call to the worker sends them). */
export type FileIngestArgs = [
  events: readonly NormalizedEvent[],
  ids: readonly string[],
  env: string,
  receivedAt: number,
  origin: EventOrigin,
  dedupPrefix: string | null,
  windowMs: number,
];

/** What one request's store step gives: `ingest`'s result and the times for the metrics hooks. */
export interface FileIngestOutcome {
  result: IngestResult;
  /** From the call to the end of the claim (waiting for the turn included). */
  dedupMs?: number;
  /** From the end of the claim to the commit. */
  storeMs?: number;
}

/**
 * Returns the store step of a request for the one file: each request joins the shared commit
 * as one part whose `write()` claims its dedup keys (deciding fresh and duplicate), checks the
 * duplicates of earlier requests and appends the fresh (and adopted) events, inside the
 * transaction of the turn. It resolves after that commit. If the turn's transaction fails,
 * each request runs alone in a transaction of its own: a bad request fails alone, and its
 * claims roll back with its append (nothing half-stored, no claim left without its event).
 */
export function createFileIngest(
  deps: FileIngestDeps,
): (...args: FileIngestArgs) => Promise<FileIngestOutcome> {
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
  return async (events, ids, env, receivedAt, origin, dedupPrefix, windowMs) => {
    const t0 = performance.now();
    await open(windowMs);
    if (events.length === 0) {
      return { result: { ok: true, ids: [], accepted: 0, duplicates: 0, stored: [] } };
    }
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
    return new Promise<FileIngestOutcome>((resolve) => {
      function done(): void {
        times.storeMs = performance.now() - claimedAt;
        resolve({ ...times, result: ingested(plan!, events, env, receivedAt, origin) });
      }
      function fail(error: unknown): void {
        delete times.storeMs;
        if (stage === "claim") delete times.dedupMs;
        resolve({ ...times, result: { ok: false, stage, error } });
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

/**
 * The worker's answer to an `ingest` call: the outcome without the stored events (the main
 * thread has them), and `ids` only when one differs from the ids sent (a duplicate answered
 * with its first internal id), so the common answer crosses the thread as a few numbers.
 */
export function toIngestReply(outcome: FileIngestOutcome, sent: readonly string[]): IngestReply {
  const { result, dedupMs, storeMs } = outcome;
  const times = {
    ...(dedupMs !== undefined ? { dedupMs } : {}),
    ...(storeMs !== undefined ? { storeMs } : {}),
  };
  if (!result.ok) {
    return {
      ...times,
      ok: false,
      stage: result.stage,
      error: toWire(result.error),
      ...(result.releaseError !== undefined ? { releaseError: toWire(result.releaseError) } : {}),
    };
  }
  const same = result.ids.length === sent.length && result.ids.every((id, i) => id === sent[i]);
  const { accepted, duplicates } = result;
  return { ...times, ok: true, ids: same ? null : result.ids, accepted, duplicates };
}

/**
 * `@evt/server`'s `ingest` for `createEventApi({ ingest })` when the stores share the file on
 * this thread: the request's claim and append in one part of the shared commit, and the times
 * reported to the metrics hooks as `ingest` reports them.
 *
 * @example
 * ```ts
 * const file = openSqliteFile(".evt/evt.sqlite", { dedup: true, store: true, runs: false });
 * const api = createEventApi({ ...deps, ingest: fileIngestInProcess(createFileIngest(deps)) });
 * ```
 */
export function fileIngestInProcess(
  step: (...args: FileIngestArgs) => Promise<FileIngestOutcome>,
): typeof ingestInProcess {
  return (deps, events, ids, env, receivedAt, origin, dedupPrefix = null) =>
    step(events, ids, env, receivedAt, origin, dedupPrefix, deps.windowMs).then((o) =>
      reportTimes(deps, o),
    );
}

/** Calls the metrics hooks with an outcome's times, as `ingest` does, and returns its result. */
function reportTimes(deps: IngestDeps, o: FileIngestOutcome): IngestResult {
  if (o.dedupMs !== undefined) deps.hooks?.onDedup?.(o.dedupMs);
  if (o.result.ok && o.storeMs !== undefined) deps.hooks?.onStore?.(o.storeMs);
  return o.result;
}

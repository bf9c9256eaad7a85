/**
 * Entry of the SQLite worker thread: opens the SQLite dedup store and/or event store named in
 * `workerData` and runs the calls the main thread sends (see `sqlite-thread.ts`). The stores
 * are the ordinary `@evt/dedup` and `@evt/store` drivers, so group commit, durability and
 * error codes are theirs; this file only moves calls and answers across the thread boundary.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createSqliteStore, type DedupStore, type SqliteStore } from "@evt/dedup";
import type { RunStore } from "@evt/functions";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import { createSqliteEventStore, type EventStore, type SqliteEventStore } from "@evt/store";
import { openSqliteFile } from "./sqlite-file";
import { createFileIngest, type FileIngestArgs, toIngestReply } from "./sqlite-ingest";
import { type Call, type Reply, type Target, toWire, type WorkerSetup } from "./sqlite-wire";

const port = parentPort;
if (!port) throw new Error("sqlite-worker.js runs as a worker thread of evt-gateway only");

const setup = workerData as WorkerSetup;
const oneFile = setup.oneFile ? (setup.dedupPath ?? setup.storePath ?? setup.runsPath) : null;
// SQLite's own fsync at each durable commit (`wal: false`): it stops only this thread, and
// with a CPU for each thread that measured less CPU per request than flushing the WAL on
// libuv's pool (bench/README.md, 2026-12-06).
const file = oneFile
  ? openSqliteFile(
      oneFile,
      {
        dedup: setup.dedupPath != null,
        store: setup.storePath != null,
        runs: setup.runsPath != null,
      },
      { wal: false },
    )
  : null;
const stores: Record<Exclude<Target, "ingest">, DedupStore | EventStore | RunStore | null> = file
  ? { dedup: file.dedup, store: file.store, runs: file.runs }
  : {
      dedup: setup.dedupPath ? createSqliteStore({ path: setup.dedupPath }) : null,
      store: setup.storePath ? createSqliteEventStore({ path: setup.storePath }) : null,
      runs: setup.runsPath ? createSqliteRunStore({ path: setup.runsPath }) : null,
    };

let replies: Reply[] = [];
let flushing = false;

function flush(): void {
  flushing = false;
  const out = replies;
  replies = [];
  port!.postMessage(out);
}

function reply(r: Reply): void {
  replies.push(r);
  if (!flushing) {
    flushing = true;
    setImmediate(flush);
  }
}

/** The store step of one request, claim and append in one part of the shared commit. */
const ingestHere =
  stores.dedup && stores.store && file?.sharedCommit && file.writeAlone
    ? createFileIngest({
        dedup: stores.dedup as SqliteStore,
        store: stores.store as SqliteEventStore,
        sharedCommit: file.sharedCommit,
        writeAlone: file.writeAlone,
      })
    : null;

function run(call: Call): void {
  if (call.target === "ingest") {
    const args = call.args as FileIngestArgs;
    (ingestHere
      ? ingestHere(...args).then((outcome) => toIngestReply(outcome, args[1]))
      : Promise.reject(new Error("the SQLite worker has no dedup and event store to ingest"))
    ).then(
      (value) => reply({ id: call.id, ok: true, value }),
      (error: unknown) => reply({ id: call.id, ok: false, error: toWire(error) }),
    );
    return;
  }
  const target = stores[call.target] as unknown as Record<string, (...a: unknown[]) => unknown>;
  if (!target || typeof target[call.method] !== "function") {
    reply({
      id: call.id,
      ok: false,
      error: toWire(new Error(`the SQLite worker has no ${call.target}.${call.method}`)),
    });
    return;
  }
  let result: Promise<unknown>;
  try {
    result = Promise.resolve(target[call.method]!(...call.args));
  } catch (error) {
    reply({ id: call.id, ok: false, error: toWire(error) });
    return;
  }
  result.then(
    (value) => reply({ id: call.id, ok: true, value }),
    (error: unknown) => reply({ id: call.id, ok: false, error: toWire(error) }),
  );
}

port.on("message", (calls: Call[]) => {
  for (const call of calls) run(call);
});

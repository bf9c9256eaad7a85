import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SqliteCommitPart, SqliteSharedCommit } from "@evt/dedup";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createSharedCommit, SPLIT_FILES, SQLITE_FILE } from "../src/sqlite-file";
import { createFileIngest, toIngestReply } from "../src/sqlite-ingest";
import { sendEvents, startGatewayProcess, stopProcess, storedEvent, tempDir } from "./helpers";

const count = (path: string, table: string): number => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

const tables = (path: string): string[] => {
  const db = new Database(path, { readonly: true });
  try {
    return (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    ).map((r) => r.name);
  } finally {
    db.close();
  }
};

const start = (dataDir: string, extra: string[]) =>
  startGatewayProcess([
    "dev",
    "--port",
    "0",
    "--data-dir",
    dataDir,
    "--log-level",
    "warn",
    ...extra,
  ]);

describe.each([
  ["worker thread", ["--sqlite-thread", "true"]],
  ["main thread", ["--sqlite-thread", "false"]],
])("SQLite data folder layouts, SQLite on the %s", (_mode, extra: string[]) => {
  it("a new data folder holds dedup keys, events and runs in the one file evt.sqlite", {
    timeout: 30_000,
  }, async () => {
    const dataDir = tempDir();
    const gw = await start(dataDir, extra);
    try {
      const first = await sendEvents(gw.url, "k", { name: "app/one-file", id: "order-1" });
      expect(first.status).toBe(200);
      const again = await sendEvents(gw.url, "k", { name: "app/one-file", id: "order-1" });
      expect(again.body.ids).toEqual(first.body.ids);
    } finally {
      await stopProcess(gw, "SIGTERM");
    }
    const file = join(dataDir, SQLITE_FILE);
    for (const old of Object.values(SPLIT_FILES))
      expect(existsSync(join(dataDir, old))).toBe(false);
    expect(count(file, "evt_events")).toBe(1);
    expect(count(file, "evt_dedup")).toBe(1);
    expect(tables(file)).toContain("evt_fn_runs");
  });

  it("a data folder of the earlier layout (a file per store) keeps using its files", {
    timeout: 30_000,
  }, async () => {
    const dataDir = tempDir();
    // What an earlier version leaves: dedup.sqlite, events.sqlite and runs.sqlite.
    for (const old of Object.values(SPLIT_FILES)) writeFileSync(join(dataDir, old), "");
    let gw = await start(dataDir, extra);
    let first: Awaited<ReturnType<typeof sendEvents>>;
    try {
      first = await sendEvents(gw.url, "k", { name: "app/split", id: "order-2" });
      expect(first.status).toBe(200);
    } finally {
      await stopProcess(gw);
    }
    // After a kill -9 and a restart: the event is there and its id is still a duplicate.
    gw = await start(dataDir, extra);
    try {
      const again = await sendEvents(gw.url, "k", { name: "app/split", id: "order-2" });
      expect(again.body.ids).toEqual(first.body.ids);
      expect((await fetch(`${gw.url}/v1/events/${first.body.ids![0]}`)).status).toBe(200);
    } finally {
      await stopProcess(gw, "SIGTERM");
    }
    expect(existsSync(join(dataDir, SQLITE_FILE))).toBe(false);
    expect(count(join(dataDir, SPLIT_FILES.store), "evt_events")).toBe(1);
    expect(count(join(dataDir, SPLIT_FILES.dedup), "evt_dedup")).toBe(1);
    expect(tables(join(dataDir, SPLIT_FILES.runs))).toContain("evt_fn_runs");
  });
});

describe("one connection, one commit", () => {
  /** The gateway's coordinator, recording each part and whether it wrote in a transaction. */
  function recording(db: Database.Database) {
    const inner = createSharedCommit(db);
    const log: string[] = [];
    let joined = 0;
    const commit: SqliteSharedCommit = {
      join(part: SqliteCommitPart) {
        const n = joined++;
        inner.join({
          ...(part.durable !== undefined ? { durable: part.durable } : {}),
          write: () => {
            log.push(`write ${n} ${db.inTransaction ? "in" : "outside"} transaction`);
            part.write();
          },
          committed: () => {
            log.push(`committed ${n}`);
            part.committed();
          },
          alone: () => {
            log.push(`alone ${n}`);
            part.alone();
          },
        });
      },
    };
    return { commit, log };
  }

  it("a claim, an append and a run made in one turn are written in one transaction and answered after its commit", async () => {
    const path = join(tempDir(), SQLITE_FILE);
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    const { commit, log } = recording(db);
    const { createSqliteStore } = await import("@evt/dedup");
    const { createSqliteEventStore } = await import("@evt/store");
    const { createSqliteRunStore } = await import("@evt/functions/sqlite");
    const dedup = createSqliteStore({ database: db, sharedCommit: commit, sweepIntervalMs: 0 });
    const store = createSqliteEventStore({ database: db, sharedCommit: commit });
    const runs = createSqliteRunStore({ database: db, sharedCommit: commit });
    // Open the three (schemas) before the turn under test.
    await Promise.all([dedup.ping(), store.ping(), runs.countActive(Date.now())]);
    const now = Date.now();
    const settled: string[] = [];
    const claim = dedup.claim([{ key: "k1", value: "01J0000000000000000000000A" }], 60_000);
    const append = store.append([{ ...storedEvent("01J0000000000000000000000A"), id: "k1" }]);
    const run = runs.createRun({
      functionId: "app-fn",
      eventInternalId: "01J0000000000000000000000A",
      env: "dev",
      dueAt: now,
    });
    for (const [name, p] of [
      ["claim", claim],
      ["append", append],
      ["run", run],
    ] as const)
      void p.then(() =>
        settled.push(
          `${name} after ${log.filter((l) => l.startsWith("committed")).length} commits`,
        ),
      );
    const [claimed, , created] = await Promise.all([claim, append, run]);
    expect(claimed).toEqual([{ fresh: true }]);
    expect(created.created).toBe(true);
    expect(log).toEqual([
      "write 0 in transaction",
      "write 1 in transaction",
      "write 2 in transaction",
      "committed 0",
      "committed 1",
      "committed 2",
    ]);
    expect(settled.sort()).toEqual([
      "append after 3 commits",
      "claim after 3 commits",
      "run after 3 commits",
    ]);
    // With events in the turn the commit is fsynced; a turn of dedup claims only is not.
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    await dedup.claim([{ key: "k2", value: "01J0000000000000000000000B" }], 60_000);
    expect(db.pragma("synchronous", { simple: true })).toBe(1);
    await Promise.all([dedup.close(), store.close(), runs.close()]);
    db.close();
  });

  it("when the shared transaction fails, each store commits on its own and a bad call fails alone", async () => {
    const path = join(tempDir(), SQLITE_FILE);
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    const { commit, log } = recording(db);
    const { createSqliteStore } = await import("@evt/dedup");
    const { createSqliteEventStore } = await import("@evt/store");
    const dedup = createSqliteStore({ database: db, sharedCommit: commit, sweepIntervalMs: 0 });
    const store = createSqliteEventStore({ database: db, sharedCommit: commit });
    await Promise.all([dedup.ping(), store.ping()]);
    // An insert SQLite refuses inside the transaction (the driver's checks pass).
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON evt_events WHEN NEW.name = 'app/bad'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    const event = storedEvent;
    const claim = dedup.claim([{ key: "k2", value: "01J0000000000000000000000B" }], 60_000);
    const good = store.append([event("01J0000000000000000000000B", "app/good")]);
    const bad = store.append([event("01J0000000000000000000000C", "app/bad")]);
    const results = await Promise.allSettled([claim, good, bad]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    expect(String((results[2] as PromiseRejectedResult).reason)).toContain("refused by the test");
    // Rolled back together, then each store on its own.
    expect(log).toEqual(["write 0 in transaction", "write 1 in transaction", "alone 0", "alone 1"]);
    expect(db.prepare("SELECT internal_id FROM evt_events").pluck().all()).toEqual([
      "01J0000000000000000000000B",
    ]);
    expect(db.prepare("SELECT count(*) FROM evt_dedup").pluck().get()).toBe(1);
    await Promise.all([dedup.close(), store.close()]);
    db.close();
  });

  /** The worker's ingest on a recorded connection, and a request of it (the worker's wire args). */
  async function fileIngest(db: Database.Database, log: string[], commit: SqliteSharedCommit) {
    const { createSqliteStore } = await import("@evt/dedup");
    const { createSqliteEventStore } = await import("@evt/store");
    const dedup = createSqliteStore({ database: db, sharedCommit: commit, sweepIntervalMs: 0 });
    const store = createSqliteEventStore({ database: db, sharedCommit: commit });
    const alone = db.transaction((write: () => void) => write());
    const ingest = createFileIngest({
      dedup,
      store,
      sharedCommit: commit,
      writeAlone: (write) => {
        log.push("own transaction");
        alone.immediate(write);
      },
    });
    const now = Date.now();
    const request = (events: [string | null, string, string][]) => {
      const ids = events.map(([, , internalId]) => internalId);
      return ingest(
        events.map(([id, name]) => ({ id, name, data: {}, user: null, ts: now, v: null })),
        ids,
        "dev",
        now,
        { source: "api", sourceId: null },
        null,
        60_000,
      ).then((outcome) => toIngestReply(outcome, ids));
    };
    await request([]); // opens both stores (schemas) before the turn under test
    log.length = 0;
    return { request, close: () => Promise.all([dedup.close(), store.close()]) };
  }

  it("the claims and appends of all requests of a turn (the worker's ingest) are one transaction, answered after its commit", async () => {
    const db = new Database(join(tempDir(), SQLITE_FILE));
    db.pragma("journal_mode = WAL");
    const { commit, log } = recording(db);
    const { request, close } = await fileIngest(db, log, commit);
    const A = "01J0000000000000000000000A";
    const B = "01J0000000000000000000000B";
    const C = "01J0000000000000000000000C";
    const D = "01J0000000000000000000000D";
    const replies = await Promise.all([
      request([["a", "app/x", A]]),
      // A duplicate of the request before it in the same transaction, and a fresh event.
      request([
        ["a", "app/x", B],
        ["b", "app/x", C],
      ]),
      request([[null, "app/y", D]]),
    ]);
    expect(log).toEqual([
      "write 0 in transaction",
      "write 1 in transaction",
      "write 2 in transaction",
      "committed 0",
      "committed 1",
      "committed 2",
    ]);
    // The ids cross back only where one differs from the ids sent (B answered with A).
    expect(replies.map((r) => (r.ok ? [r.ids, r.accepted, r.duplicates] : r))).toEqual([
      [null, 1, 0],
      [[A, C], 1, 1],
      [null, 1, 0],
    ]);
    expect(replies.every((r) => r.dedupMs! >= 0 && r.storeMs! >= 0)).toBe(true);
    expect(db.prepare("SELECT internal_id FROM evt_events ORDER BY 1").pluck().all()).toEqual([
      A,
      C,
      D,
    ]);
    expect(db.prepare("SELECT count(*) FROM evt_dedup").pluck().get()).toBe(3);
    await close();
    db.close();
  });

  it("a request whose append fails in the turn's transaction fails alone, its claims rolled back with it", async () => {
    const db = new Database(join(tempDir(), SQLITE_FILE));
    db.pragma("journal_mode = WAL");
    const { commit, log } = recording(db);
    const { request, close } = await fileIngest(db, log, commit);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON evt_events WHEN NEW.name = 'app/bad'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    const A = "01J0000000000000000000000A";
    const replies = await Promise.all([
      request([["a", "app/x", A]]),
      request([["b", "app/bad", "01J0000000000000000000000B"]]),
    ]);
    expect(log).toEqual([
      "write 0 in transaction",
      "write 1 in transaction",
      "alone 0",
      "own transaction",
      "alone 1",
      "own transaction",
    ]);
    expect(replies[0]).toMatchObject({ ok: true, ids: null, accepted: 1 });
    expect(replies[1]).toMatchObject({ ok: false, stage: "append" });
    expect(JSON.stringify(replies[1])).toContain("refused by the test");
    expect(db.prepare("SELECT internal_id FROM evt_events").pluck().all()).toEqual([A]);
    // The bad request's claim is not left behind: a retry of "b" is fresh.
    expect(db.prepare("SELECT count(*) FROM evt_dedup").pluck().get()).toBe(1);
    await close();
    db.close();
  });
});

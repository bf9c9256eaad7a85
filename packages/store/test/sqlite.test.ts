import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type StoredEvent, StoreError } from "@evt/store";
import { createSqliteEventStore, createSqliteStore } from "@evt/store/sqlite";
import { runStoreConformance } from "@evt/store/testing";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "evt-store-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = join(dir, "conformance.db");
runStoreConformance("sqlite", async () => createSqliteStore({ path: file }), {
  persistent: true,
  keyOrder: true,
  nulCharacter: true,
});

runStoreConformance(
  "sqlite (synchronous NORMAL, no group commit)",
  async () =>
    createSqliteStore({ path: join(dir, "normal.db"), synchronous: "NORMAL", groupCommit: false }),
  { persistent: true, keyOrder: true, nulCharacter: true },
);

function event(n: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    internal_id: `01S${String(n).padStart(10, "0")}`,
    id: null,
    name: "t/e",
    data: { n },
    user: null,
    ts: 1_750_000_000_000 + n,
    v: null,
    env: "production",
    received_at: 1_750_000_000_000 + n,
    source: null,
    source_id: null,
    ...over,
  };
}

describe("sqlite store", () => {
  it("opens the file in WAL mode with synchronous FULL by default", async () => {
    const path = join(dir, "pragmas.db");
    const store = createSqliteEventStore({ path });
    await store.ping();
    const db = new Database(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    await store.close();
    expect(store.driver).toBe("sqlite");
  });

  it("uses a database passed in, with its own table, and never closes it", async () => {
    const db = new Database(":memory:");
    const store = createSqliteStore({ database: db, table: "my_events" });
    await store.append([event(1)]);
    expect(db.prepare("SELECT count(*) AS n FROM my_events").get()).toEqual({ n: 1 });
    await store.close();
    expect(db.open).toBe(true);
    db.close();
  });

  it("rolls back the whole append when the database fails mid-transaction", async () => {
    const db = new Database(":memory:");
    const store = createSqliteStore({ database: db });
    await store.ping(); // creates the table
    db.exec(
      `CREATE TRIGGER boom BEFORE INSERT ON evt_events WHEN NEW.name = 'boom'
       BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END`,
    );
    const error = await store.append([event(1), event(2), event(3, { name: "boom" })]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toContain("refused by test trigger");
    expect((error as StoreError).message).toMatch(/^\[evt\/store\] \[sqlite\] append/);
    expect(await store.has([event(1).internal_id, event(2).internal_id], "production")).toEqual(
      new Set(),
    );
    await store.append([event(1)]);
    expect(await store.has([event(1).internal_id], "production")).toEqual(
      new Set([event(1).internal_id]),
    );
    await store.close();
    db.close();
  });

  it("group commit: concurrent appends share a transaction, yet a failing call fails alone", async () => {
    const db = new Database(":memory:");
    const store = createSqliteStore({ database: db });
    await store.ping();
    db.exec(
      `CREATE TRIGGER boom BEFORE INSERT ON evt_events WHEN NEW.name = 'boom'
       BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END`,
    );
    const calls = [
      store.append([event(1), event(2)]),
      store.append([event(3), event(4, { name: "boom" })]),
      store.append([event(5)]),
      store.append([event(1, { data: { second: true } })]),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((r) => r.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    const reason = (settled[1] as PromiseRejectedResult).reason as StoreError;
    expect(reason).toBeInstanceOf(StoreError);
    expect(reason.message).toContain("refused by test trigger");
    const ids = [1, 2, 3, 4, 5].map((n) => event(n).internal_id);
    expect(await store.has(ids, "production")).toEqual(new Set([ids[0], ids[1], ids[4]]));
    expect((await store.get(ids[0]!, "production"))?.data).toEqual({ n: 1 });
    await store.close();
    db.close();
  });

  for (const synchronous of ["FULL", "NORMAL"] as const) {
    it(`keeps every acknowledged append when the process is killed with SIGKILL (${synchronous})`, async () => {
      const path = join(dir, `kill-${synchronous}.db`);
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          fileURLToPath(new URL("./helpers/append-then-hang.ts", import.meta.url)),
          path,
          synchronous,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          if (chunk.toString().includes("acked")) resolve();
        });
        child.on("exit", (code) => reject(new Error(`child exited early with ${code}`)));
      });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      const store = createSqliteStore({ path });
      const ids = Array.from({ length: 1000 }, (_, n) => `01K${String(n).padStart(10, "0")}`);
      expect((await store.has(ids, "production")).size).toBe(1000);
      await store.close();
    });
  }

  it("reports a lock held by another connection as retryable unavailable after timeoutMs", async () => {
    const path = join(dir, "locked.db");
    const store = createSqliteStore({ path, timeoutMs: 50 });
    await store.ping();
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const error = await store.append([event(1)]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe("unavailable");
    expect((error as StoreError).retryable).toBe(true);
    other.exec("ROLLBACK");
    other.close();
    await store.append([event(1)]);
    expect(await store.get(event(1).internal_id, "production")).toStrictEqual(event(1));
    await store.close();
  });

  it("says which file it could not open, and opens it on a later call once it can", async () => {
    const store = createSqliteStore({ path: join(dir, "missing-dir", "x.db") });
    const error = await store.ping().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toContain("missing-dir");
    mkdirSync(join(dir, "missing-dir"));
    await store.append([event(1)]);
    expect(await store.has([event(1).internal_id], "production")).toEqual(
      new Set([event(1).internal_id]),
    );
    await store.close();
  });

  it("adds the source columns to a table an older release created; its rows read back null", async () => {
    const path = join(dir, "old-schema.db");
    const old = new Database(path);
    old.exec(`CREATE TABLE evt_events (env TEXT NOT NULL, internal_id TEXT NOT NULL, id TEXT,
      name TEXT NOT NULL, data TEXT NOT NULL, "user" TEXT, ts INTEGER NOT NULL, v TEXT,
      received_at INTEGER NOT NULL, PRIMARY KEY (env, internal_id)) WITHOUT ROWID`);
    old
      .prepare(
        `INSERT INTO evt_events VALUES ('production', '01OLD', NULL, 't/old', '{}', NULL, 1, NULL, 1)`,
      )
      .run();
    old.close();
    // Two stores opening the same old file: the second finds the columns the first added.
    const store = createSqliteStore({ path });
    const again = createSqliteStore({ path });
    await Promise.all([store.ping(), again.ping()]);
    await again.close();
    expect(await store.get("01OLD", "production")).toMatchObject({
      name: "t/old",
      source: null,
      source_id: null,
    });
    const e = event(2, { source: "webhook", source_id: "wh_1" });
    await store.append([e]);
    expect(await store.get(e.internal_id, "production")).toStrictEqual(e);
    await store.close();
  });

  it("rejects bad options with a message saying what is allowed", () => {
    expect(() => createSqliteStore({})).toThrow(/exactly one of `path`/);
    expect(() => createSqliteStore({ path: "x.db", table: "drop table;" })).toThrow(
      /options.table must be a plain identifier/,
    );
    expect(() =>
      createSqliteStore({ path: "x.db", synchronous: "OFF" as unknown as "FULL" }),
    ).toThrow(/"FULL" or "NORMAL"/);
  });
});

describe("sqlite store with a shared commit (one connection, several stores)", () => {
  it("writes its appends in the coordinator's transaction and answers only after it committed", async () => {
    const database = new Database(":memory:");
    const parts: { write(): void; committed(): void; alone(): void; durable?: boolean }[] = [];
    const s = createSqliteEventStore({
      database,
      sharedCommit: { join: (part) => void parts.push(part) },
    });
    await s.ping();
    let answered = false;
    const now = Date.now();
    const append = s
      .append([
        {
          internal_id: "01J0000000000000000000000A",
          id: null,
          name: "t/e",
          data: {},
          user: null,
          ts: now,
          v: null,
          env: "production",
          received_at: now,
          source: "api" as const,
          source_id: null,
        },
      ])
      .then(() => {
        answered = true;
      });
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.durable).toBe(true); // synchronous "FULL": its commit is fsynced
    database.exec("BEGIN IMMEDIATE");
    parts[0]!.write();
    database.exec("COMMIT");
    expect(answered).toBe(false);
    parts[0]!.committed();
    await append;
    expect(answered).toBe(true);
    expect(await s.get("01J0000000000000000000000A", "production")).not.toBeNull();
    await s.close();
    database.close();
  });

  it("appendInTransaction and hasInTransaction work in the caller's transaction, rolled back with it", async () => {
    const database = new Database(":memory:");
    const s = createSqliteEventStore({ database });
    expect(() => s.appendInTransaction([event(1)])).toThrow(/not open yet/);
    await s.append([]);
    const ids = [event(1).internal_id, event(2).internal_id];
    const tx = database.transaction((n: number) => {
      s.appendInTransaction([event(n)]);
      const seen = s.hasInTransaction(ids, "production");
      if (n === 2) throw new Error("the caller's claim failed");
      return seen;
    });
    expect(tx.immediate(1)).toEqual(new Set([ids[0]]));
    expect(() => tx.immediate(2)).toThrow(/claim failed/);
    expect(await s.has(ids, "production")).toEqual(new Set([ids[0]]));
    expect(() => s.appendInTransaction([event(3, { internal_id: "" })])).toThrow(StoreError);
    await s.close();
    expect(() => s.appendInTransaction([event(4)])).toThrow(/closed/);
    database.close();
  });

  it("refuses sharedCommit without a database, naming the option", () => {
    expect(() =>
      createSqliteEventStore({ path: join(dir, "x.db"), sharedCommit: { join() {} } }),
    ).toThrow(/options.sharedCommit needs options.database/);
  });
});

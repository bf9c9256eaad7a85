import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSqliteStore, DedupError } from "@evt/dedup";
import { runDedupConformance } from "@evt/dedup/testing";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "evt-dedup-sqlite-"));
const file = join(dir, "dedup.db");
const DAY = 86_400_000;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runDedupConformance("sqlite", async () => createSqliteStore({ path: file }));

describe("sqlite store", () => {
  it("opens the file in WAL mode", async () => {
    const s = createSqliteStore({ path: join(dir, "pragmas.db") });
    await s.ping();
    const db = new Database(join(dir, "pragmas.db"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    await s.close();
  });

  it("names the file when it is not a SQLite database, and does not call it retryable", async () => {
    const path = join(dir, "not-a-database.db");
    writeFileSync(path, "plain text, not SQLite ".repeat(300));
    const s = createSqliteStore({ path });
    const err = await s.claim([{ key: "k", value: "v" }], DAY).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DedupError);
    expect(err).toMatchObject({ retryable: false });
    expect((err as Error).message).toContain(`opening ${path}: file is not a database`);
    await s.close();
  });

  it("remembers claims across a restart", async () => {
    const path = join(dir, "restart.db");
    const a = createSqliteStore({ path });
    await a.claim([{ key: "env\u0000order-9", value: "first" }], DAY);
    await a.close();
    const b = createSqliteStore({ path });
    expect(await b.claim([{ key: "env\u0000order-9", value: "x" }], DAY)).toEqual([
      { fresh: false, value: "first" },
    ]);
    await b.close();
  });

  it("sweeps expired rows in small batches and keeps live ones", async () => {
    const path = join(dir, "sweep.db");
    const s = createSqliteStore({ path, sweepBatch: 7, sweepIntervalMs: 0 });
    await s.claim(
      Array.from({ length: 30 }, (_, i) => ({ key: `old${i}`, value: "v" })),
      20,
    );
    await s.claim([{ key: "live", value: "v" }], DAY);
    await new Promise((r) => setTimeout(r, 100));
    expect(await s.sweep()).toBe(30);
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM evt_dedup").get()).toEqual({ n: 1 });
    db.close();
    await s.close();
  });

  it("a call that fails inside a group commit fails alone; the others are committed", async () => {
    const database = new Database(":memory:");
    const s = createSqliteStore({ database, table: "dedup_group" });
    await s.claim([{ key: "warm-up", value: "w" }], DAY); // creates the table
    // Make exactly one call of the group fail inside the shared transaction.
    database.exec(
      `CREATE TRIGGER boom BEFORE INSERT ON dedup_group WHEN NEW.value = 'boom'
       BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`,
    );
    // Claims made in one event-loop turn are committed as one group.
    const [a, b, c] = await Promise.allSettled([
      s.claim([{ key: "a", value: "1" }], DAY),
      s.claim([{ key: "b", value: "boom" }], DAY),
      s.claim([{ key: "c", value: "3" }], DAY),
    ]);
    expect(a).toEqual({ status: "fulfilled", value: [{ fresh: true }] });
    expect(b.status).toBe("rejected");
    expect(c).toEqual({ status: "fulfilled", value: [{ fresh: true }] });
    database.exec("DROP TRIGGER boom");
    // The survivors are stored; the failed call left nothing behind.
    expect(
      await s.claim(
        [
          { key: "a", value: "x" },
          { key: "b", value: "x" },
          { key: "c", value: "x" },
        ],
        DAY,
      ),
    ).toEqual([{ fresh: false, value: "1" }, { fresh: true }, { fresh: false, value: "3" }]);
    await s.close();
    database.close();
  });

  it("uses a given database and leaves it open on close", async () => {
    const database = new Database(":memory:");
    const s = createSqliteStore({ database, table: "dedup_keys", namespace: "acme" });
    expect(await s.claim([{ key: "k", value: "v" }], DAY)).toEqual([{ fresh: true }]);
    await s.close();
    expect(database.prepare("SELECT namespace, value FROM dedup_keys").get()).toEqual({
      namespace: "acme",
      value: "v",
    });
    database.close();
  });

  it("rejects with a retryable DedupError while another process holds the write lock", async () => {
    const path = join(dir, "busy.db");
    const s = createSqliteStore({ path, timeoutMs: 50 });
    await s.ping();
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    try {
      const err = await s.claim([{ key: "k", value: "v" }], DAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect(err).toMatchObject({ code: "unavailable", retryable: true, driver: "sqlite" });
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(await s.claim([{ key: "k", value: "v" }], DAY)).toEqual([{ fresh: true }]);
    await s.close();
  });

  it("lets exactly one of 8 processes on one file win each of 10,000 keys", async () => {
    const path = join(dir, "procs.db");
    const script = fileURLToPath(new URL("./helpers/sqlite-claimer.ts", import.meta.url));
    const n = 10_000;
    const children = Array.from({ length: 8 }, (_, w) =>
      spawn(
        process.execPath,
        ["--import", "tsx", script, path, "evt_dedup", String(w), String(n)],
        {
          stdio: ["pipe", "pipe", "inherit"],
        },
      ),
    );
    const outputs = children.map(
      (child) =>
        new Promise<Record<string, string>>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
          });
          child.on("error", reject);
          child.on("exit", (code) =>
            code === 0
              ? resolve(JSON.parse(out))
              : reject(new Error(`claimer exited with ${code}`)),
          );
        }),
    );
    // give every child time to open the file, then release them together
    await new Promise((r) => setTimeout(r, 1500));
    for (const c of children) c.stdin.end("go\n");
    const results = await Promise.all(outputs);
    const problems: string[] = [];
    let fresh = 0;
    for (let i = 0; i < n; i++) {
      const winners = results.flatMap((r, w) => (r[`k${i}`] === "" ? [w] : []));
      fresh += winners.length;
      if (winners.length !== 1) problems.push(`k${i}: ${winners.length} winners`);
      for (const r of results) {
        const v = r[`k${i}`];
        if (v !== "" && v !== `w${winners[0]}`) problems.push(`k${i}: duplicate carries ${v}`);
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    expect(fresh).toBe(n);
  }, 60_000);
});

describe("sqlite store with a shared commit (one connection, several stores)", () => {
  it("writes its claims in the coordinator's transaction and answers only after it committed", async () => {
    const database = new Database(":memory:");
    const parts: { write(): void; committed(): void; alone(): void; durable?: boolean }[] = [];
    const s = createSqliteStore({
      database,
      sharedCommit: { join: (part) => void parts.push(part) },
      sweepIntervalMs: 0,
    });
    await s.ping();
    let answered = false;
    const claim = s.claim([{ key: "a", value: "v1" }], 60_000).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.durable).toBe(false); // synchronous "normal": no fsync needed
    database.exec("BEGIN IMMEDIATE");
    parts[0]!.write();
    database.exec("COMMIT");
    expect(answered).toBe(false);
    parts[0]!.committed();
    expect(await claim).toEqual([{ fresh: true }]);
    expect(database.prepare("SELECT value FROM evt_dedup").pluck().all()).toEqual(["v1"]);
    await s.close();
    database.close();
  });

  it("claimInTransaction claims in the caller's transaction, rolled back with it, and refuses before open", async () => {
    const database = new Database(":memory:");
    const s = createSqliteStore({ database, sweepIntervalMs: 0 });
    expect(() => s.claimInTransaction([{ key: "a", value: "v1" }], 60_000)).toThrow(/not open yet/);
    await s.ping();
    const claim = database.transaction(() =>
      s.claimInTransaction(
        [
          { key: "a", value: "v1" },
          { key: "a", value: "v2" },
        ],
        60_000,
      ),
    );
    expect(claim.immediate()).toEqual([{ fresh: true }, { fresh: false, value: "v1" }]);
    const rolledBack = database.transaction(() => {
      expect(s.claimInTransaction([{ key: "b", value: "v3" }], 60_000)).toEqual([{ fresh: true }]);
      throw new Error("the caller's append failed");
    });
    expect(() => rolledBack.immediate()).toThrow(/append failed/);
    expect(database.prepare("SELECT key FROM evt_dedup").pluck().all().map(String)).toEqual(["a"]);
    expect(() => s.claimInTransaction([{ key: "", value: "v" }], 60_000)).toThrow();
    await s.close();
    expect(() => s.claimInTransaction([{ key: "c", value: "v" }], 60_000)).toThrow(/closed/);
    database.close();
  });

  it("refuses sharedCommit without a database, naming the option", () => {
    expect(() =>
      createSqliteStore({ path: join(dir, "x.db"), sharedCommit: { join() {} } }),
    ).toThrow(/options.sharedCommit needs options.database/);
  });
});

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FunctionsError } from "@evt/functions";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "evt-functions-sqlite-driver-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T0 = 1_750_000_000_000;

/** Start a claim-loop child; resolves once it has opened the file. */
function claimer(path: string, owner: string) {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("./helpers/claim-loop.ts", import.meta.url)),
      path,
      owner,
      String(T0 + 1),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let out = "";
  const lines: Array<() => void> = [];
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const wake of lines.splice(0)) wake();
  });
  const nextLine = (index: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const got = out.split("\n");
        if (got.length > index + 1) resolve(got[index]!);
        else lines.push(check);
      };
      child.once("exit", (code) =>
        reject(new Error(`claimer ${owner} exited with ${code}: ${out}`)),
      );
      check();
    });
  return { child, ready: nextLine(0), result: nextLine(1) };
}

describe("sqlite run store", () => {
  it("two processes claiming from one file never get the same run", async () => {
    const path = join(dir, "race.db");
    const store = createSqliteRunStore({ path });
    const total = 400;
    for (let i = 0; i < total; i++) {
      await store.createRun({
        functionId: "app-fn",
        eventInternalId: `01RACE${String(i).padStart(10, "0")}`,
        env: "test",
        dueAt: T0,
        now: T0,
      });
    }
    const a = claimer(path, "proc-a");
    const b = claimer(path, "proc-b");
    await Promise.all([a.ready, b.ready]);
    a.child.stdin.write("go\n");
    b.child.stdin.write("go\n");
    const [gotA, gotB] = (await Promise.all([a.result, b.result])).map(
      (line) => JSON.parse(line) as string[],
    );
    const all = [...gotA!, ...gotB!];
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    for (const id of gotA!.slice(0, 20)) {
      expect((await store.getRun(id))?.leaseOwner).toBe("proc-a");
    }
    await store.close();
  });

  it("opens the file in WAL mode with synchronous FULL, and finds due runs through the due index", async () => {
    const path = join(dir, "pragmas.db");
    const store = createSqliteRunStore({ path });
    await store.nextDueAt();
    const db = new Database(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(T0, 10) as { detail: string }[])
        .map((r) => r.detail)
        .join("; ");
    expect(
      plan(`SELECT run_id FROM evt_fn_runs WHERE status IN ('queued', 'running') AND due_at <= ?
        ORDER BY due_at, run_id LIMIT ?`),
    ).toMatch(/USING (COVERING )?INDEX evt_fn_runs_due/);
    db.close();
    await store.close();
  });

  it("uses a database passed in, with its own table prefix, and never closes it", async () => {
    const db = new Database(":memory:");
    const store = createSqliteRunStore({ database: db, tablePrefix: "my_" });
    await store.createRun({ functionId: "f", eventInternalId: "e1", env: "t", dueAt: T0 });
    expect(db.prepare("SELECT count(*) AS n FROM my_runs").get()).toEqual({ n: 1 });
    await store.close();
    expect(db.open).toBe(true);
    db.close();
  });

  it("refuses bad options with what is allowed", () => {
    const make = (options: unknown) => () => createSqliteRunStore(options as never);
    expect(make(null)).toThrow(/options must be an object/);
    expect(make({})).toThrow(/give exactly one of `path`/);
    expect(make({ path: "x.db", tablePrefix: 'x"; DROP TABLE y; --' })).toThrow(
      /options\.tablePrefix must be a plain identifier/,
    );
    expect(make({ path: "x.db", timeoutMs: 0 })).toThrow(FunctionsError);
  });

  it("reports a lock held by another connection as retryable unavailable, storing nothing", async () => {
    const path = join(dir, "locked.db");
    const store = createSqliteRunStore({ path, timeoutMs: 50 });
    await store.nextDueAt();
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const error = await store
      .createRun({ functionId: "f", eventInternalId: "e1", env: "t", dueAt: T0 })
      .then(
        () => null,
        (e: unknown) => e,
      );
    other.exec("ROLLBACK");
    other.close();
    expect(error).toBeInstanceOf(FunctionsError);
    expect((error as FunctionsError).code).toBe("unavailable");
    expect((error as FunctionsError).retryable).toBe(true);
    expect(await store.listRunsForEvent("e1")).toEqual([]);
    await store.close();
  });
});

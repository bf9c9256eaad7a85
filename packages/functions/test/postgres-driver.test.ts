import { createServer } from "node:net";
import { FunctionsError } from "@evt/functions";
import { createPostgresRunStore, type PostgresRunStore } from "@evt/functions/postgres";
import { runRunStoreConformance } from "@evt/functions/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";

const url = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const T0 = 1_750_000_000_000;
const run = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const prefixes: string[] = [];
const admin = new pg.Pool({ connectionString: url, max: 2 });

/** A fresh table prefix of this test run, dropped afterwards. */
function newPrefix(): string {
  const prefix = `evt_fnt_${run}_${prefixes.length}_`;
  prefixes.push(prefix);
  return prefix;
}

afterAll(async () => {
  for (const p of prefixes) {
    for (const t of [
      "apps",
      "functions",
      "runs",
      "steps",
      "waits",
      "run_slots",
      "fn_concurrency",
      "batch_events",
      "open_batches",
    ]) {
      await admin.query(`DROP TABLE IF EXISTS "${p}${t}"`);
    }
  }
  await admin.end();
});

const byKey = new Map<string, string>();
runRunStoreConformance(
  "postgres",
  (key) => {
    let prefix = byKey.get(key);
    if (!prefix) {
      prefix = newPrefix();
      byKey.set(key, prefix);
    }
    return createPostgresRunStore({ connectionString: url, tablePrefix: prefix, max: 4 });
  },
  { sharedData: true },
);

async function failure(promise: Promise<unknown>): Promise<FunctionsError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FunctionsError);
  return error as FunctionsError;
}

async function seed(store: PostgresRunStore, total: number): Promise<void> {
  for (let i = 0; i < total; i++) {
    await store.createRun({
      functionId: "app-fn",
      eventInternalId: `01RACE${String(i).padStart(10, "0")}`,
      env: "test",
      dueAt: T0,
      now: T0,
    });
  }
}

describe("postgres run store", () => {
  it("two pools claiming 400 runs at once never claim one twice", async () => {
    const tablePrefix = newPrefix();
    const a = createPostgresRunStore({ connectionString: url, tablePrefix, max: 4 });
    const b = createPostgresRunStore({ connectionString: url, tablePrefix, max: 4 });
    const total = 400;
    await seed(a, total);
    await b.nextDueAt(); // both pools connected before the race
    const got: Record<string, string[]> = { a: [], b: [] };
    const claimer = async (store: PostgresRunStore, owner: "a" | "b") => {
      for (;;) {
        const runs = await store.claimDue(T0 + 1, owner, 60_000, 5);
        if (runs.length === 0) return;
        for (const r of runs) got[owner]!.push(r.runId);
      }
    };
    await Promise.all([
      ...Array.from({ length: 4 }, () => claimer(a, "a")),
      ...Array.from({ length: 4 }, () => claimer(b, "b")),
    ]);
    const all = [...got.a!, ...got.b!];
    expect(new Set(all).size).toBe(all.length); // no run claimed twice
    expect(all).toHaveLength(total);
    const { rows } = await admin.query(
      `SELECT lease_owner, count(*)::int AS n FROM "${tablePrefix}runs" GROUP BY lease_owner ORDER BY 1`,
    );
    expect(rows).toEqual([
      { lease_owner: "a", n: got.a!.length },
      { lease_owner: "b", n: got.b!.length },
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it("skips a run another transaction has locked instead of waiting for it", async () => {
    const tablePrefix = newPrefix();
    const store = createPostgresRunStore({ connectionString: url, tablePrefix, timeoutMs: 1_000 });
    await seed(store, 3);
    const [first] = (await store.claimDue(T0, "peek", 1, 1)).map((r) => r.runId);
    // `first` is due again at T0 + 1 (lease of 1 ms ran out); hold its row lock elsewhere.
    const locker = await admin.connect();
    await locker.query("BEGIN");
    await locker.query(`SELECT 1 FROM "${tablePrefix}runs" WHERE run_id = $1 FOR UPDATE`, [first]);
    try {
      const claimed = await store.claimDue(T0 + 10, "w", 60_000, 10);
      expect(claimed).toHaveLength(2);
      expect(claimed.map((r) => r.runId)).not.toContain(first);
    } finally {
      await locker.query("ROLLBACK");
      locker.release();
    }
    expect((await store.claimDue(T0 + 10, "w", 60_000, 10)).map((r) => r.runId)).toEqual([first]);
    await store.close();
  });

  it("creates the schema once when several stores start together, with the partial due index", async () => {
    const tablePrefix = newPrefix();
    const stores = Array.from({ length: 5 }, () =>
      createPostgresRunStore({ connectionString: url, tablePrefix, max: 1 }),
    );
    await Promise.all(stores.map((s) => s.nextDueAt()));
    const { rows } = await admin.query(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
      [`${tablePrefix}runs`],
    );
    expect(rows.map((r) => r.indexname)).toEqual(
      [
        `${tablePrefix}runs_due`,
        `${tablePrefix}runs_event`,
        `${tablePrefix}runs_failed`,
        `${tablePrefix}runs_key`,
        `${tablePrefix}runs_pkey`,
      ].sort(),
    );
    const due = rows.find((r) => r.indexname === `${tablePrefix}runs_due`)!.indexdef as string;
    expect(due).toMatch(/\(due_at, run_id\) WHERE \(status = ANY/);
    // The claim's lookup goes through that index (seq scans off: the table is tiny).
    const client = await admin.connect();
    try {
      await client.query("SET enable_seqscan = off");
      const plan = await client.query(
        `EXPLAIN SELECT run_id FROM "${tablePrefix}runs" WHERE status IN ('queued', 'running')
          AND due_at <= $1 ORDER BY due_at, run_id LIMIT 10`,
        [T0],
      );
      expect(plan.rows.map((r) => r["QUERY PLAN"]).join("\n")).toContain(`${tablePrefix}runs_due`);
    } finally {
      client.release();
    }
    await Promise.all(stores.map((s) => s.close()));
  });

  it("with autoMigrate off creates nothing until migrate(), which is idempotent", async () => {
    const tablePrefix = newPrefix();
    const store = createPostgresRunStore({
      connectionString: url,
      tablePrefix,
      autoMigrate: false,
    });
    const error = await failure(store.nextDueAt());
    expect(error.code).toBe("failed");
    expect(error.message).toContain(`${tablePrefix}runs`);
    await store.migrate();
    await store.migrate();
    expect(await store.nextDueAt()).toBeNull();
    await store.close();
  });

  it("uses a pool passed in and never ends it", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const tablePrefix = newPrefix();
    const store = createPostgresRunStore({ pool, tablePrefix });
    await store.createRun({ functionId: "f", eventInternalId: "e1", env: "t", dueAt: T0 });
    await store.close();
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${tablePrefix}runs"`);
    expect(rows[0].n).toBe(1);
    await pool.end();
  });

  it("refuses bad options with what is allowed", () => {
    const make = (options: unknown) => () => createPostgresRunStore(options as never);
    expect(make(null)).toThrow(/options must be an object/);
    expect(make({})).toThrow(/give exactly one of `connectionString`/);
    expect(make({ connectionString: url, pool: {} })).toThrow(/give exactly one/);
    expect(make({ connectionString: url, tablePrefix: 'x"; DROP TABLE y; --' })).toThrow(
      /options\.tablePrefix must be a plain identifier/,
    );
    expect(make({ connectionString: url, tablePrefix: "x".repeat(41) })).toThrow(
      /at most 40 characters/,
    );
    expect(make({ connectionString: url, timeoutMs: 0 })).toThrow(/options\.timeoutMs/);
    expect(make({ connectionString: url, max: 1.5 })).toThrow(/options\.max/);
  });

  it("answers unavailable (retryable) when nothing listens, without echoing the password", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const store = createPostgresRunStore({
      connectionString: `postgres://postgres:s3cret-pw@127.0.0.1:${port}/evt_test`,
      tablePrefix: newPrefix(),
      timeoutMs: 500,
    });
    for (const attempt of [
      store.nextDueAt(),
      store.claimDue(T0, "w", 1_000, 10),
      store.createRun({ functionId: "f", eventInternalId: "e1", env: "t", dueAt: T0 }),
    ]) {
      const error = await failure(attempt);
      expect(error.code).toBe("unavailable");
      expect(error.retryable).toBe(true);
      expect(error.message).toMatch(/^\[evt\/functions\] \[postgres\] /);
      expect(error.message).not.toContain("s3cret-pw");
    }
    await store.close();
  });

  it("keeps a step id given twice in one call once, with the last data", async () => {
    const store = createPostgresRunStore({ connectionString: url, tablePrefix: newPrefix() });
    const { run: created } = await store.createRun({
      functionId: "f",
      eventInternalId: "e1",
      env: "t",
      dueAt: T0,
    });
    await store.claimDue(T0, "w", 60_000, 1);
    const step = { op: "StepRun", error: null, attempts: 1 };
    expect(
      await store.saveSteps(created.runId, "w", [
        { ...step, stepId: "a", data: 1 },
        { ...step, stepId: "b", data: 2 },
        { ...step, stepId: "a", data: 3 },
      ]),
    ).toBe(true);
    expect((await store.listSteps(created.runId)).map((s) => [s.stepId, s.data])).toEqual([
      ["a", 3],
      ["b", 2],
    ]);
    await store.close();
  });
});

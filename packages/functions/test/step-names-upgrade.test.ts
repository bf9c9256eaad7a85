import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunStore } from "@evt/functions";
import { createPostgresRunStore } from "@evt/functions/postgres";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";

// The steps and waits tables as the first releases made them, without `name` / `started_at`.
const oldTables = (p: string, quoteType: (sqlite: string, pg: string) => string) => [
  `CREATE TABLE "${p}steps" (
    run_id text NOT NULL, step_id text NOT NULL, position integer NOT NULL, op text NOT NULL,
    data text, error text, attempts integer NOT NULL, updated_at ${quoteType("INTEGER", "bigint")} NOT NULL,
    PRIMARY KEY (run_id, step_id))`,
  `CREATE TABLE "${p}waits" (
    seq ${quoteType("INTEGER PRIMARY KEY AUTOINCREMENT", "bigserial PRIMARY KEY")},
    run_id text NOT NULL, step_id text NOT NULL, env text NOT NULL, kind text NOT NULL,
    event text NOT NULL, expression text, created_at ${quoteType("INTEGER", "bigint")} NOT NULL,
    expires_at ${quoteType("INTEGER", "bigint")} NOT NULL, UNIQUE (run_id, step_id))`,
];

const T0 = 1_750_000_000_000;

/** A store opened on the old tables keeps step and wait names. */
async function keepsNames(store: RunStore): Promise<void> {
  const { run } = await store.createRun({
    functionId: "app-fn",
    eventInternalId: "01UPGRADE0000000000000000E1",
    env: "test",
    dueAt: T0,
    now: T0,
  });
  await store.claimDue(T0, "w", 60_000, 1);
  expect(
    await store.saveSteps(run.runId, "w", [
      {
        stepId: "h1",
        op: "StepRun",
        data: 1,
        error: null,
        attempts: 1,
        name: "before",
        startedAt: T0 + 1,
      },
    ]),
  ).toBe(true);
  expect(
    await store.waitRun(run.runId, "w", {
      waits: [
        {
          stepId: "h2",
          kind: "event",
          event: "app/ok",
          expression: null,
          expiresAt: T0 + 9,
          name: "wait",
        },
      ],
      now: T0 + 2,
      stepsSeen: 1,
    }),
  ).toBe(true);
  await store.resolveWait(run.runId, "h2", { op: "WaitForEvent", data: null, error: null }, T0 + 3);
  const steps = await store.listSteps(run.runId);
  expect(steps.map((s) => [s.stepId, s.name, s.startedAt])).toEqual([
    ["h1", "before", T0 + 1],
    ["h2", "wait", T0 + 2],
  ]);
}

describe("step names on tables made before them", () => {
  const dir = mkdtempSync(join(tmpdir(), "evt-step-names-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("SQLite: an existing data dir gets the columns at open (twice is fine), old steps read as unnamed", async () => {
    const path = join(dir, "old.db");
    const db = new Database(path);
    for (const text of oldTables("evt_fn_", (s) => s)) db.exec(text);
    db.prepare(
      `INSERT INTO evt_fn_steps VALUES ('01JZZZZZZZZZZZZZZZZZZZZZR0', 'old', 0, 'StepRun', '1', 'null', 1, 5)`,
    ).run();
    db.close();
    const first = await createSqliteRunStore({ path });
    expect(await first.listSteps("01JZZZZZZZZZZZZZZZZZZZZZR0")).toMatchObject([
      { stepId: "old", name: null, startedAt: null, updatedAt: 5 },
    ]);
    await first.close();
    const store = await createSqliteRunStore({ path });
    try {
      await keepsNames(store);
    } finally {
      await store.close();
    }
  });

  it("PostgreSQL: existing tables get the columns (ADD COLUMN IF NOT EXISTS)", async () => {
    const url = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
    const prefix = `evt_fnu_${process.pid}_${Math.random().toString(36).slice(2, 8)}_`;
    const admin = new pg.Pool({ connectionString: url, max: 1 });
    try {
      for (const text of oldTables(prefix, (_s, p) => p)) await admin.query(text);
      for (const pass of [1, 2]) {
        const store = createPostgresRunStore({
          connectionString: url,
          tablePrefix: prefix,
          max: 2,
        });
        try {
          if (pass === 1) expect(await store.listSteps("01JZZZZZZZZZZZZZZZZZZZZZR0")).toEqual([]);
          else await keepsNames(store);
        } finally {
          await store.close();
        }
      }
    } finally {
      for (const t of [
        "apps",
        "functions",
        "runs",
        "steps",
        "waits",
        "run_slots",
        "fn_concurrency",
        "cron_ticks",
        "batch_events",
        "open_batches",
      ])
        await admin.query(`DROP TABLE IF EXISTS "${prefix}${t}"`);
      await admin.end();
    }
  });
});

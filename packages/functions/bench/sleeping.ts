// bench:sleeping — 100,000 runs sleeping at once (step.sleep), per run store driver: what it
// takes to hold them (store size, this process's memory) and what they cost the executor's
// loop while they sleep: a look for due work (claimDue) with none due and with 100 due among
// them, nextDueAt (the one timer), countActive (the queue-depth metric).
// Run: sh scripts/pnpm.sh --filter @evt/functions bench:sleeping
// EVT_BENCH_DRIVERS=sqlite,postgres (default both), EVT_BENCH_SLEEPING (100000),
// EVT_TEST_POSTGRES_URL for postgres.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createPostgresRunStore } from "../src/drivers/postgres";
import { createSqliteRunStore } from "../src/drivers/sqlite";
import type { RunStore } from "../src/index";

const SLEEPING = Number(process.env.EVT_BENCH_SLEEPING ?? 100_000);
const DUE = 100;
const LOOKS = 200;
const PG_URL = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const drivers = (process.env.EVT_BENCH_DRIVERS ?? "sqlite,postgres").split(",");

const gc = (globalThis as { gc?: () => void }).gc;
function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

async function timeEach(times: number, fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < times; i++) await fn();
  return ((performance.now() - t0) / times) * 1000;
}

async function bench(name: string, runs: RunStore, size: () => Promise<string>): Promise<void> {
  const heapBefore = heapMb();
  const now = Date.now();
  const t0 = performance.now();
  // Create, claim and put to sleep, 1,000 at a time (as runs that reached step.sleep("1h")).
  for (let i = 0; i < SLEEPING; i += 1_000) {
    const batch = Math.min(1_000, SLEEPING - i);
    await Promise.all(
      Array.from({ length: batch }, (_, j) =>
        runs.createRun({
          functionId: "bench-sleeper",
          eventInternalId: `01JS${String(i + j).padStart(22, "0")}`,
          env: "production",
          dueAt: now,
          now,
        }),
      ),
    );
    const claimed = await runs.claimDue(now, "bench", 600_000, 1_000);
    await Promise.all(
      claimed.map((r) =>
        runs.release(r.runId, "bench", {
          status: "queued",
          now,
          // Spread over the next hour, as real sleeps are.
          dueAt: now + 3_600_000 + ((i + Math.floor(Math.random() * 1000)) % 3_600_000),
          attempt: 0,
        }),
      ),
    );
  }
  const fillS = (performance.now() - t0) / 1000;
  const heapAfter = heapMb();
  const lookUs = await timeEach(LOOKS, () => runs.claimDue(Date.now(), "bench", 30_000, 128));
  const nextUs = await timeEach(LOOKS, () => runs.nextDueAt());
  const countUs = await timeEach(20, () => runs.countActive(Date.now()));
  // 100 more runs due now among the sleepers: one look claims them all.
  for (let i = 0; i < DUE; i++) {
    await runs.createRun({
      functionId: "bench-due",
      eventInternalId: `01JD${String(i).padStart(22, "0")}`,
      env: "production",
      dueAt: Date.now(),
    });
  }
  const t1 = performance.now();
  const got = await runs.claimDue(Date.now(), "bench", 30_000, 128);
  const claimDueMs = performance.now() - t1;
  if (got.length !== DUE) throw new Error(`claimed ${got.length} of ${DUE}`);
  const counts = await runs.countActive(Date.now());
  console.log(
    `| ${name} | ${SLEEPING.toLocaleString("en")} (${counts.queued.toLocaleString("en")} queued) | ${fillS.toFixed(1)} s | ${await size()} | ${(heapAfter - heapBefore).toFixed(1)} MiB | ${lookUs.toFixed(0)} µs | ${claimDueMs.toFixed(1)} ms | ${nextUs.toFixed(0)} µs | ${(countUs / 1000).toFixed(1)} ms |`,
  );
}

console.log(`bench:sleeping, node ${process.version}, ${SLEEPING} sleeping runs`);
console.log(
  "| driver | sleeping runs | create and sleep them | store size | this process's heap growth | a look, none due | a look claiming 100 due | nextDueAt | countActive |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const d of drivers) {
  if (d === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "evt-bench-sleep-"));
    const path = join(dir, "runs.sqlite");
    const runs = createSqliteRunStore({ path });
    try {
      await bench("sqlite", runs, async () => {
        let bytes = 0;
        for (const f of [path, `${path}-wal`]) {
          try {
            bytes += statSync(f).size;
          } catch {}
        }
        return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
      });
    } finally {
      await runs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  } else if (d === "postgres") {
    const prefix = `evt_bs_${process.pid}_`;
    // A bulk fill queues 1,000 statements at once: give them time to get a connection.
    const runs = createPostgresRunStore({
      connectionString: PG_URL,
      tablePrefix: prefix,
      timeoutMs: 60_000,
      max: 20,
    });
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await bench("postgres", runs, async () => {
        const r = await admin.query(`SELECT pg_total_relation_size($1) AS n`, [`"${prefix}runs"`]);
        return `${(Number(r.rows[0].n) / 2 ** 20).toFixed(0)} MiB (runs table)`;
      });
    } finally {
      await runs.close();
      const tables = await admin.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [
        `${prefix}%`,
      ]);
      for (const t of tables.rows)
        await admin.query(`DROP TABLE IF EXISTS "${t.tablename}" CASCADE`);
      await admin.end();
    }
  }
}

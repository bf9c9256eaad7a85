// bench:waits — 10,000 runs waiting at once (step.waitForEvent), per run store driver: the
// memory the wait index holds, and the cost per ingested event of matching waits, with and
// without a match (store round trips included: the cursor read before each match, and the
// resolve transaction of a match). Run: sh scripts/pnpm.sh --filter @evt/functions bench:waits
// EVT_BENCH_DRIVERS=memory,sqlite,postgres (default all), EVT_TEST_POSTGRES_URL for postgres.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StoredEvent } from "@evt/schema";
import pg from "pg";
import { createMemoryRunStore } from "../src/drivers/memory";
import { createPostgresRunStore } from "../src/drivers/postgres";
import { createSqliteRunStore } from "../src/drivers/sqlite";
import { createWaitMatcher, type RunStore } from "../src/index";

const WAITING = Number(process.env.EVT_BENCH_WAITS ?? 10_000);
const MISSES = 2_000;
const HITS = 1_000;
const PG_URL = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const drivers = (process.env.EVT_BENCH_DRIVERS ?? "memory,sqlite,postgres").split(",");

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

let n = 0;
function event(name: string, data: Record<string, unknown>): StoredEvent {
  n++;
  const now = Date.now();
  return {
    internal_id: `01JB${String(n).padStart(22, "0")}`,
    id: `b${n}`,
    name,
    data,
    user: null,
    ts: now,
    v: null,
    received_at: now,
    env: "production",
  } as unknown as StoredEvent;
}

async function fill(runs: RunStore): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < WAITING; i += 500) {
    const made = await Promise.all(
      Array.from({ length: Math.min(500, WAITING - i) }, (_, j) =>
        runs.createRun({
          functionId: "bench-waiter",
          eventInternalId: `01JR${String(i + j).padStart(22, "0")}`,
          env: "production",
          dueAt: now,
          now,
        }),
      ),
    );
    ids.push(...made.map((m) => m.run.runId));
  }
  for (;;) {
    const got = await runs.claimDue(Date.now(), "bench", 600_000, 1000);
    if (got.length === 0) break;
  }
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map((runId, j) =>
        runs.waitRun(runId, "bench", {
          waits: [
            {
              stepId: "wait",
              kind: "event",
              event: "bench/paid",
              expression: `async.data.id == "u${i + j}"`,
              expiresAt: now + 3_600_000,
            },
          ],
          now,
          stepsSeen: 0,
        }),
      ),
    );
  }
  return performance.now() - t0;
}

async function bench(name: string, open: () => Promise<{ runs: RunStore; done(): Promise<void> }>) {
  const { runs, done } = await open();
  try {
    const recordMs = await fill(runs);
    const before = heap();
    const matcher = createWaitMatcher({ runs });
    const t0 = performance.now();
    await matcher.sync();
    const loadMs = performance.now() - t0;
    const indexBytes = heap() - before;
    // Without a match: same event name, a value no wait has (the index answers, no CEL).
    let t = performance.now();
    for (let i = 0; i < MISSES; i++)
      await matcher.match("production", [event("bench/paid", { id: `nobody${i}` })]);
    const missUs = ((performance.now() - t) / MISSES) * 1000;
    t = performance.now();
    for (let i = 0; i < MISSES; i++)
      await matcher.match("production", [event("bench/other", { id: "u1" })]);
    const otherUs = ((performance.now() - t) / MISSES) * 1000;
    // With a match: each event resumes one distinct run (a resolve transaction each).
    t = performance.now();
    let resolved = 0;
    for (let i = 0; i < HITS; i++)
      resolved += await matcher.match("production", [
        event("bench/paid", { id: `u${(i * 7) % WAITING}` }),
      ]);
    const hitUs = ((performance.now() - t) / HITS) * 1000;
    if (resolved !== HITS) throw new Error(`resolved ${resolved} of ${HITS}`);
    const st = matcher.stats();
    console.log(
      `| ${name} | ${WAITING.toLocaleString("en")} | ${(recordMs / 1000).toFixed(1)} s | ${loadMs.toFixed(0)} ms | ${(indexBytes / 1024 / 1024).toFixed(1)} MiB (${Math.round(indexBytes / WAITING)} B/wait) | ${missUs.toFixed(0)} µs | ${otherUs.toFixed(0)} µs | ${hitUs.toFixed(0)} µs | ${st.evaluations} |`,
    );
  } finally {
    await done();
  }
}

console.log(
  `bench:waits, node ${process.version}, ${WAITING} waiting runs, ${MISSES} events without a match, ${HITS} with one`,
);
console.log(
  "| driver | waiting runs | record the waits | load into the index | index heap | event, no match | event, other name | event, match (resolve) | CEL evaluations |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const d of drivers) {
  if (d === "memory") {
    await bench("memory", async () => ({ runs: createMemoryRunStore(), done: async () => {} }));
  } else if (d === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "evt-bench-waits-"));
    await bench("sqlite", async () => {
      const runs = createSqliteRunStore({ path: join(dir, "runs.sqlite") });
      return {
        runs,
        done: async () => {
          await runs.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    });
  } else if (d === "postgres") {
    const prefix = `evt_bw_${process.pid}_`;
    await bench("postgres", async () => {
      const runs = createPostgresRunStore({ connectionString: PG_URL, tablePrefix: prefix });
      return {
        runs,
        done: async () => {
          await runs.close();
          const admin = new pg.Client({ connectionString: PG_URL });
          await admin.connect();
          for (const t of ["apps", "functions", "runs", "steps", "cron_ticks", "waits"])
            await admin.query(`DROP TABLE IF EXISTS "${prefix}${t}"`);
          await admin.end();
        },
      };
    });
  }
}

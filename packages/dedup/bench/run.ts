// Claims per second for batch sizes 1, 100 and 1,000 on every driver (one call at a time, and
// 32 calls in flight for 1 and 100), plus the memory store's
// bytes per key at 1M keys. Run: sh scripts/pnpm.sh --filter @evt/dedup run bench
// Env: EVT_TEST_REDIS_URL, EVT_TEST_POSTGRES_URL, EVT_BENCH_MS (time per case, default 1500),
// EVT_BENCH_DRIVERS (comma-separated driver names to run, default all).
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createMemoryStore } from "../src/drivers/memory.js";
import { createPostgresStore } from "../src/drivers/postgres.js";
import { createRedisStore } from "../src/drivers/redis.js";
import { createSqliteStore } from "../src/drivers/sqlite.js";
import type { ClaimEntry, DedupStore } from "../src/types.js";

const redisUrl = process.env.EVT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const postgresUrl =
  process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const caseMs = Number(process.env.EVT_BENCH_MS ?? 1500);
const DAY = 86_400_000;
const run = randomUUID().slice(0, 8);

interface Row {
  driver: string;
  batch: number;
  mode: string;
  calls: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  keysPerSec: number;
}

/** A batch of new keys shaped like the gateway's: `<env>\0<26-char id>`. */
let counter = 0;
function batchOf(size: number): ClaimEntry[] {
  return Array.from({ length: size }, () => {
    const id = `${run}${(counter++).toString(36).padStart(18, "0")}`;
    return { key: `production\u0000${id}`, value: `01J${id.slice(0, 23)}` };
  });
}

async function measure(
  driver: string,
  store: DedupStore,
  batch: number,
  mode: "fresh" | "duplicate",
): Promise<Row> {
  // pre-build batches outside the timed part
  const pool = Array.from({ length: 64 }, () => batchOf(batch));
  if (mode === "duplicate") for (const b of pool) await store.claim(b, DAY);
  const lat: number[] = [];
  let keys = 0;
  for (let i = 0; i < 3; i++) await store.claim(mode === "fresh" ? batchOf(batch) : pool[i]!, DAY);
  const end = performance.now() + caseMs;
  let i = 0;
  while (performance.now() < end || lat.length < 5) {
    const b =
      mode === "fresh" ? (i < pool.length ? pool[i]! : batchOf(batch)) : pool[i % pool.length]!;
    i++;
    const t = performance.now();
    await store.claim(b, DAY);
    lat.push(performance.now() - t);
    keys += batch;
  }
  const total = lat.reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  return {
    driver,
    batch,
    mode,
    calls: lat.length,
    meanMs: total / lat.length,
    p50Ms: lat[Math.floor(lat.length * 0.5)]!,
    p99Ms: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!,
    keysPerSec: (keys / total) * 1000,
  };
}

/**
 * `inFlight` callers each claiming fresh batches back to back, as concurrent gateway requests
 * do (drivers may group them; SQLite commits them together). keys/s is over wall time here.
 */
async function measureConcurrent(
  driver: string,
  store: DedupStore,
  batch: number,
  inFlight: number,
): Promise<Row> {
  for (let i = 0; i < 3; i++) await store.claim(batchOf(batch), DAY);
  const lat: number[] = [];
  let keys = 0;
  const end = performance.now() + caseMs;
  const start = performance.now();
  const worker = async () => {
    while (performance.now() < end || lat.length < 5) {
      const b = batchOf(batch);
      const t = performance.now();
      await store.claim(b, DAY);
      lat.push(performance.now() - t);
      keys += batch;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const wall = performance.now() - start;
  const total = lat.reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  return {
    driver,
    batch,
    mode: `fresh, ${inFlight} in flight`,
    calls: lat.length,
    meanMs: total / lat.length,
    p50Ms: lat[Math.floor(lat.length * 0.5)]!,
    p99Ms: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!,
    keysPerSec: (keys / wall) * 1000,
  };
}

function memoryBytesPerKey(): { keys: number; bytesPerKey: number } | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  const n = 1_000_000;
  const entries = batchOf(n); // built first: only the store's own structures are counted...
  gc();
  const before = process.memoryUsage().heapUsed;
  const store = createMemoryStore({ maxKeys: n });
  void store.claim(entries, DAY);
  gc();
  const after = process.memoryUsage().heapUsed;
  void store.close();
  return { keys: n, bytesPerKey: (after - before) / n };
}

const dir = mkdtempSync(join(tmpdir(), "evt-dedup-bench-"));
const table = `evt_dedup_bench_${run}`;
const drivers: [string, () => DedupStore][] = [
  ["memory", () => createMemoryStore()],
  ["sqlite", () => createSqliteStore({ path: join(dir, "bench.db"), sweepIntervalMs: 0 })],
  [
    "redis",
    () => createRedisStore({ url: redisUrl, prefix: `evt-bench:${run}:`, timeoutMs: 30_000 }),
  ],
  [
    "postgres",
    () => createPostgresStore({ url: postgresUrl, table, timeoutMs: 30_000, sweepIntervalMs: 0 }),
  ],
  [
    "postgres (unlogged)",
    () =>
      createPostgresStore({
        url: postgresUrl,
        table: `${table}_u`,
        unlogged: true,
        timeoutMs: 30_000,
        sweepIntervalMs: 0,
      }),
  ],
];

const only = process.env.EVT_BENCH_DRIVERS?.split(",").map((d) => d.trim());
const rows: Row[] = [];
for (const [name, make] of drivers) {
  if (only && !only.includes(name.split(" ")[0]!)) continue;
  const store = make();
  try {
    await store.ping();
  } catch (err) {
    console.log(`skipping ${name}: ${(err as Error).message}`);
    continue;
  }
  for (const batch of [1, 100, 1000]) rows.push(await measure(name, store, batch, "fresh"));
  rows.push(await measure(name, store, 1000, "duplicate"));
  for (const batch of [1, 100]) rows.push(await measureConcurrent(name, store, batch, 32));
  await store.close();
}

const mem = memoryBytesPerKey();

/** The machine's ceiling for the memory store: bare Map.set of new keys, no store around it. */
function mapBaseline(): number {
  const batches = Array.from({ length: 300 }, () => batchOf(1000));
  const m = new Map<string, { value: string; expiresAt: number }>();
  const t = performance.now();
  for (const b of batches) for (const e of b) m.set(e.key, { value: e.value, expiresAt: 1 });
  return (300_000 / (performance.now() - t)) * 1000;
}
const baseline = mapBaseline();

// clean up what the bench wrote
rmSync(dir, { recursive: true, force: true });
const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 });
await admin.query(`DROP TABLE IF EXISTS "${table}", "${table}_u"`).catch(() => {});
await admin.end();
{
  const { Redis } = await import("ioredis");
  const r = new Redis(redisUrl);
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", `evt-bench:${run}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== "0");
  await r.quit();
}

const f = (x: number, d = 2) => x.toFixed(d);
console.log(`\nnode ${process.version}, ${new Date().toISOString()}, ${caseMs} ms per case\n`);
console.log("| driver | batch | keys | calls | mean ms | p50 ms | p99 ms | keys/s |");
console.log("|---|---:|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.driver} | ${r.batch} | ${r.mode} | ${r.calls} | ${f(r.meanMs, 3)} | ${f(r.p50Ms, 3)} | ${f(r.p99Ms, 3)} | ${Math.round(r.keysPerSec).toLocaleString("en-US")} |`,
  );
}
console.log(
  `\nbaseline: a bare Map.set of new keys runs at ${Math.round(baseline).toLocaleString("en-US")} keys/s on this machine right now`,
);
if (mem) {
  console.log(
    `\nmemory store: ${f(mem.bytesPerKey, 0)} bytes of heap per key at ${mem.keys.toLocaleString("en-US")} keys (map + slot objects; the key and value strings themselves are shared with the caller and not counted)`,
  );
} else {
  console.log("\nmemory bytes per key: run with node --expose-gc to measure");
}

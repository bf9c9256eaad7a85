/**
 * Append throughput of the event store drivers, in events per second.
 *
 *   sh scripts/pnpm.sh --filter @evt/store run bench
 *
 * Each case appends pre-built events (a ~200-byte `data` object) in batches of 1 or 100 for
 * about `EVT_BENCH_SECONDS` seconds (default 3) after a short warm-up, awaiting every call,
 * with 1 and 16 calls in flight (16 in flight is what a busy gateway does; SQLite then
 * group-commits them). PostgreSQL cases are skipped when
 * `EVT_BENCH_POSTGRES=0` or when `EVT_TEST_POSTGRES_URL` (default the local evt_test
 * database) does not answer. "events per CPU-second" divides by the CPU time of this process
 * only: on a shared machine it shows what one free core would do (for PostgreSQL the server's
 * work is not counted, so that column says little there).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPostgresStore } from "../src/drivers/postgres";
import { createSqliteStore } from "../src/drivers/sqlite";
import type { EventStore, StoredEvent } from "../src/types";

const seconds = Number(process.env.EVT_BENCH_SECONDS ?? 3);
const pgUrl = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";

let seq = 0;
function makeEvents(n: number): StoredEvent[] {
  const now = Date.now();
  return Array.from({ length: n }, () => {
    seq += 1;
    return {
      internal_id: `01B${String(seq).padStart(23, "0")}`,
      id: `order-${seq}`,
      name: "shop/order.created",
      data: {
        orderId: `ord_${seq}`,
        total: 129.5,
        currency: "EUR",
        items: [
          { sku: "sku-1", qty: 2 },
          { sku: "sku-2", qty: 1 },
        ],
        customer: { id: "cus_42", email: "someone@example.com" },
      },
      user: null,
      ts: now,
      v: "2024-01-14.1",
      env: "production",
      received_at: now,
      source: null,
      source_id: null,
    };
  });
}

interface Measured {
  eventsPerSecond: number;
  /** Events per second of CPU time used by this process (user + system). */
  eventsPerCpuSecond: number;
}

async function measure(store: EventStore, batch: number, concurrency: number): Promise<Measured> {
  const pool = makeEvents(200_000);
  let next = 0;
  const take = () => {
    if (next + batch > pool.length) {
      for (const e of makeEvents(200_000)) pool.push(e); // not push(...): 200k arguments overflow the stack
    }
    const out = pool.slice(next, next + batch);
    next += batch;
    return out;
  };
  const runFor = async (ms: number) => {
    let events = 0;
    const end = performance.now() + ms;
    const worker = async () => {
      while (performance.now() < end) {
        await store.append(take());
        events += batch;
      }
    };
    const start = performance.now();
    const cpu = process.cpuUsage();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const used = process.cpuUsage(cpu);
    return {
      eventsPerSecond: events / ((performance.now() - start) / 1000),
      eventsPerCpuSecond: events / ((used.user + used.system) / 1e6),
    };
  };
  await runFor(300); // warm-up: statements prepared, pages cached
  return runFor(seconds * 1000);
}

interface Row extends Measured {
  driver: string;
  batch: number;
  concurrency: number;
}

async function main() {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "evt-store-bench-"));
  try {
    for (const synchronous of ["FULL", "NORMAL"] as const) {
      for (const concurrency of [1, 16]) {
        for (const batch of [1, 100]) {
          const store = createSqliteStore({
            path: join(dir, `${synchronous}-${batch}-${concurrency}.db`),
            synchronous,
          });
          const m = await measure(store, batch, concurrency);
          await store.close();
          rows.push({ driver: `sqlite ${synchronous}`, batch, concurrency, ...m });
          console.error(
            `sqlite ${synchronous} batch ${batch} x${concurrency}: ${Math.round(m.eventsPerSecond)} events/s`,
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const table = `evt_store_bench_${process.pid}`;
  const skipPostgres = process.env.EVT_BENCH_POSTGRES === "0";
  const probe = createPostgresStore({ url: pgUrl, table });
  const reachable =
    !skipPostgres &&
    (await probe.ping().then(
      () => true,
      () => false,
    ));
  if (!reachable) {
    console.error(
      skipPostgres ? "postgres skipped" : `postgres not reachable at ${pgUrl}: skipped`,
    );
    await probe.close();
  } else {
    try {
      for (const concurrency of [1, 16]) {
        for (const batch of [1, 100]) {
          const store = createPostgresStore({ url: pgUrl, table, max: concurrency });
          const m = await measure(store, batch, concurrency);
          await store.close();
          rows.push({ driver: "postgres", batch, concurrency, ...m });
          console.error(
            `postgres batch ${batch} x${concurrency}: ${Math.round(m.eventsPerSecond)} events/s`,
          );
        }
      }
    } finally {
      const pg = (await import("pg")).default;
      const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
      await admin.query(`DROP TABLE IF EXISTS "${table}"`);
      await admin.end();
      await probe.close();
    }
  }

  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  console.log(
    "| driver | events per append | appends in flight | events/s | events per CPU-second |",
  );
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.driver} | ${r.batch} | ${r.concurrency} | ${n(r.eventsPerSecond)} | ${n(r.eventsPerCpuSecond)} |`,
    );
  }
}

await main();

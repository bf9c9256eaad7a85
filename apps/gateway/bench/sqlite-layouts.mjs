// The SQLite part of ingest alone, for the data folder layouts (issue #16): CONNS concurrent
// "requests" on one thread, each claiming its events in @evt/dedup and then appending them to
// @evt/store (the ingest order), through the real drivers, until SECONDS pass. Variants:
//   split: a file per store (dedup NORMAL, store FULL), each driver's own group commit;
//   one:   one file, one connection, the drivers sharing one commit per turn (fsynced
//          unless the turn holds dedup claims only).
// Prints CPU µs per event of this process (user + system), wall-clock events/s and fsync-bound
// commits, in alternating rounds. No HTTP, no worker thread: what the SQLite worker spends.
// `node bench/sqlite-layouts.mjs` (from apps/gateway, after building). Env: ROUNDS (3),
// SECONDS (3), CONNS (64), PER (events per request, 1).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStore } from "@evt/dedup";
import { createSqliteEventStore } from "@evt/store";

const Database = createRequire(import.meta.url)("better-sqlite3");
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 3);
const CONNS = Number(process.env.CONNS ?? 64);
const PER = Number(process.env.PER ?? 1);

/** The gateway's coordinator (src/sqlite-file.ts createSharedCommit), counting commits. */
function sharedCommit(db, stats) {
  let parts = [];
  let scheduled = false;
  const writeAll = db.transaction((group) => {
    for (const p of group) p.write();
  });
  const normal = db.prepare("PRAGMA synchronous = NORMAL");
  const full = db.prepare("PRAGMA synchronous = FULL");
  let durableNow = true;
  const run = () => {
    scheduled = false;
    const group = parts;
    parts = [];
    stats.commits++;
    const durable = group.some((p) => p.durable !== false);
    if (durable !== durableNow) (durable ? full : normal).run();
    durableNow = durable;
    if (group.length === 1) return group[0].alone();
    try {
      writeAll.immediate(group);
    } catch {
      for (const p of group) p.alone();
      return;
    }
    for (const p of group) p.committed();
  };
  return {
    join(part) {
      parts.push(part);
      if (!scheduled) {
        scheduled = true;
        setImmediate(run);
      }
    },
  };
}

function open(layout, dir, stats) {
  if (layout === "split") {
    return {
      dedup: createSqliteStore({ path: join(dir, "dedup.sqlite"), sweepIntervalMs: 0 }),
      store: createSqliteEventStore({ path: join(dir, "events.sqlite") }),
      close: async function () {
        await Promise.all([this.dedup.close(), this.store.close()]);
      },
    };
  }
  const db = new Database(join(dir, "evt.sqlite"), { timeout: 2000 });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  const commit = sharedCommit(db, stats);
  return {
    dedup: createSqliteStore({ database: db, sharedCommit: commit, sweepIntervalMs: 0 }),
    store: createSqliteEventStore({ database: db, sharedCommit: commit }),
    close: async function () {
      await Promise.all([this.dedup.close(), this.store.close()]);
      db.close();
    },
  };
}

let seq = 0;
async function round(layout) {
  const dir = mkdtempSync(join(tmpdir(), `evt-layout-${layout}-`));
  const stats = { commits: 0 };
  const s = open(layout, dir, stats);
  await Promise.all([s.dedup.ping(), s.store.ping()]);
  const end = Date.now() + SECONDS * 1000;
  let events = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (Date.now() < end) {
        const batch = [];
        for (let i = 0; i < PER; i++) {
          const n = ++seq;
          const internal = `01J${String(n).padStart(23, "0")}`;
          batch.push({
            internal_id: internal,
            id: `bench-${n}`,
            name: "bench/event",
            data: { n, plan: "pro" },
            user: null,
            ts: Date.now(),
            v: null,
            env: "production",
            received_at: Date.now(),
          });
        }
        await s.dedup.claim(
          batch.map((e) => ({ key: `production\0${e.id}`, value: e.internal_id })),
          86_400_000,
        );
        await s.store.append(batch);
        events += PER;
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await s.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    layout,
    cpuUsPerEvent: +((cpu.user + cpu.system) / events).toFixed(1),
    eventsPerSec: Math.round(events / (wall / 1000)),
    ...(layout === "one" ? { commitsPerEvent: +(stats.commits / events).toFixed(2) } : {}),
  };
}

const results = { split: [], one: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const layout of ["split", "one"]) {
    const res = await round(layout);
    results[layout].push(res);
    console.log(JSON.stringify({ round: r, ...res }));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [layout, rs] of Object.entries(results)) {
  console.log(
    `median ${layout} (${CONNS} connections, ${PER} event/request): ${median(rs.map((r) => r.cpuUsPerEvent))} µs CPU/event, ${median(rs.map((r) => r.eventsPerSec))} events/s`,
  );
}

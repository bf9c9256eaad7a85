// The SQLite part of ingest alone, for the data folder layouts (issue #16): CONNS concurrent
// "requests" on one thread, each claiming its events in @evt/dedup and then appending them to
// @evt/store (the ingest order), through the real drivers, until SECONDS pass. Variants:
//   split: a file per store (dedup NORMAL, store FULL), each driver's own group commit;
//   one:   one file, one connection, the drivers sharing one commit per turn (fsynced
//          unless the turn holds dedup claims only).
// Prints CPU µs per event of this process (user + system) and wall-clock events/s, in
// alternating rounds. No HTTP, no worker thread: what the SQLite worker spends.
// `node bench/sqlite-layouts.mjs` (from apps/gateway, after building). Env: ROUNDS (3),
// SECONDS (3), CONNS (64), PER (events per request, 1).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStore } from "@evt/dedup";
import { createSqliteEventStore } from "@evt/store";
import { openSqliteFile } from "../dist/index.js";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 3);
const CONNS = Number(process.env.CONNS ?? 64);
const PER = Number(process.env.PER ?? 1);

function open(layout, dir) {
  if (layout === "split") {
    return {
      dedup: createSqliteStore({ path: join(dir, "dedup.sqlite"), sweepIntervalMs: 0 }),
      store: createSqliteEventStore({ path: join(dir, "events.sqlite") }),
      close: async function () {
        await Promise.all([this.dedup.close(), this.store.close()]);
      },
    };
  }
  const one = openSqliteFile(join(dir, "evt.sqlite"), { dedup: true, store: true, runs: false });
  return {
    dedup: one.dedup,
    store: one.store,
    close: async () => {
      await Promise.all([one.dedup.close(), one.store.close()]);
    },
  };
}

let seq = 0;
async function round(layout) {
  const dir = mkdtempSync(join(tmpdir(), `evt-layout-${layout}-`));
  const s = open(layout, dir);
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
            source: "api",
            source_id: null,
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

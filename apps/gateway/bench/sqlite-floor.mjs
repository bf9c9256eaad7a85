// What SQLite itself costs per event here, with no HTTP, no validation and no threads: the
// schemas of @evt/store and @evt/dedup's SQLite drivers, filled through better-sqlite3 with
// prepared statements in transactions of BATCH events, as the drivers' group commits do.
// `node bench/sqlite-floor.mjs` (from apps/gateway). Env: EVENTS (default 200000), BATCH
// (default 3200). Prints µs of wall time per event (one thread, so also its CPU plus fsync).
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const Database = createRequire(import.meta.url)("better-sqlite3");
const EVENTS = Number(process.env.EVENTS ?? 200_000);
const BATCH = Number(process.env.BATCH ?? 3_200);
const dir = mkdtempSync(join(tmpdir(), "evt-sqlite-floor-"));
const now = Date.now();

// The store's schema (packages/store/src/drivers/sqlite-sql.ts) and the dedup table
// (packages/dedup/src/drivers/sqlite.ts), with the drivers' pragmas.
const STORE = `CREATE TABLE e (env TEXT NOT NULL, internal_id TEXT NOT NULL, id TEXT, name TEXT NOT NULL,
  data TEXT NOT NULL, "user" TEXT, ts INTEGER NOT NULL, v TEXT, received_at INTEGER NOT NULL,
  PRIMARY KEY (env, internal_id)) WITHOUT ROWID;
CREATE INDEX e_time ON e (env, received_at DESC, internal_id DESC);
CREATE INDEX e_name_time ON e (env, name, received_at DESC, internal_id DESC);`;
const DEDUP = `CREATE TABLE d (namespace TEXT NOT NULL, key BLOB NOT NULL, value TEXT NOT NULL,
  expires_at INTEGER NOT NULL, PRIMARY KEY (namespace, key)) WITHOUT ROWID;
CREATE INDEX d_expires ON d (expires_at);`;

function open(name, synchronous, schema) {
  const db = new Database(join(dir, name));
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous}`);
  db.exec(schema);
  return db;
}

let seq = 0;
function events(n, randomIds) {
  const out = [];
  for (let i = 0; i < n; i++) {
    seq++;
    out.push({
      internal_id: `01K${String(seq).padStart(23, "0")}`,
      id: randomIds ? randomUUID() : `bench-${seq}`,
      data: JSON.stringify({ n: seq, plan: "pro" }),
      received_at: now + Math.floor(seq / 1000),
    });
  }
  return out;
}

function measure(label, insertBatch, randomIds) {
  const batches = [];
  for (let i = 0; i < EVENTS / BATCH; i++) batches.push(events(BATCH, randomIds));
  const t0 = performance.now();
  for (const b of batches) insertBatch(b);
  const us = ((performance.now() - t0) * 1000) / EVENTS;
  console.log(`${label.padEnd(58)} ${us.toFixed(2)} µs/event`);
}

function storeCase(file) {
  const db = open(file, "FULL", STORE);
  const insert = db.prepare(
    `INSERT INTO e (env, internal_id, id, name, data, "user", ts, v, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (env, internal_id) DO NOTHING`,
  );
  const tx = db.transaction((rows) => {
    for (const r of rows) {
      insert.run(
        "production",
        r.internal_id,
        r.id,
        "bench/event",
        r.data,
        null,
        now,
        null,
        r.received_at,
      );
    }
  });
  return { db, run: (rows) => tx.immediate(rows) };
}

function dedupCase(file) {
  const db = open(file, "NORMAL", DEDUP);
  const upsert = db.prepare(
    `INSERT INTO d (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
     WHERE d.expires_at <= ?`,
  );
  const tx = db.transaction((rows) => {
    for (const r of rows) {
      upsert.run("", Buffer.from(`production\u0000${r.id}`), r.internal_id, now + 86_400_000, now);
    }
  });
  return { db, run: (rows) => tx.immediate(rows) };
}

// Not a driver: a layout to weigh for the store. One row per request of REQUEST events (their
// JSON as one text) in an append-only rowid table, plus one index entry per event that finds it
// by internal id (internal ids are ULIDs, so both inserts land at the right edge of their trees).
// Lists by time and name would read request rows instead of per-event index entries.
const REQUEST = 100;
const LAYOUT = `CREATE TABLE r (seq INTEGER PRIMARY KEY, env TEXT NOT NULL, received_at INTEGER NOT NULL,
  events TEXT NOT NULL);
CREATE TABLE ids (env TEXT NOT NULL, internal_id TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (env, internal_id)) WITHOUT ROWID;`;

function requestRowsCase(file) {
  const db = open(file, "FULL", LAYOUT);
  const insertRequest = db.prepare("INSERT INTO r (env, received_at, events) VALUES (?, ?, ?)");
  const insertId = db.prepare("INSERT INTO ids (env, internal_id, seq) VALUES (?, ?, ?)");
  const tx = db.transaction((rows) => {
    for (let i = 0; i < rows.length; i += REQUEST) {
      const request = rows.slice(i, i + REQUEST);
      const text = JSON.stringify(
        request.map((r) => ({
          internal_id: r.internal_id,
          id: r.id,
          name: "bench/event",
          data: r.data,
        })),
      );
      const seq = insertRequest.run("production", request[0].received_at, text).lastInsertRowid;
      for (const r of request) insertId.run("production", r.internal_id, seq);
    }
  });
  return { db, run: (rows) => tx.immediate(rows) };
}

// Not a driver: the store's insert as one statement per 100-event request, its rows passed as
// one JSON array and read with json_each (one call into SQLite instead of one per row).
function jsonEachCase(file) {
  const db = open(file, "FULL", STORE);
  const insert = db.prepare(
    `INSERT INTO e (env, internal_id, id, name, data, "user", ts, v, received_at)
     SELECT ?, j.value->>0, j.value->>1, ?, j.value->>2, NULL, ?, NULL, j.value->>3
     FROM json_each(?) AS j WHERE true ON CONFLICT (env, internal_id) DO NOTHING`,
  );
  const tx = db.transaction((rows) => {
    for (let i = 0; i < rows.length; i += REQUEST) {
      const request = rows.slice(i, i + REQUEST);
      const json = JSON.stringify(request.map((r) => [r.internal_id, r.id, r.data, r.received_at]));
      insert.run("production", "bench/event", now, json);
    }
  });
  return { db, run: (rows) => tx.immediate(rows) };
}

console.log(`${EVENTS} events in transactions of ${BATCH}, ${process.version}`);
for (const [label, make, file, randomIds] of [
  ["store (synchronous FULL)", storeCase, "store.db", false],
  ["dedup (synchronous NORMAL), ordered ids", dedupCase, "dedup-ordered.db", false],
  ["dedup (synchronous NORMAL), random ids", dedupCase, "dedup-random.db", true],
  [`not a driver: one row per ${REQUEST}-event request + id index`, requestRowsCase, "r.db", false],
  [`not a driver: store, one json_each INSERT per ${REQUEST} events`, jsonEachCase, "j.db", false],
]) {
  const c = make(file);
  measure(label, c.run, randomIds);
  c.db.close();
}
rmSync(dir, { recursive: true, force: true });

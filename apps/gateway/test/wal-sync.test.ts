import { fstatSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openSqliteFile, SQLITE_FILE } from "../src/sqlite-file";
import { createWalSync, type SyncFile } from "../src/wal-sync";
import { storedEvent, tempDir } from "./helpers";

/** A flush that completes when the test says so, recording which file each call flushed. */
function manualSync() {
  const calls: { ino: number; done: (error: NodeJS.ErrnoException | null) => void }[] = [];
  const sync: SyncFile = (fd, done) => calls.push({ ino: fstatSync(fd).ino, done });
  return { sync, calls };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Open connections of {@link walFile}: closing the last would delete the WAL file. */
const open: Database.Database[] = [];

/** A WAL-mode database file with a committed table, so that its `-wal` file exists. */
function walFile(): string {
  const path = join(tempDir(), "w.sqlite");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE t (x)");
  open.push(db);
  return path;
}

describe("createWalSync: commits answered once a flush of the WAL that started after them completed", () => {
  it("a commit made while a flush runs waits for the next one; the first flush also flushes the folder", async () => {
    const path = walFile();
    const { sync, calls } = manualSync();
    const wal = createWalSync(path, { sync });
    const told: string[] = [];
    wal.after(() => told.push("a"));
    // The WAL file first, then (the first time only) its folder.
    expect(calls.map((c) => c.ino)).toEqual([statSync(`${path}-wal`).ino]);
    wal.after(() => told.push("b")); // committed after the running flush started
    calls[0]!.done(null);
    expect(calls.map((c) => c.ino)).toEqual([
      statSync(`${path}-wal`).ino,
      statSync(dirname(path)).ino,
    ]);
    expect(told).toEqual([]);
    calls[1]!.done(null);
    expect(told).toEqual(["a"]);
    // b's own flush started after the first one ended, and only the WAL this time.
    expect(calls).toHaveLength(3);
    expect(calls[2]!.ino).toBe(statSync(`${path}-wal`).ino);
    wal.after(() => told.push("c"));
    calls[2]!.done(null);
    expect(told).toEqual(["a", "b"]);
    calls[3]!.done(null);
    expect(told).toEqual(["a", "b", "c"]);
    await wal.close();
  });

  it("a flush that fails answers none of the commits waiting for it, nor any later one, and says which file", async () => {
    const path = walFile();
    const { sync, calls } = manualSync();
    const errors: Error[] = [];
    const wal = createWalSync(path, { sync, onError: (e) => errors.push(e) });
    const told: string[] = [];
    wal.after(() => told.push("a"));
    wal.after(() => told.push("b"));
    calls[0]!.done(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    wal.after(() => told.push("c"));
    await tick();
    expect(told).toEqual([]);
    expect(calls).toHaveLength(1); // no retry: a later success would prove nothing
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(`flushing ${path}-wal failed (EIO: i/o error, fdatasync)`);
    expect(errors[0]!.message).toContain("not answered");
    await wal.close();
  });

  it("close() waits for the flush in flight and the commits queued behind it", async () => {
    const path = walFile();
    const { sync, calls } = manualSync();
    const wal = createWalSync(path, { sync });
    const told: string[] = [];
    wal.after(() => told.push("a"));
    let closed = false;
    const closing = wal.close().then(() => {
      closed = true;
    });
    await tick();
    expect(closed).toBe(false);
    calls[0]!.done(null);
    calls[1]!.done(null);
    await closing;
    expect(told).toEqual(["a"]);
    await wal.close(); // again: the same, already settled
  });
});

describe("openSqliteFile: durable commits with synchronous=NORMAL and the WAL flushed off the thread", () => {
  it("an append is answered only after the flush of its commit; a turn of dedup claims only needs none", async () => {
    const path = join(tempDir(), SQLITE_FILE);
    const { sync, calls } = manualSync();
    const file = openSqliteFile(path, { dedup: true, store: true, runs: false }, { wal: { sync } });
    const store = file.store!;
    const dedup = file.dedup!;
    await Promise.all([store.ping(), dedup.ping()]);
    await dedup.claim([{ key: "k", value: "01J0000000000000000000000A" }], 60_000);
    expect(calls).toHaveLength(0);

    let appended = false;
    const append = store.append([storedEvent("01J0000000000000000000000A")]).then(() => {
      appended = true;
    });
    while (calls.length === 0) await tick();
    // Committed (another connection reads it) but not flushed: not answered yet.
    const reader = new Database(path, { readonly: true });
    expect(reader.prepare("SELECT count(*) FROM evt_events").pluck().get()).toBe(1);
    reader.close();
    await tick();
    expect(appended).toBe(false);
    calls[0]!.done(null); // the WAL file
    calls[1]!.done(null); // its folder, on the first flush
    await append;
    expect(appended).toBe(true);
    await Promise.all([store.close(), dedup.close()]);
  });
});

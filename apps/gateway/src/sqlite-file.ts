import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  createSqliteStore,
  type DedupStore,
  type SqliteCommitPart,
  type SqliteSharedCommit,
} from "@evt/dedup";
import type { RunStore } from "@evt/functions";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import { createSqliteEventStore, type EventStore } from "@evt/store";
import Database from "better-sqlite3";
import { createWalSync, type WalSync, type WalSyncOptions } from "./wal-sync";

/** The one SQLite file of a new data folder: dedup keys, events and runs. */
export const SQLITE_FILE = "evt.sqlite";

/** The files of the earlier layout, one per store (still opened when a data folder has them). */
export const SPLIT_FILES = {
  dedup: "dedup.sqlite",
  store: "events.sqlite",
  runs: "runs.sqlite",
} as const;

/**
 * Which layout a data folder uses: `one` (everything in {@link SQLITE_FILE}) for a new folder
 * or one that has that file, `split` (a file per store) for a folder written by an earlier
 * version, that has one of {@link SPLIT_FILES} and not {@link SQLITE_FILE}.
 */
export function sqliteLayout(dataDir: string): "one" | "split" {
  if (existsSync(join(dataDir, SQLITE_FILE))) return "one";
  return Object.values(SPLIT_FILES).some((f) => existsSync(join(dataDir, f))) ? "split" : "one";
}

/** Options of {@link createSharedCommit}. */
export interface SharedCommitOptions {
  /**
   * How a durable turn's commit reaches the disk: `wal`, the turn commits with
   * `synchronous=NORMAL` and is told it committed once a flush of the WAL file that started
   * after it completed, off the thread ({@link createWalSync}); `null`: every durable commit is
   * fsynced by SQLite itself (`synchronous=FULL`), stopping the thread for it. @default null
   */
  wal?: WalSync | null;
}

/**
 * The transaction the stores of one connection share: every part joined in a turn of the
 * event loop is written in one `BEGIN IMMEDIATE` ... `COMMIT`, and told once it committed
 * and, when a part of the turn is durable (events, runs), once that commit is on disk: a flush
 * of the WAL file off the thread with `wal`, SQLite's own fsync (`synchronous=FULL`) without.
 * A turn of dedup claims only (`durable: false`, as in their own file) is told at its commit.
 * While a flush runs, the parts joined meanwhile wait and are written together after it.
 * If the shared transaction fails (a part threw, or the commit), it is rolled back and every
 * part commits on its own (`alone()`, where the driver isolates a failing call), each fsynced
 * by SQLite before it is answered.
 */
export function createSharedCommit(
  db: Database.Database,
  options: SharedCommitOptions = {},
): SqliteSharedCommit {
  const wal = options.wal ?? null;
  let parts: SqliteCommitPart[] = [];
  let scheduled = false;
  const writeAll = db.transaction((group: SqliteCommitPart[]) => {
    for (const part of group) part.write();
  });
  const normal = db.prepare("PRAGMA synchronous = NORMAL");
  const full = db.prepare("PRAGMA synchronous = FULL");
  /** The level of the connection now (the level a durable commit needs, at first). */
  let fullNow = db.pragma("synchronous", { simple: true }) === 2;
  function level(wantFull: boolean): void {
    if (wantFull === fullNow) return;
    (wantFull ? full : normal).run();
    fullNow = wantFull;
  }
  /** A durable turn's flush is running: the parts joined meanwhile are written after it. */
  let flushing = false;
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(run);
  }
  function run(): void {
    scheduled = false;
    // The thread serves requests while the flush runs; what they join is one transaction
    // after it (as large as when the thread waited for SQLite's fsync, without the wait).
    if (flushing) return;
    const group = parts;
    parts = [];
    if (!db.open) {
      for (const part of group) part.alone();
      return;
    }
    const durable = group.some((p) => p.durable !== false);
    // With the WAL flushed off the thread, no commit of a turn waits for an fsync.
    level(durable && wal === null);
    try {
      writeAll.immediate(group);
    } catch {
      // Each part alone, each commit fsynced by SQLite before the part answers.
      level(durable);
      for (const part of group) part.alone();
      return;
    }
    if (!durable || wal === null) {
      for (const part of group) part.committed();
      return;
    }
    flushing = true;
    wal.after(() => {
      flushing = false;
      for (const part of group) part.committed();
      if (parts.length > 0) schedule();
    });
  }
  return {
    join(part) {
      parts.push(part);
      schedule();
    },
  };
}

/** The stores {@link openSqliteFile} opened (`null` for those not asked for). */
export interface SqliteFileStores {
  dedup: DedupStore | null;
  store: EventStore | null;
  runs: RunStore | null;
}

/** What {@link openSqliteFile} returns: the stores, and their connection's commit. */
export interface OpenedSqliteFile extends SqliteFileStores {
  /**
   * The connection's shared commit, for a part that writes several stores at once (the worker's
   * ingest: claim and append in one part); `null` when the drivers opened the file on their own.
   */
  sharedCommit: SqliteSharedCommit | null;
  /** Runs `write` in a transaction of its own on the connection (a part's `alone()`). */
  writeAlone: ((write: () => void) => void) | null;
}

/** Which stores {@link openSqliteFile} opens. */
export interface SqliteFileWants {
  dedup: boolean;
  store: boolean;
  runs: boolean;
}

/** Options of {@link openSqliteFile}. */
export interface OpenSqliteFileOptions {
  /**
   * How durable commits reach the disk: options of the flush of the WAL file off the thread
   * ({@link createWalSync}), or `false` for SQLite's own fsync at each durable commit
   * (`synchronous=FULL`, which stops the thread for it). @default {}
   */
  wal?: WalSyncOptions | false;
}

/** Busy timeout of the shared connection (the drivers' own default). */
const BUSY_TIMEOUT_MS = 2_000;

/**
 * Opens the dedup store, the event store and the run store (those `want` names) in one SQLite
 * file on one better-sqlite3 connection in WAL mode, committing together in one shared
 * transaction per turn ({@link createSharedCommit}), a durable turn answered once a flush of
 * the WAL file off the thread has it on disk ({@link createWalSync}). The connection closes
 * when the last of them closes, after the flushes it waits for. A file that cannot be opened
 * as SQLite (not a database, a folder) is left to the drivers, each opening it on its own, so
 * that the start fails with the driver's message naming the store, the file and the problem.
 *
 * @example
 * ```ts
 * const { dedup, store } = openSqliteFile(".evt/evt.sqlite", { dedup: true, store: true, runs: false });
 * ```
 */
export function openSqliteFile(
  path: string,
  want: SqliteFileWants,
  options: OpenSqliteFileOptions = {},
): OpenedSqliteFile {
  let db: Database.Database | undefined;
  let wal: WalSync | null = null;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    const walMode = db.pragma("journal_mode = WAL", { simple: true }) === "wal";
    // Durable commits wait for a flush of the WAL off the thread (see wal-sync.ts) when the
    // file is in WAL mode on disk; otherwise SQLite fsyncs each of them itself.
    wal = walMode && options.wal !== false && !db.memory ? createWalSync(path, options.wal) : null;
    db.pragma(wal ? "synchronous = NORMAL" : "synchronous = FULL");
  } catch {
    try {
      db?.close();
    } catch {
      // not open
    }
    return {
      dedup: want.dedup ? createSqliteStore({ path }) : null,
      store: want.store ? createSqliteEventStore({ path }) : null,
      runs: want.runs ? createSqliteRunStore({ path }) : null,
      sharedCommit: null,
      writeAlone: null,
    };
  }
  const database = db;
  const sharedCommit = createSharedCommit(database, { wal });
  const alone = database.transaction((write: () => void) => write());
  let open = 0;
  /** Makes `close()` of each store close the connection after the last one. */
  function shareClose<T extends { close(): Promise<void> }>(s: T): T {
    open++;
    const close = s.close.bind(s);
    let closing: Promise<void> | null = null;
    s.close = () => {
      closing ??= close().finally(async () => {
        if (--open !== 0) return;
        // Commits still waiting for their flush are answered first.
        await wal?.close();
        if (database.open) database.close();
      });
      return closing;
    };
    return s;
  }
  return {
    dedup: want.dedup ? shareClose(createSqliteStore({ database, sharedCommit })) : null,
    store: want.store ? shareClose(createSqliteEventStore({ database, sharedCommit })) : null,
    runs: want.runs ? shareClose(createSqliteRunStore({ database, sharedCommit })) : null,
    sharedCommit,
    writeAlone: (write) => alone.immediate(write),
  };
}

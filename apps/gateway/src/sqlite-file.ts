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

/**
 * The transaction the stores of one connection share: every part joined in a turn of the
 * event loop is written in one `BEGIN IMMEDIATE` ... `COMMIT` (one fsync), and told once it
 * committed. If the shared transaction fails (a part threw, or the commit), it is rolled back
 * and every part commits on its own, where the driver isolates a failing call. A turn with one
 * part lets that part commit on its own at once (the same work, without the extra layer). The
 * commit is fsynced (`synchronous=FULL`) when a part of the turn is durable (events, runs); a
 * turn of dedup claims only (`durable: false`, as in their own file) commits without an fsync.
 */
export function createSharedCommit(db: Database.Database): SqliteSharedCommit {
  let parts: SqliteCommitPart[] = [];
  let scheduled = false;
  const writeAll = db.transaction((group: SqliteCommitPart[]) => {
    for (const part of group) part.write();
  });
  const normal = db.prepare("PRAGMA synchronous = NORMAL");
  const full = db.prepare("PRAGMA synchronous = FULL");
  let durableNow = true;
  function run(): void {
    scheduled = false;
    const group = parts;
    parts = [];
    if (!db.open) {
      for (const part of group) part.alone();
      return;
    }
    const durable = group.some((p) => p.durable !== false);
    if (durable !== durableNow) {
      (durable ? full : normal).run();
      durableNow = durable;
    }
    if (group.length === 1) {
      for (const part of group) part.alone();
      return;
    }
    try {
      writeAll.immediate(group);
    } catch {
      for (const part of group) part.alone();
      return;
    }
    for (const part of group) part.committed();
  }
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

/** Busy timeout of the shared connection (the drivers' own default). */
const BUSY_TIMEOUT_MS = 2_000;

/**
 * Opens the dedup store, the event store and the run store (those `want` names) in one SQLite
 * file on one better-sqlite3 connection (WAL, `synchronous=FULL`), committing together in one
 * shared transaction per turn ({@link createSharedCommit}). The connection closes when the
 * last of them closes. A file that cannot be opened as SQLite (not a database, a folder) is
 * left to the drivers, each opening it on its own, so that the start fails with the driver's
 * message naming the store, the file and the problem.
 *
 * @example
 * ```ts
 * const { dedup, store } = openSqliteFile(".evt/evt.sqlite", { dedup: true, store: true, runs: false });
 * ```
 */
export function openSqliteFile(path: string, want: SqliteFileWants): OpenedSqliteFile {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
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
  const sharedCommit = createSharedCommit(database);
  const alone = database.transaction((write: () => void) => write());
  let open = 0;
  /** Makes `close()` of each store close the connection after the last one. */
  function shareClose<T extends { close(): Promise<void> }>(s: T): T {
    open++;
    const close = s.close.bind(s);
    let closing: Promise<void> | null = null;
    s.close = () => {
      closing ??= close().finally(() => {
        if (--open === 0 && database.open) database.close();
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

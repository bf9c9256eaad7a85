/**
 * The parts of a `better-sqlite3` `Database` this driver uses. Any `new Database(...)` from
 * `better-sqlite3` fits; the type is structural so `@types/better-sqlite3` is not required.
 */
export interface SqliteDatabase {
  prepare(sql: string): unknown;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction(fn: (...args: never[]) => unknown): unknown;
  close(): unknown;
  readonly open: boolean;
}

/**
 * One transaction shared by several stores on one connection, committed once per turn of the
 * event loop (the gateway's coordinator fits; any object with this `join` does). The type is
 * structural so that packages sharing a file import nothing from each other.
 */
export interface SqliteSharedCommit {
  /** Adds `part` to the next shared transaction (a coordinator runs it in a later turn). */
  join(part: SqliteCommitPart): void;
}

/** What a store contributes to a {@link SqliteSharedCommit}. */
export interface SqliteCommitPart {
  /** Runs the store's statements inside the open shared transaction; a throw rolls it all back. */
  write(): void;
  /** The shared transaction holding this part's `write` committed. */
  committed(): void;
  /** The shared transaction was rolled back (or the part is alone): commit on your own now. */
  alone(): void;
  /**
   * `false`: the part needs no fsync at its commit (`synchronous=NORMAL`: it survives a crash
   * of the process, not a power loss), so a turn holding only such parts may commit without
   * one. @default true
   */
  durable?: boolean;
}

/** Options of {@link createSqliteStore}: give `path` or `database`. */
export interface SqliteStoreOptions {
  /**
   * Database file to open (created if missing), or `":memory:"`. The store opens it with
   * `journal_mode=WAL` and closes it on `close()`.
   */
  path?: string;
  /**
   * An open `better-sqlite3` database to use instead of `path`. The store does not close it
   * and does not change its journal mode; `synchronous` and `timeoutMs` are applied only when
   * given.
   */
  database?: SqliteDatabase;
  /**
   * When a commit is durable. `"FULL"`: the WAL is fsynced on every commit, so an
   * acknowledged append survives `kill -9` and power loss. `"NORMAL"`: no fsync per commit
   * (WAL mode), so it survives a crash of the process but the last commits may be lost on
   * power loss or an OS crash; appends are several times faster.
   * @default "FULL"
   */
  synchronous?: "FULL" | "NORMAL";
  /** Table name (a plain identifier); indexes are named after it. @default "evt_events" */
  table?: string;
  /**
   * Group commit: appends made in the same turn of the event loop (concurrent requests) are
   * written in one transaction, so one fsync covers them all; a failing call fails alone (the
   * group is rolled back and the other calls are committed without it). Every call still
   * resolves only after the commit that holds its events. `false`: one transaction per call, committed before `append` returns.
   * @default true
   */
  groupCommit?: boolean;
  /**
   * With `database`: commit appends in this shared transaction (one commit with the other
   * stores on the connection) instead of a group commit of their own. Every call still
   * resolves only after the commit that holds its events.
   */
  sharedCommit?: SqliteSharedCommit;
  /**
   * How long a call waits for a lock held by another connection (`busy_timeout`) before it
   * fails with a retryable `unavailable` error.
   * @default 2000
   */
  timeoutMs?: number;
}

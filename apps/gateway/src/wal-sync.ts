/**
 * Durable commits without stopping the thread for the fsync: the connection commits with
 * `synchronous=NORMAL` (the commit is written to the WAL file, not flushed), and a commit that
 * must survive a power loss waits for a flush of the WAL file (`fdatasync`) that started after
 * it, run on libuv's thread pool while the thread goes on with the next requests. One flush
 * covers every commit written before it started, so commits that arrive while a flush runs
 * share the next one.
 */
import { closeSync, fdatasync, openSync } from "node:fs";
import { dirname } from "node:path";

/** Flushes a file's data to disk (`fs.fdatasync`), calling `done` once it is there. */
export type SyncFile = (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void;

/** Options of {@link createWalSync}. */
export interface WalSyncOptions {
  /** The flush (a seam for tests). @default fs.fdatasync */
  sync?: SyncFile;
  /**
   * A flush failed: the commits waiting for it may not be on disk, and the kernel may have
   * dropped their pages, so a later flush that succeeds proves nothing about them. They are
   * never answered, and no later commit is either. Default: throws the error out of the event
   * loop, which stops the process (or the SQLite worker thread, whose calls then get 503 and
   * whose successor reopens the file); SQLite recovers the file from its WAL on the next open.
   */
  onError?: (error: Error) => void;
}

/** What {@link createWalSync} returns. */
export interface WalSync {
  /** Calls `done` once the WAL file holds everything committed before this call on disk. */
  after(done: () => void): void;
  /** Resolves once no flush is running or waiting, then closes the file handles. */
  close(): Promise<void>;
}

/**
 * Flushes of the WAL file of the SQLite database at `dbPath` (`<dbPath>-wal`, opened on the
 * first flush, which also flushes the folder that holds it, so that a new WAL file's name is on
 * disk too, as SQLite does when it syncs a new journal).
 *
 * @example
 * ```ts
 * const wal = createWalSync("/var/lib/evt/evt.sqlite");
 * db.prepare("INSERT ...").run(); // committed with synchronous=NORMAL
 * wal.after(() => reply(200)); // on disk
 * ```
 */
export function createWalSync(dbPath: string, options: WalSyncOptions = {}): WalSync {
  const sync: SyncFile = options.sync ?? fdatasync;
  const onError =
    options.onError ??
    ((error: Error) =>
      process.nextTick(() => {
        throw error;
      }));
  let fd: number | null = null;
  let dirFd: number | null = null;
  /** Waiting for a flush that has not started yet. */
  let next: (() => void)[] = [];
  let running = false;
  let failed = false;
  let idle: (() => void) | null = null;
  let closing: Promise<void> | null = null;

  function fail(error: unknown, what: string): void {
    failed = true;
    next = [];
    running = false;
    const cause = error instanceof Error ? error : new Error(String(error));
    onError(
      new Error(
        `flushing ${what} failed (${cause.message}): the commits waiting for it are not answered`,
        { cause },
      ),
    );
    settleIdle();
  }

  function settleIdle(): void {
    if (running || next.length > 0 || idle === null) return;
    const resolve = idle;
    idle = null;
    resolve();
  }

  function start(): void {
    const batch = next;
    next = [];
    running = true;
    const wal = `${dbPath}-wal`;
    try {
      fd ??= openSync(wal, "r");
    } catch (error) {
      fail(error, wal);
      return;
    }
    sync(fd, (error) => {
      if (failed) return;
      if (error) return fail(error, wal);
      if (dirFd !== null) return finish(batch);
      // The first flush: the folder too, once (the WAL file may be new).
      const dir = dirname(dbPath);
      try {
        dirFd = openSync(dir, "r");
      } catch (e) {
        fail(e, dir);
        return;
      }
      sync(dirFd, (e) => (failed ? undefined : e ? fail(e, dir) : finish(batch)));
    });
  }

  function finish(batch: (() => void)[]): void {
    running = false;
    if (next.length > 0) start();
    for (const done of batch) done();
    settleIdle();
  }

  return {
    after(done) {
      if (failed) return;
      next.push(done);
      if (!running) start();
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        idle = () => {
          for (const f of [fd, dirFd]) if (f !== null) closeSync(f);
          fd = dirFd = null;
          resolve();
        };
        settleIdle();
      });
      return closing;
    },
  };
}

import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { join } from "node:path";

/** Owner-only modes of the data folder and of the SQLite files in it. */
export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;

/**
 * Makes the data folder (`0700` when created) and the SQLite files (`0600`) private to the
 * user running the gateway: they hold every event. Files are created empty before SQLite opens
 * them, because SQLite creates a new file `0644` (less the umask), and its `-wal` and `-shm`
 * files copy the mode of the main file. Files that already exist lose any group and other
 * permission bits. Problems (a folder where a file should be) are left to the SQLite driver,
 * whose open error says more.
 *
 * @example
 * ```ts
 * prepareDataDir("./.evt", ["dedup.sqlite", "events.sqlite"]);
 * ```
 */
export function prepareDataDir(dataDir: string, files: readonly string[]): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  for (const name of files) {
    const path = join(dataDir, name);
    try {
      closeSync(openSync(path, "a", DATA_FILE_MODE));
    } catch {
      // Not a file we can open: the driver reports it when it opens the database.
    }
    for (const file of [path, `${path}-wal`, `${path}-shm`]) tighten(file);
  }
}

function tighten(path: string): void {
  try {
    const st = statSync(path);
    if (st.isFile() && (st.mode & 0o077) !== 0) chmodSync(path, st.mode & 0o700);
  } catch {
    // Missing (no WAL yet) or not ours to change: nothing to do.
  }
}

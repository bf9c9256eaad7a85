import { StoreError } from "../errors";

/** Default bound on how long any store call may wait for the database. */
export const DEFAULT_TIMEOUT_MS = 2_000;

/** Default table name of the SQL drivers. */
export const DEFAULT_TABLE = "evt_events";

/** At most 48 characters, so index names (`<table>_env_name_time`) stay within 63. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/** Check a table name: a plain SQL identifier, so it can be quoted into statements safely. */
export function checkTable(driver: string, table: unknown): string {
  if (typeof table !== "string" || !IDENTIFIER.test(table)) {
    throw new StoreError(
      driver,
      "invalid_input",
      `options.table must be a plain identifier (a letter or _, then letters, digits or _, at most 48 characters), got ${JSON.stringify(table)}`,
    );
  }
  return table;
}

/** Check `timeoutMs`: a positive integer of milliseconds. */
export function checkTimeout(driver: string, timeoutMs: unknown): number {
  if (timeoutMs === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new StoreError(
      driver,
      "invalid_input",
      `options.timeoutMs must be a positive integer of milliseconds, got ${JSON.stringify(timeoutMs)}`,
    );
  }
  return timeoutMs;
}

/**
 * Import an optional peer dependency, or fail with a `missing_dependency` error that says
 * what to install.
 */
export async function importPeer<T>(
  driver: string,
  load: () => Promise<T>,
  pkg: string,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new StoreError(
      driver,
      "missing_dependency",
      `the ${driver} driver needs the "${pkg}" package, which could not be loaded; install it next to @evt/store (npm install ${pkg})`,
      { cause: error },
    );
  }
}

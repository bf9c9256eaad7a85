/**
 * SQL of flow control in the SQLite and PostgreSQL run stores. `rate_limits` holds, per
 * rate-limit key, the starts taken within the last period (at most `limit` rows a key; older
 * ones are deleted as the key is used, and any past 24 hours by any use). `throttles` holds
 * one time per throttle key (GCRA's theoretical arrival time). `debounces` holds the pending
 * run of each debounced (function, key) and when its first event came.
 * `p` is the table prefix, a checked identifier.
 */

export function sqliteFlowSchema(p: string): string {
  return `
CREATE TABLE IF NOT EXISTS "${p}rate_limits" (
  key TEXT NOT NULL,
  event_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (key, event_id)
);
CREATE INDEX IF NOT EXISTS "${p}rate_limits_at" ON "${p}rate_limits" (at);
CREATE TABLE IF NOT EXISTS "${p}throttles" (
  key TEXT PRIMARY KEY,
  tat INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS "${p}debounces" (
  function_id TEXT NOT NULL,
  key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  first_at INTEGER NOT NULL,
  PRIMARY KEY (function_id, key)
) WITHOUT ROWID;
`;
}

/** Shared by both drivers (positional parameters: SQLite `?`, PostgreSQL `$n` below). */
export const sqliteFlowSql = (p: string) => ({
  prune: `DELETE FROM "${p}rate_limits" WHERE (key = ? AND at <= ?) OR at <= ?`,
  mine: `SELECT 1 FROM "${p}rate_limits" WHERE key = ? AND event_id = ?`,
  count: `SELECT count(*) AS n FROM "${p}rate_limits" WHERE key = ?`,
  take: `INSERT INTO "${p}rate_limits" (key, event_id, at) VALUES (?, ?, ?)`,
  /** The key's new `tat` (`max(tat, now) + e`; a fresh key: `now + e`). */
  reserve: `INSERT INTO "${p}throttles" (key, tat) VALUES (@key, @now + @e)
    ON CONFLICT (key) DO UPDATE SET tat = max("${p}throttles".tat, @now) + @e
    RETURNING tat`,
  getDebounce: `SELECT run_id, first_at FROM "${p}debounces" WHERE function_id = ? AND key = ?`,
  putDebounce: `INSERT INTO "${p}debounces" (function_id, key, run_id, first_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (function_id, key) DO UPDATE SET run_id = excluded.run_id, first_at = excluded.first_at`,
  runState: `SELECT status, started_at FROM "${p}runs" WHERE run_id = ?`,
  setDue: `UPDATE "${p}runs" SET due_at = ? WHERE run_id = ? AND status = 'queued'`,
});

export const postgresFlowSchema = (p: string): string[] => [
  `CREATE TABLE IF NOT EXISTS "${p}rate_limits" (
    key text COLLATE "C" NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (key, event_id)
  )`,
  `CREATE INDEX IF NOT EXISTS "${p}rate_limits_at" ON "${p}rate_limits" (at)`,
  `CREATE TABLE IF NOT EXISTS "${p}throttles" (
    key text COLLATE "C" PRIMARY KEY,
    tat bigint NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS "${p}debounces" (
    function_id text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    first_at bigint NOT NULL,
    PRIMARY KEY (function_id, key)
  )`,
];

/**
 * Under the key's advisory lock (`lock`, `$1` the lock id): prune the key's old starts,
 * then take one if this event holds none and fewer than `$4` remain. Answers `ok` > 0 for a new
 * start or this event's start within the period.
 */
export const postgresFlowSql = (p: string) => ({
  lock: `SELECT pg_advisory_xact_lock($1::bigint)`,
  prune: `DELETE FROM "${p}rate_limits" WHERE (key = $1 AND at <= $2) OR at <= $3`,
  take: `WITH mine AS (
      SELECT 1 FROM "${p}rate_limits" WHERE key = $1 AND event_id = $2
    ), n AS (
      SELECT count(*)::int AS n FROM "${p}rate_limits" WHERE key = $1
    ), took AS (
      INSERT INTO "${p}rate_limits" (key, event_id, at)
      SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM mine) AND (SELECT n FROM n) < $4
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM mine)::int + (SELECT count(*) FROM took)::int AS ok`,
  /** One statement: the upsert locks the key's row, so concurrent reservations are serial. */
  reserve: `INSERT INTO "${p}throttles" (key, tat) VALUES ($1, $2::bigint + $3::bigint)
    ON CONFLICT (key) DO UPDATE SET tat = greatest("${p}throttles".tat, $2::bigint) + $3::bigint
    RETURNING tat::float8 AS tat`,
  /** A row to lock per (function, key) (`run_id = ''`: no pending run). */
  ensureDebounce: `INSERT INTO "${p}debounces" (function_id, key, run_id, first_at)
    VALUES ($1, $2, '', 0) ON CONFLICT (function_id, key) DO NOTHING`,
  lockDebounce: `SELECT run_id, first_at::float8 AS first_at FROM "${p}debounces"
    WHERE function_id = $1 AND key = $2 FOR UPDATE`,
  putDebounce: `UPDATE "${p}debounces" SET run_id = $3, first_at = $4 WHERE function_id = $1 AND key = $2`,
  /** Locked: a claim (SKIP LOCKED) passes it by, or this waits for the claim to commit. */
  runState: `SELECT status, started_at FROM "${p}runs" WHERE run_id = $1 FOR UPDATE`,
  setDue: `UPDATE "${p}runs" SET due_at = $1 WHERE run_id = $2 AND status = 'queued'`,
});

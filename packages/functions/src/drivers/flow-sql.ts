/**
 * SQL of flow control in the SQLite and PostgreSQL run stores. `rate_limits` holds, per
 * rate-limit key, the starts taken within the last period (at most `limit` rows a key; older
 * ones are deleted as the key is used, and any past 24 hours by any use). `throttles` holds
 * one time per throttle key (GCRA's theoretical arrival time).
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
});

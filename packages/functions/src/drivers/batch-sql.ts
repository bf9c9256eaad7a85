/**
 * SQL of event batching (`batchEvents`) for the SQLite and PostgreSQL run stores, in tables
 * of their own: `batch_events` (each event of a batched run, unique per (function, event):
 * an event is in one batch of a function) and `open_batches` (the open batch of each
 * (function, batch key); a row is removed when its batch closes). `p` is the checked prefix.
 */

export const sqliteBatchSchema = (p: string): string => `
CREATE TABLE IF NOT EXISTS "${p}batch_events" (
  function_id TEXT NOT NULL,
  event_internal_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (function_id, event_internal_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${p}batch_events_run" ON "${p}batch_events" (run_id, position);
CREATE INDEX IF NOT EXISTS "${p}batch_events_event" ON "${p}batch_events" (event_internal_id);
CREATE TABLE IF NOT EXISTS "${p}open_batches" (
  function_id TEXT NOT NULL,
  batch_key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (function_id, batch_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${p}open_batches_run" ON "${p}open_batches" (run_id);
`;

export const sqliteBatchSql = (p: string) => ({
  batchOfEvent: `SELECT run_id FROM "${p}batch_events" WHERE function_id = ? AND event_internal_id = ?`,
  batchSize: `SELECT count(*) FROM "${p}batch_events" WHERE run_id = ?`,
  getOpen: `SELECT run_id, size FROM "${p}open_batches" WHERE function_id = ? AND batch_key = ?`,
  putOpen: `INSERT INTO "${p}open_batches" (function_id, batch_key, run_id, size) VALUES (?, ?, ?, ?)
    ON CONFLICT (function_id, batch_key) DO UPDATE SET run_id = excluded.run_id, size = excluded.size`,
  deleteOpen: `DELETE FROM "${p}open_batches" WHERE function_id = ? AND batch_key = ?`,
  insertEvent: `INSERT INTO "${p}batch_events" (function_id, event_internal_id, run_id, position)
    VALUES (?, ?, ?, ?)`,
  /** A batch's run: queued, its first event as the run's event (own statement: see pgBatchSql). */
  insertRun: `INSERT INTO "${p}runs" (run_id, function_id, event_internal_id, env, status, attempt,
      created_at, due_at)
    VALUES (?, ?, ?, ?, 'queued', 0, ?, ?)`,
  dueNow: `UPDATE "${p}runs" SET due_at = ? WHERE run_id = ? AND status = 'queued' AND due_at > ?`,
  listEvents: `SELECT event_internal_id FROM "${p}batch_events" WHERE run_id = ? ORDER BY position`,
  closeBatch: `DELETE FROM "${p}open_batches" WHERE run_id = ?`,
  runsForEvent: `SELECT r.* FROM "${p}batch_events" AS b JOIN "${p}runs" AS r ON r.run_id = b.run_id
    WHERE b.event_internal_id = ? ORDER BY r.run_id`,
});

/** In this order (open_batches first, as appends lock them), the last one created last. */
export const pgBatchSchema = (p: string): string[] => [
  `CREATE TABLE IF NOT EXISTS "${p}open_batches" (
    function_id text COLLATE "C" NOT NULL,
    batch_key text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    size integer NOT NULL,
    PRIMARY KEY (function_id, batch_key)
  )`,
  `CREATE INDEX IF NOT EXISTS "${p}open_batches_run" ON "${p}open_batches" (run_id)`,
  `CREATE TABLE IF NOT EXISTS "${p}batch_events" (
    function_id text COLLATE "C" NOT NULL,
    event_internal_id text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    position integer NOT NULL,
    PRIMARY KEY (function_id, event_internal_id)
  )`,
  `CREATE INDEX IF NOT EXISTS "${p}batch_events_run" ON "${p}batch_events" (run_id, position)`,
  `CREATE INDEX IF NOT EXISTS "${p}batch_events_event" ON "${p}batch_events" (event_internal_id)`,
];

/** A row when the last object of {@link pgBatchSchema} exists ($1: its quoted name). */
export const pgBatchSchemaReadySql = `SELECT 1 AS ready WHERE to_regclass($1) IS NOT NULL`;

const RUN = `run_id, function_id, event_internal_id, env, status, attempt, output, error,
  created_at, started_at, ended_at, due_at, lease_owner, lease_until`;

export const pgBatchSql = (p: string) => ({
  /** A row to lock for the (function, key), when none exists (`run_id = ''`: no open batch). */
  ensureOpen: `INSERT INTO "${p}open_batches" (function_id, batch_key, run_id, size)
    VALUES ($1, $2, '', 0) ON CONFLICT (function_id, batch_key) DO NOTHING`,
  /** The lock every append to one (function, key) takes: appends to a batch are serial. */
  lockOpen: `SELECT run_id, size FROM "${p}open_batches" WHERE function_id = $1 AND batch_key = $2
    FOR UPDATE`,
  batchOfEvent: `SELECT run_id FROM "${p}batch_events" WHERE function_id = $1 AND event_internal_id = $2`,
  batchSize: `SELECT count(*)::int AS n FROM "${p}batch_events" WHERE run_id = $1`,
  /** The open batch's run, locked: a claim of it waits, or has committed and is seen. */
  lockRun: `SELECT ${RUN} FROM "${p}runs" WHERE run_id = $1 FOR UPDATE`,
  setOpen: `UPDATE "${p}open_batches" SET run_id = $3, size = $4
    WHERE function_id = $1 AND batch_key = $2`,
  deleteOpen: `DELETE FROM "${p}open_batches" WHERE function_id = $1 AND batch_key = $2`,
  insertEvent: `INSERT INTO "${p}batch_events" (function_id, event_internal_id, run_id, position)
    VALUES ($1, $2, $3, $4)`,
  insertRun: `INSERT INTO "${p}runs" (run_id, function_id, event_internal_id, env, status, attempt,
      created_at, due_at)
    VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6)
    RETURNING ${RUN}`,
  dueNow: `UPDATE "${p}runs" SET due_at = $1 WHERE run_id = $2 AND status = 'queued' AND due_at > $1
    RETURNING ${RUN}`,
  listEvents: `SELECT event_internal_id FROM "${p}batch_events" WHERE run_id = $1 ORDER BY position`,
  closeBatch: `DELETE FROM "${p}open_batches" WHERE run_id = $1`,
  runsForEvent: `SELECT ${RUN.split(",")
    .map((c) => `r.${c.trim()}`)
    .join(", ")} FROM "${p}batch_events" AS b JOIN "${p}runs" AS r ON r.run_id = b.run_id
    WHERE b.event_internal_id = $1 ORDER BY r.run_id`,
});

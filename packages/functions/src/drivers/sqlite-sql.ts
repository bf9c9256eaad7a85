/** SQL of the SQLite run store. `p` is the table prefix, a checked identifier. */

export function schemaSql(p: string): string {
  return `
CREATE TABLE IF NOT EXISTS "${p}apps" (
  url TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  sdk TEXT,
  framework TEXT,
  synced_at INTEGER,
  last_error TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${p}functions" (
  id TEXT PRIMARY KEY,
  app_url TEXT NOT NULL,
  name TEXT NOT NULL,
  config TEXT NOT NULL,
  step_url TEXT NOT NULL,
  version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "${p}functions_app" ON "${p}functions" (app_url);
CREATE TABLE IF NOT EXISTS "${p}runs" (
  run_id TEXT PRIMARY KEY,
  function_id TEXT NOT NULL,
  event_internal_id TEXT NOT NULL,
  env TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  attempt INTEGER NOT NULL,
  output TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  due_at INTEGER,
  lease_owner TEXT,
  lease_until INTEGER,
  UNIQUE (function_id, event_internal_id)
);
CREATE INDEX IF NOT EXISTS "${p}runs_event" ON "${p}runs" (event_internal_id);
CREATE INDEX IF NOT EXISTS "${p}runs_due" ON "${p}runs" (due_at, run_id)
  WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS "${p}runs_failed" ON "${p}runs" (ended_at, run_id)
  WHERE status = 'failed';
CREATE TABLE IF NOT EXISTS "${p}steps" (
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  op TEXT NOT NULL,
  data TEXT,
  error TEXT,
  attempts INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  name TEXT,
  started_at INTEGER,
  PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${p}run_attempts" (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  started_at INTEGER,
  ended_at INTEGER NOT NULL,
  error TEXT,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${p}cron_ticks" (
  function_id TEXT PRIMARY KEY,
  last_tick INTEGER NOT NULL
) WITHOUT ROWID;
-- --- concurrency ---
CREATE TABLE IF NOT EXISTS "${p}run_slots" (
  run_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  slot_key TEXT NOT NULL,
  active INTEGER NOT NULL,
  PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${p}run_slots_active" ON "${p}run_slots" (slot_key) WHERE active;
CREATE TABLE IF NOT EXISTS "${p}fn_concurrency" (
  function_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  lim INTEGER NOT NULL,
  PRIMARY KEY (function_id, idx)
) WITHOUT ROWID;
`;
}

/**
 * Columns added to existing tables since their first release: a data dir made before gets them
 * at open (`ALTER TABLE ... ADD COLUMN` when `pragma table_info` does not list them).
 */
export const addedColumns = (p: string): { table: string; column: string; type: string }[] => [
  // --- step names ---
  { table: `${p}steps`, column: "name", type: "TEXT" },
  { table: `${p}steps`, column: "started_at", type: "INTEGER" },
  { table: `${p}waits`, column: "name", type: "TEXT" },
];

export const sql = (p: string) => ({
  upsertApp: `INSERT INTO "${p}apps" (url, app_id, sdk, framework, synced_at, last_error)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (url) DO UPDATE SET app_id = excluded.app_id, sdk = excluded.sdk,
      framework = excluded.framework, synced_at = excluded.synced_at, last_error = excluded.last_error`,
  getApp: `SELECT url, app_id, sdk, framework, synced_at, last_error FROM "${p}apps" WHERE url = ?`,
  listApps: `SELECT url, app_id, sdk, framework, synced_at, last_error FROM "${p}apps" ORDER BY url`,
  getFunction: `SELECT id, app_url, name, config, step_url, version FROM "${p}functions" WHERE id = ?`,
  listFunctions: `SELECT id, app_url, name, config, step_url, version FROM "${p}functions" ORDER BY id`,
  listAppFunctions: `SELECT id, app_url, name, config, step_url, version FROM "${p}functions"
    WHERE app_url = ? ORDER BY id`,
  insertFunction: `INSERT INTO "${p}functions" (id, app_url, name, config, step_url, version)
    VALUES (?, ?, ?, ?, ?, 1)`,
  updateFunction: `UPDATE "${p}functions" SET name = ?, config = ?, step_url = ?, version = version + 1
    WHERE id = ?`,
  deleteFunction: `DELETE FROM "${p}functions" WHERE id = ?`,
  moveAppFunctions: `UPDATE "${p}functions" SET app_url = @url
    WHERE app_url IN (SELECT url FROM "${p}apps" WHERE app_id = @appId AND url <> @url)`,
  dropMovedApps: `DELETE FROM "${p}apps" WHERE app_id = @appId AND url <> @url`,
  insertRun: `INSERT INTO "${p}runs" (run_id, function_id, event_internal_id, env, status, attempt,
      created_at, due_at, started_at, lease_owner, lease_until)
    VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)
    ON CONFLICT (function_id, event_internal_id) DO NOTHING`,
  getRunByKey: `SELECT * FROM "${p}runs" WHERE function_id = ? AND event_internal_id = ?`,
  getRun: `SELECT * FROM "${p}runs" WHERE run_id = ?`,
  listRunsForEvent: `SELECT * FROM "${p}runs" WHERE event_internal_id = ? ORDER BY run_id`,
  dueIds: `SELECT run_id FROM "${p}runs" AS d WHERE status IN ('queued', 'running') AND due_at <= ?
    AND NOT EXISTS (SELECT 1 FROM "${p}run_slots" c WHERE c.run_id = d.run_id)
    ORDER BY due_at, run_id LIMIT ?`,
  claim: `UPDATE "${p}runs" SET status = 'running', started_at = coalesce(started_at, @now),
      lease_owner = @owner, lease_until = @until, due_at = @until
    WHERE run_id = @id AND status IN ('queued', 'running') AND due_at <= @now
    RETURNING *`,
  renew: `UPDATE "${p}runs" SET lease_until = ?, due_at = ?
    WHERE run_id = ? AND status = 'running' AND lease_owner = ?`,
  release: `UPDATE "${p}runs" SET status = ?, due_at = ?, ended_at = ?, lease_owner = NULL,
      lease_until = NULL, attempt = coalesce(?, attempt), output = coalesce(?, output),
      error = coalesce(?, error)
    WHERE run_id = ? AND status = 'running' AND lease_owner = ?`,
  cancel: `UPDATE "${p}runs" SET status = 'cancelled', ended_at = ?, due_at = NULL,
      lease_owner = NULL, lease_until = NULL
    WHERE run_id = ? AND status IN ('queued', 'running')`,
  replay: `UPDATE "${p}runs" SET status = 'queued', attempt = 0, output = NULL, error = NULL,
      started_at = NULL, ended_at = NULL, lease_owner = NULL, lease_until = NULL, due_at = ?
    WHERE run_id = ? AND status IN ('failed', 'cancelled')`,
  deleteSteps: `DELETE FROM "${p}steps" WHERE run_id = ?`,
  insertAttempt: `INSERT INTO "${p}run_attempts" (run_id, seq, attempt, outcome, started_at, ended_at,
      error)
    VALUES (@run, (SELECT coalesce(max(seq) + 1, 0) FROM "${p}run_attempts" WHERE run_id = @run),
      @attempt, @outcome, @started, @ended, @error)`,
  listAttempts: `SELECT * FROM (SELECT * FROM "${p}run_attempts" WHERE run_id = ?
    ORDER BY seq DESC LIMIT 1000) ORDER BY seq`,
  deleteAttempts: `DELETE FROM "${p}run_attempts" WHERE run_id = ?`,
  countActive: `SELECT coalesce(sum(status = 'queued'), 0) AS queued,
      coalesce(sum(status = 'queued' AND due_at <= ?), 0) AS due,
      coalesce(sum(status = 'running'), 0) AS running
    FROM "${p}runs" INDEXED BY "${p}runs_due" WHERE status IN ('queued', 'running') AND due_at IS NOT NULL`,
  recordCronTick: `INSERT INTO "${p}cron_ticks" (function_id, last_tick) VALUES (?, ?)
    ON CONFLICT (function_id) DO UPDATE SET last_tick = max(last_tick, excluded.last_tick)`,
  lastCronTick: `SELECT last_tick FROM "${p}cron_ticks" WHERE function_id = ?`,
  listActiveRuns: `SELECT * FROM "${p}runs" WHERE function_id = ? AND status IN ('queued', 'running')
    ORDER BY run_id LIMIT ?`,
  expireLeases: `UPDATE "${p}runs" SET due_at = ?, lease_until = ? WHERE status = 'running'`,
  listFailedRuns: `SELECT * FROM "${p}runs" INDEXED BY "${p}runs_failed" WHERE status = 'failed'
    ORDER BY ended_at DESC, run_id DESC LIMIT ?`,
  nextDue: `SELECT min(due_at) FROM "${p}runs" WHERE status IN ('queued', 'running')`,
  held: `SELECT 1 FROM "${p}runs" WHERE run_id = ? AND status = 'running' AND lease_owner = ?`,
  upsertStep: `INSERT INTO "${p}steps" (run_id, step_id, position, op, data, error, attempts, updated_at,
      name, started_at)
    VALUES (@run, @step, (SELECT coalesce(max(position) + 1, 0) FROM "${p}steps" WHERE run_id = @run),
      @op, @data, @error, @attempts, @at, @name, @started)
    ON CONFLICT (run_id, step_id) DO UPDATE SET op = excluded.op, data = excluded.data,
      error = excluded.error, attempts = excluded.attempts, updated_at = excluded.updated_at,
      name = coalesce(excluded.name, name), started_at = coalesce(excluded.started_at, started_at)`,
  listSteps: `SELECT run_id, step_id, op, data, error, attempts, updated_at, name, started_at
    FROM "${p}steps" WHERE run_id = ? ORDER BY position`,
  ...concurrencySql(p),
});

/** SQL of concurrency limits (`run_slots`, `fn_concurrency`); see the PostgreSQL driver's. */
const concurrencySql = (p: string) => ({
  insertSlot: `INSERT INTO "${p}run_slots" (run_id, idx, slot_key, active) VALUES (?, ?, ?, 1)`,
  listSlots: `SELECT idx, slot_key FROM "${p}run_slots" WHERE run_id = ? ORDER BY idx`,
  anyActiveSlot: `SELECT 1 FROM "${p}run_slots" WHERE active LIMIT 1`,
  deleteLimits: `DELETE FROM "${p}fn_concurrency" WHERE function_id = ?`,
  deleteOrphanLimits: `DELETE FROM "${p}fn_concurrency" AS l
    WHERE NOT EXISTS (SELECT 1 FROM "${p}functions" f WHERE f.id = l.function_id)`,
  insertLimit: `INSERT INTO "${p}fn_concurrency" (function_id, idx, lim) VALUES (?, ?, ?)`,
  /** Due runs with slots, earliest first, but those with a slot at its limit. @now, @n. */
  slotCandidates: `WITH live AS (
      SELECT c.slot_key, count(*) AS n
      FROM "${p}run_slots" c JOIN "${p}runs" r ON r.run_id = c.run_id
      WHERE c.active AND r.status = 'running' AND r.due_at > @now GROUP BY c.slot_key
    ), keyed AS (
      SELECT c.run_id, c.idx, c.slot_key, r.due_at, l.lim, coalesce(live.n, 0) AS n
      FROM "${p}run_slots" c JOIN "${p}runs" r ON r.run_id = c.run_id
      LEFT JOIN "${p}fn_concurrency" l ON l.function_id = r.function_id AND l.idx = c.idx
      LEFT JOIN live ON live.slot_key = c.slot_key
      WHERE c.active AND r.status IN ('queued', 'running') AND r.due_at <= @now
    ), open AS (
      SELECT run_id, min(due_at) AS due_at FROM keyed GROUP BY run_id
      HAVING min(CASE WHEN lim IS NULL OR lim <= 0 OR n < lim THEN 1 ELSE 0 END) = 1
      ORDER BY min(due_at), run_id LIMIT @n
    )
    SELECT k.run_id, k.slot_key, k.lim, k.n FROM keyed k JOIN open o ON o.run_id = k.run_id
    ORDER BY o.due_at, k.run_id, k.idx`,
  deactivateSlots: `UPDATE "${p}run_slots" SET active = 0 WHERE run_id = ? AND active`,
  activateSlots: `UPDATE "${p}run_slots" SET active = 1 WHERE run_id = ?`,
});

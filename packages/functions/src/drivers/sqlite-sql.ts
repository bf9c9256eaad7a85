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
CREATE TABLE IF NOT EXISTS "${p}steps" (
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  op TEXT NOT NULL,
  data TEXT,
  error TEXT,
  attempts INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${p}cron_ticks" (
  function_id TEXT PRIMARY KEY,
  last_tick INTEGER NOT NULL
) WITHOUT ROWID;
`;
}

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
  dueIds: `SELECT run_id FROM "${p}runs" WHERE status IN ('queued', 'running') AND due_at <= ?
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
  nextDue: `SELECT min(due_at) FROM "${p}runs" WHERE status IN ('queued', 'running')`,
  held: `SELECT 1 FROM "${p}runs" WHERE run_id = ? AND status = 'running' AND lease_owner = ?`,
  upsertStep: `INSERT INTO "${p}steps" (run_id, step_id, position, op, data, error, attempts, updated_at)
    VALUES (@run, @step, (SELECT coalesce(max(position) + 1, 0) FROM "${p}steps" WHERE run_id = @run),
      @op, @data, @error, @attempts, @at)
    ON CONFLICT (run_id, step_id) DO UPDATE SET op = excluded.op, data = excluded.data,
      error = excluded.error, attempts = excluded.attempts, updated_at = excluded.updated_at`,
  listSteps: `SELECT run_id, step_id, op, data, error, attempts, updated_at FROM "${p}steps"
    WHERE run_id = ? ORDER BY position`,
});

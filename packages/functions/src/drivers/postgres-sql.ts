/**
 * SQL of the PostgreSQL run store. `p` is the table prefix, a checked identifier. JSON
 * columns are `text` (as in SQLite): the value was checked and encoded by the store, it
 * round-trips byte for byte, and `jsonb` could not hold `\u0000` in strings. Keys use the
 * "C" collation so listings sort bytewise, as in the other drivers.
 */

/** Schema, run in one transaction after {@link schemaLockSql}, so concurrent first uses don't race. */
export const schemaStatements = (p: string): string[] => [
  `CREATE TABLE IF NOT EXISTS "${p}apps" (
    url text COLLATE "C" PRIMARY KEY,
    app_id text NOT NULL,
    sdk text,
    framework text,
    synced_at bigint,
    last_error text
  )`,
  `CREATE TABLE IF NOT EXISTS "${p}functions" (
    id text COLLATE "C" PRIMARY KEY,
    app_url text COLLATE "C" NOT NULL,
    name text NOT NULL,
    config text NOT NULL,
    step_url text NOT NULL,
    version integer NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS "${p}functions_app" ON "${p}functions" (app_url)`,
  `CREATE TABLE IF NOT EXISTS "${p}runs" (
    run_id text COLLATE "C" PRIMARY KEY,
    function_id text COLLATE "C" NOT NULL,
    event_internal_id text COLLATE "C" NOT NULL,
    env text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    attempt integer NOT NULL,
    output text,
    error text,
    created_at bigint NOT NULL,
    started_at bigint,
    ended_at bigint,
    due_at bigint,
    lease_owner text,
    lease_until bigint,
    CONSTRAINT "${p}runs_key" UNIQUE (function_id, event_internal_id)
  )`,
  `CREATE INDEX IF NOT EXISTS "${p}runs_event" ON "${p}runs" (event_internal_id)`,
  `CREATE INDEX IF NOT EXISTS "${p}runs_due" ON "${p}runs" (due_at, run_id)
    WHERE status IN ('queued', 'running')`,
  `CREATE TABLE IF NOT EXISTS "${p}steps" (
    run_id text COLLATE "C" NOT NULL,
    step_id text COLLATE "C" NOT NULL,
    position integer NOT NULL,
    op text NOT NULL,
    data text,
    error text,
    attempts integer NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (run_id, step_id)
  )`,
  `CREATE TABLE IF NOT EXISTS "${p}cron_ticks" (
    function_id text COLLATE "C" PRIMARY KEY,
    last_tick bigint NOT NULL
  )`,
];

/** Lock taken while creating the schema: one per prefix. */
export const schemaLockSql = `SELECT pg_advisory_xact_lock(hashtext('evt/functions:' || $1))`;

const APP = "url, app_id, sdk, framework, synced_at, last_error";
const FN = "id, app_url, name, config, step_url, version";
const RUN = `run_id, function_id, event_internal_id, env, status, attempt, output, error,
  created_at, started_at, ended_at, due_at, lease_owner, lease_until`;
const ACTIVE = `status IN ('queued', 'running')`;

export const sql = (p: string) => ({
  upsertApp: `INSERT INTO "${p}apps" (${APP}) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (url) DO UPDATE SET app_id = excluded.app_id, sdk = excluded.sdk,
      framework = excluded.framework, synced_at = excluded.synced_at, last_error = excluded.last_error`,
  getApp: `SELECT ${APP} FROM "${p}apps" WHERE url = $1`,
  listApps: `SELECT ${APP} FROM "${p}apps" ORDER BY url`,
  getFunction: `SELECT ${FN} FROM "${p}functions" WHERE id = $1`,
  listFunctions: `SELECT ${FN} FROM "${p}functions" ORDER BY id`,
  listAppFunctions: `SELECT ${FN} FROM "${p}functions" WHERE app_url = $1 ORDER BY id`,
  /** The given functions, locked for the rest of the sync. */
  lockFunctions: `SELECT ${FN} FROM "${p}functions" WHERE id = ANY($1::text[]) FOR UPDATE`,
  moveAppFunctions: `UPDATE "${p}functions" SET app_url = $1
    WHERE app_url IN (SELECT url FROM "${p}apps" WHERE app_id = $2 AND url <> $1)`,
  dropMovedApps: `DELETE FROM "${p}apps" WHERE app_id = $2 AND url <> $1`,
  deleteOtherFunctions: `DELETE FROM "${p}functions" WHERE app_url = $1 AND NOT (id = ANY($2::text[]))`,
  insertFunctions: `INSERT INTO "${p}functions" (${FN})
    SELECT f.id, $1, f.name, f.config, f.step_url, 1
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS f(id, name, config, step_url)
    ON CONFLICT (id) DO NOTHING RETURNING id`,
  updateFunctions: `UPDATE "${p}functions" AS t
    SET name = f.name, config = f.config, step_url = f.step_url, version = t.version + 1
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS f(id, name, config, step_url)
    WHERE t.id = f.id`,
  selectFunctions: `SELECT ${FN} FROM "${p}functions" WHERE id = ANY($1::text[])`,
  insertRun: `INSERT INTO "${p}runs" (run_id, function_id, event_internal_id, env, status, attempt,
      created_at, due_at, started_at, lease_owner, lease_until)
    VALUES ($1, $2, $3, $4, $7, 0, $5, $6, $8, $9, $10)
    ON CONFLICT (function_id, event_internal_id) DO NOTHING
    RETURNING ${RUN}`,
  getRunByKey: `SELECT ${RUN} FROM "${p}runs" WHERE function_id = $1 AND event_internal_id = $2`,
  getRun: `SELECT ${RUN} FROM "${p}runs" WHERE run_id = $1`,
  listRunsForEvent: `SELECT ${RUN} FROM "${p}runs" WHERE event_internal_id = $1 ORDER BY run_id`,
  /**
   * One statement: lock up to $4 due runs through the due index, skipping runs another
   * claimer has locked (`SKIP LOCKED`: it neither waits nor gets them), lease them to $2
   * until $3 and return them earliest `due_at` first. A run another claimer leased and
   * committed meanwhile is re-checked by the lock against its new `due_at` and left out.
   * $1 now, $2 owner, $3 lease end, $4 limit.
   */
  claim: `WITH due AS (
      SELECT run_id, due_at FROM "${p}runs"
      WHERE ${ACTIVE} AND due_at <= $1
      ORDER BY due_at, run_id
      LIMIT $4
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE "${p}runs" AS r SET status = 'running', started_at = coalesce(r.started_at, $1),
        lease_owner = $2, lease_until = $3, due_at = $3
      FROM due WHERE r.run_id = due.run_id
      RETURNING r.*, due.due_at AS claimed_due
    )
    SELECT * FROM claimed ORDER BY claimed_due, run_id`,
  renew: `UPDATE "${p}runs" SET lease_until = $1, due_at = $1
    WHERE run_id = $2 AND status = 'running' AND lease_owner = $3`,
  release: `UPDATE "${p}runs" SET status = $1, due_at = $2, ended_at = $3, lease_owner = NULL,
      lease_until = NULL, attempt = coalesce($4, attempt), output = coalesce($5, output),
      error = coalesce($6, error)
    WHERE run_id = $7 AND status = 'running' AND lease_owner = $8`,
  cancel: `UPDATE "${p}runs" SET status = 'cancelled', ended_at = $1, due_at = NULL,
      lease_owner = NULL, lease_until = NULL
    WHERE run_id = $2 AND ${ACTIVE}`,
  replay: `UPDATE "${p}runs" SET status = 'queued', attempt = 0, output = NULL, error = NULL,
      started_at = NULL, ended_at = NULL, lease_owner = NULL, lease_until = NULL, due_at = $1
    WHERE run_id = $2 AND status IN ('failed', 'cancelled') RETURNING ${RUN}`,
  deleteSteps: `DELETE FROM "${p}steps" WHERE run_id = $1`,
  countActive: `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
      count(*) FILTER (WHERE status = 'queued' AND due_at <= $1)::int AS due,
      count(*) FILTER (WHERE status = 'running')::int AS running
    FROM "${p}runs" WHERE ${ACTIVE}`,
  recordCronTick: `INSERT INTO "${p}cron_ticks" (function_id, last_tick) VALUES ($1, $2)
    ON CONFLICT (function_id) DO UPDATE SET last_tick = GREATEST("${p}cron_ticks".last_tick, excluded.last_tick)`,
  lastCronTick: `SELECT last_tick AS tick FROM "${p}cron_ticks" WHERE function_id = $1`,
  listActiveRuns: `SELECT ${RUN} FROM "${p}runs" WHERE function_id = $1 AND ${ACTIVE}
    ORDER BY run_id LIMIT $2`,
  expireLeases: `UPDATE "${p}runs" SET due_at = $1, lease_until = $1 WHERE status = 'running'`,
  nextDue: `SELECT min(due_at) AS due FROM "${p}runs" WHERE ${ACTIVE}`,
  /** Lock the run while steps are written, so a claim or cancel waits for them. */
  held: `SELECT 1 FROM "${p}runs" WHERE run_id = $1 AND status = 'running' AND lease_owner = $2
    FOR UPDATE`,
  /** All steps of one call, in one statement; new ones are placed after the run's last. */
  upsertSteps: `INSERT INTO "${p}steps" (run_id, step_id, position, op, data, error, attempts, updated_at)
    SELECT $1, s.step_id, base.n + s.ord::integer, s.op, s.data, s.error, s.attempts, s.updated_at
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::int8[])
      WITH ORDINALITY AS s(step_id, op, data, error, attempts, updated_at, ord),
      (SELECT coalesce(max(position), 0) AS n FROM "${p}steps" WHERE run_id = $1) AS base
    ORDER BY s.ord
    ON CONFLICT (run_id, step_id) DO UPDATE SET op = excluded.op, data = excluded.data,
      error = excluded.error, attempts = excluded.attempts, updated_at = excluded.updated_at`,
  listSteps: `SELECT run_id, step_id, op, data, error, attempts, updated_at FROM "${p}steps"
    WHERE run_id = $1 ORDER BY position`,
});

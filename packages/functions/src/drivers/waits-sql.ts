/**
 * SQL of the waits (`step.waitForEvent`, `step.invoke`) in the SQLite and PostgreSQL run
 * stores: a table of their own, `seq` increasing in the order they were stored, one wait per
 * (run, step). `p` is the table prefix, a checked identifier.
 */

export function sqliteWaitsSchema(p: string): string {
  return `
CREATE TABLE IF NOT EXISTS "${p}waits" (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  env TEXT NOT NULL,
  kind TEXT NOT NULL,
  event TEXT NOT NULL,
  expression TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  name TEXT,
  UNIQUE (run_id, step_id)
);
`;
}

const WAIT = "seq, run_id, step_id, env, kind, event, expression, created_at, expires_at, name";

export const sqliteWaitsSql = (p: string) => ({
  /** Not for a step already memoized (resolved meanwhile): it waits no more. */
  insertWait: `INSERT INTO "${p}waits" (run_id, step_id, env, kind, event, expression, created_at, expires_at,
      name)
    SELECT @run, @step, @env, @kind, @event, @expression, @now, @expires, @name
    WHERE NOT EXISTS (SELECT 1 FROM "${p}steps" WHERE run_id = @run AND step_id = @step)
    ON CONFLICT (run_id, step_id) DO NOTHING`,
  minExpiry: `SELECT min(expires_at) FROM "${p}waits" WHERE run_id = ?`,
  countSteps: `SELECT count(*) FROM "${p}steps" WHERE run_id = ?`,
  runEnv: `SELECT env FROM "${p}runs" WHERE run_id = ? AND status = 'running' AND lease_owner = ?`,
  waitRelease: `UPDATE "${p}runs" SET status = 'queued', due_at = ?, ended_at = NULL, attempt = 0,
      lease_owner = NULL, lease_until = NULL
    WHERE run_id = ? AND status = 'running' AND lease_owner = ?`,
  deleteWait: `DELETE FROM "${p}waits" WHERE run_id = ? AND step_id = ?`,
  waitStep: `SELECT created_at, name FROM "${p}waits" WHERE run_id = ? AND step_id = ?`,
  runStatus: `SELECT status FROM "${p}runs" WHERE run_id = ?`,
  dueNow: `UPDATE "${p}runs" SET due_at = ? WHERE run_id = ? AND status = 'queued'`,
  listWaits: `SELECT ${WAIT} FROM "${p}waits" WHERE run_id = ? ORDER BY step_id`,
  waitsSince: `SELECT ${WAIT} FROM "${p}waits" WHERE seq > ? ORDER BY seq LIMIT ?`,
  waitsBySeq: `SELECT ${WAIT} FROM "${p}waits" WHERE seq IN (SELECT value FROM json_each(?))`,
  deleteRunWaits: `DELETE FROM "${p}waits" WHERE run_id = ?`,
  countWaits: `SELECT count(*) FROM "${p}waits"`,
});

export const postgresWaitsSchema = (p: string): string[] => [
  `CREATE TABLE IF NOT EXISTS "${p}waits" (
    seq bigserial PRIMARY KEY,
    run_id text COLLATE "C" NOT NULL,
    step_id text COLLATE "C" NOT NULL,
    env text NOT NULL,
    kind text NOT NULL,
    event text NOT NULL,
    expression text,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    name text,
    CONSTRAINT "${p}waits_step" UNIQUE (run_id, step_id)
  )`,
];

export const postgresWaitsSql = (p: string) => ({
  /** The run, locked: waits of a run are written and resolved one transaction at a time. */
  lockHeld: `SELECT env FROM "${p}runs" WHERE run_id = $1 AND status = 'running' AND lease_owner = $2
    FOR UPDATE`,
  lockRun: `SELECT status FROM "${p}runs" WHERE run_id = $1 FOR UPDATE`,
  insertWaits: `INSERT INTO "${p}waits" (run_id, step_id, env, kind, event, expression, created_at, expires_at,
      name)
    SELECT $1, w.step_id, $2, w.kind, w.event, w.expression, $3, w.expires_at, w.name
    FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::text[])
      WITH ORDINALITY AS w(step_id, kind, event, expression, expires_at, name, ord)
    WHERE NOT EXISTS (SELECT 1 FROM "${p}steps" AS s WHERE s.run_id = $1 AND s.step_id = w.step_id)
    ORDER BY w.ord
    ON CONFLICT (run_id, step_id) DO NOTHING`,
  /** $1 run, $2 owner, $3 now, $4 steps seen, $5 due by (or null). */
  waitRelease: `UPDATE "${p}runs" SET status = 'queued', ended_at = NULL, attempt = 0,
      lease_owner = NULL, lease_until = NULL,
      due_at = coalesce(LEAST($5::int8, (SELECT min(expires_at) FROM "${p}waits" WHERE run_id = $1),
        CASE WHEN (SELECT count(*) FROM "${p}steps" WHERE run_id = $1) > $4 THEN $3::int8 END), $3::int8)
    WHERE run_id = $1 AND status = 'running' AND lease_owner = $2`,
  deleteWait: `DELETE FROM "${p}waits" WHERE run_id = $1 AND step_id = $2 RETURNING seq, created_at, name`,
  dueNow: `UPDATE "${p}runs" SET due_at = $1 WHERE run_id = $2 AND status = 'queued'`,
  listWaits: `SELECT ${WAIT} FROM "${p}waits" WHERE run_id = $1 ORDER BY step_id`,
  waitsSince: `SELECT ${WAIT} FROM "${p}waits" WHERE seq > $1 OR seq = ANY($2::int8[])
    ORDER BY seq LIMIT $3`,
  /** cancelRun: the run cancelled and its waits deleted, in one statement. */
  cancel: `WITH c AS (
      UPDATE "${p}runs" SET status = 'cancelled', ended_at = $1, due_at = NULL,
        lease_owner = NULL, lease_until = NULL
      WHERE run_id = $2 AND status IN ('queued', 'running') RETURNING run_id
    ), d AS (DELETE FROM "${p}waits" WHERE run_id IN (SELECT run_id FROM c))
    SELECT run_id FROM c`,
  deleteRunWaits: `DELETE FROM "${p}waits" WHERE run_id = $1`,
  countWaits: `SELECT count(*)::int AS n FROM "${p}waits"`,
});

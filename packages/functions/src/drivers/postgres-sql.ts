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
  `CREATE INDEX IF NOT EXISTS "${p}runs_failed" ON "${p}runs" (ended_at, run_id)
    WHERE status = 'failed'`,
  `CREATE TABLE IF NOT EXISTS "${p}run_attempts" (
    run_id text COLLATE "C" NOT NULL,
    seq integer NOT NULL,
    attempt integer NOT NULL,
    outcome text NOT NULL,
    started_at bigint,
    ended_at bigint NOT NULL,
    error text,
    PRIMARY KEY (run_id, seq)
  )`,
  `CREATE TABLE IF NOT EXISTS "${p}steps" (
    run_id text COLLATE "C" NOT NULL,
    step_id text COLLATE "C" NOT NULL,
    position integer NOT NULL,
    op text NOT NULL,
    data text,
    error text,
    attempts integer NOT NULL,
    updated_at bigint NOT NULL,
    name text,
    started_at bigint,
    PRIMARY KEY (run_id, step_id)
  )`,
  `CREATE TABLE IF NOT EXISTS "${p}cron_ticks" (
    function_id text COLLATE "C" PRIMARY KEY,
    last_tick bigint NOT NULL
  )`,
  // --- concurrency ---
  // The slots a run takes while claimed (active until it finishes), and each function's
  // registered limits (replaced by every sync).
  `CREATE TABLE IF NOT EXISTS "${p}run_slots" (
    run_id text COLLATE "C" NOT NULL,
    idx smallint NOT NULL,
    slot_key text COLLATE "C" NOT NULL,
    active boolean NOT NULL,
    PRIMARY KEY (run_id, idx)
  )`,
  `CREATE INDEX IF NOT EXISTS "${p}run_slots_active" ON "${p}run_slots" (slot_key) WHERE active`,
  `CREATE TABLE IF NOT EXISTS "${p}fn_concurrency" (
    function_id text COLLATE "C" NOT NULL,
    idx smallint NOT NULL,
    lim integer NOT NULL,
    PRIMARY KEY (function_id, idx)
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
        AND NOT EXISTS (SELECT 1 FROM "${p}run_slots" c WHERE c.run_id = "${p}runs".run_id)
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
  /** One gateway executes a run at a time, so two appends to one run's history do not race. */
  insertAttempt: `INSERT INTO "${p}run_attempts" (run_id, seq, attempt, outcome, started_at, ended_at,
      error)
    VALUES ($1, (SELECT coalesce(max(seq) + 1, 0) FROM "${p}run_attempts" WHERE run_id = $1),
      $2, $3, $4, $5, $6)`,
  listAttempts: `SELECT * FROM (SELECT run_id, seq, attempt, outcome, started_at, ended_at, error
    FROM "${p}run_attempts" WHERE run_id = $1 ORDER BY seq DESC LIMIT 1000) a ORDER BY seq`,
  deleteAttempts: `DELETE FROM "${p}run_attempts" WHERE run_id = $1`,
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
  listFailedRuns: `SELECT ${RUN} FROM "${p}runs" WHERE status = 'failed'
    ORDER BY ended_at DESC, run_id DESC LIMIT $1`,
  nextDue: `SELECT min(due_at) AS due FROM "${p}runs" WHERE ${ACTIVE}`,
  /** Lock the run while steps are written, so a claim or cancel waits for them. */
  held: `SELECT 1 FROM "${p}runs" WHERE run_id = $1 AND status = 'running' AND lease_owner = $2
    FOR UPDATE`,
  /** All steps of one call, in one statement; new ones are placed after the run's last. */
  upsertSteps: `INSERT INTO "${p}steps" AS t (run_id, step_id, position, op, data, error, attempts,
      updated_at, name, started_at)
    SELECT $1, s.step_id, base.n + s.ord::integer, s.op, s.data, s.error, s.attempts, s.updated_at,
      s.name, s.started_at
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::int8[],
        $8::text[], $9::int8[])
      WITH ORDINALITY AS s(step_id, op, data, error, attempts, updated_at, name, started_at, ord),
      (SELECT coalesce(max(position), 0) AS n FROM "${p}steps" WHERE run_id = $1) AS base
    ORDER BY s.ord
    ON CONFLICT (run_id, step_id) DO UPDATE SET op = excluded.op, data = excluded.data,
      error = excluded.error, attempts = excluded.attempts, updated_at = excluded.updated_at,
      name = coalesce(excluded.name, t.name), started_at = coalesce(excluded.started_at, t.started_at)`,
  listSteps: `SELECT run_id, step_id, op, data, error, attempts, updated_at, name, started_at
    FROM "${p}steps" WHERE run_id = $1 ORDER BY position`,
  ...concurrencySql(p),
});

/** In flight: running with a live lease (`due_at` is the lease end), so a dead gateway's runs free their slots. */
const LIVE = (p: string) => `SELECT c.slot_key, count(*)::int AS n
  FROM "${p}run_slots" c JOIN "${p}runs" r ON r.run_id = c.run_id
  WHERE c.active AND r.status = 'running' AND r.due_at > $1`;

/** SQL of concurrency limits (`run_slots`, `fn_concurrency`). */
const concurrencySql = (p: string) => ({
  /** $1..$10 as insertRun, $11 slot indexes, $12 slot keys: the run and its slots in one statement. */
  insertRunWithSlots: `WITH ins AS (
      INSERT INTO "${p}runs" (run_id, function_id, event_internal_id, env, status, attempt,
        created_at, due_at, started_at, lease_owner, lease_until)
      VALUES ($1, $2, $3, $4, $7, 0, $5, $6, $8, $9, $10)
      ON CONFLICT (function_id, event_internal_id) DO NOTHING
      RETURNING ${RUN}
    ), slots AS (
      INSERT INTO "${p}run_slots" (run_id, idx, slot_key, active)
      SELECT ins.run_id, k.idx, k.slot_key, true
      FROM ins, unnest($11::smallint[], $12::text[]) AS k(idx, slot_key)
    )
    SELECT * FROM ins`,
  listSlots: `SELECT idx, slot_key FROM "${p}run_slots" WHERE run_id = $1 ORDER BY idx`,
  anyActiveSlot: `SELECT 1 AS one FROM "${p}run_slots" WHERE active LIMIT 1`,
  /** Limits of the synced functions ($1 ids) replaced by $2..$4; those of removed functions dropped. */
  deleteLimits: `DELETE FROM "${p}fn_concurrency" l WHERE l.function_id = ANY($1::text[])
    OR NOT EXISTS (SELECT 1 FROM "${p}functions" f WHERE f.id = l.function_id)`,
  insertLimits: `INSERT INTO "${p}fn_concurrency" (function_id, idx, lim)
    SELECT * FROM unnest($1::text[], $2::smallint[], $3::int[])`,
  /**
   * Due runs with slots, earliest first, leaving out those with a slot at its limit (by the
   * counts of this snapshot; the claim counts again under the slots' locks), with their
   * slots and limits. $1 now, $2 how many runs.
   */
  slotCandidates: `WITH live AS (${LIVE(p)} GROUP BY c.slot_key),
    keyed AS (
      SELECT c.run_id, c.idx, c.slot_key, r.due_at, l.lim, coalesce(live.n, 0) AS n
      FROM "${p}run_slots" c JOIN "${p}runs" r ON r.run_id = c.run_id
      LEFT JOIN "${p}fn_concurrency" l ON l.function_id = r.function_id AND l.idx = c.idx
      LEFT JOIN live ON live.slot_key = c.slot_key
      WHERE c.active AND r.status IN ('queued', 'running') AND r.due_at <= $1
    ), open AS (
      SELECT run_id, min(due_at) AS due_at FROM keyed GROUP BY run_id
      HAVING bool_and(lim IS NULL OR lim <= 0 OR n < lim)
      ORDER BY min(due_at), run_id LIMIT $2
    )
    SELECT k.run_id, k.slot_key, k.lim, k.n FROM keyed k JOIN open o ON o.run_id = k.run_id
    ORDER BY o.due_at, k.run_id, k.idx`,
  /** Serialise claims per slot: $1 lock ids in ascending order (no two claimers deadlock). */
  lockSlots: `SELECT pg_advisory_xact_lock(x) FROM unnest($1::bigint[]) AS t(x)`,
  /** In flight per slot key ($2), counted afresh once the slots are locked. */
  countLive: `${LIVE(p)} AND c.slot_key = ANY($2::text[]) GROUP BY c.slot_key`,
  /** The candidates ($1) still due at $2, locked (none another claimer holds). */
  lockDue: `SELECT run_id FROM "${p}runs" WHERE run_id = ANY($1::text[]) AND ${ACTIVE}
    AND due_at <= $2 FOR UPDATE SKIP LOCKED`,
  /** Lease the picked runs ($4) to $2 until $3. */
  claimIds: `UPDATE "${p}runs" AS r SET status = 'running', started_at = coalesce(r.started_at, $1),
      lease_owner = $2, lease_until = $3, due_at = $3
    WHERE r.run_id = ANY($4::text[]) RETURNING r.*`,
  /** A run that finished frees its slots for good; a replayed one takes them again. */
  activateSlots: `UPDATE "${p}run_slots" SET active = true WHERE run_id = $1`,
});

/**
 * `update` (the release or cancel of one run, which finishes it) and the run's slots freed
 * for good, in one statement; answers `n`, the runs updated (0 or 1).
 */
export const finishing = (
  p: string,
  update: string,
  /** More work on the finished run, as a CTE over `u` (e.g. deleting its waits). */
  also = "",
) => `WITH u AS (${update} RETURNING run_id), d AS (
    UPDATE "${p}run_slots" c SET active = false FROM u WHERE c.run_id = u.run_id AND c.active
  )${also === "" ? "" : `, a AS (${also})`} SELECT count(*)::int AS n FROM u`;

// --- step names ---
/**
 * Columns added to tables made before them (a database of an earlier release). Added only when
 * missing ({@link pgColumnPresentSql}), in a transaction of their own: ALTER TABLE locks its
 * table even when the column exists, which would deadlock against steps being written on
 * another handle.
 */
export const pgAddedColumns = (p: string): { table: string; column: string; type: string }[] => [
  { table: `${p}steps`, column: "name", type: "text" },
  { table: `${p}steps`, column: "started_at", type: "bigint" },
  { table: `${p}waits`, column: "name", type: "text" },
];

/** A row when the table ($1, quoted) has the column ($2). */
export const pgColumnPresentSql = `SELECT 1 AS present FROM pg_attribute
  WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`;

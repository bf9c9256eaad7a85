/** SQL of the PostgreSQL driver. `t` is a checked identifier (see `checkTable`). */

/** Columns in the order every statement inserts and selects them. */
export const COLUMNS = `env, internal_id, id, name, data, "user", ts, v, received_at, source, source_id`;

/**
 * Schema, run inside one transaction after `pg_advisory_xact_lock`, so concurrent first
 * uses (several gateway processes starting at once) do not race on `CREATE ... IF NOT EXISTS`.
 * `internal_id` uses the "C" collation so ordering is bytewise, the same in every driver.
 */
export const schemaStatements = (t: string): string[] => [
  `CREATE TABLE IF NOT EXISTS "${t}" (
    env text NOT NULL,
    internal_id text COLLATE "C" NOT NULL,
    id text,
    name text NOT NULL,
    data jsonb NOT NULL,
    "user" jsonb,
    ts bigint NOT NULL,
    v text,
    received_at bigint NOT NULL,
    source text,
    source_id text,
    CONSTRAINT "${t}_pkey" PRIMARY KEY (env, internal_id)
  )`,
  // Added after the first release: a table created before gets them (old rows read null).
  // Checked first, so that a start with the columns in place takes no ACCESS EXCLUSIVE lock
  // (an ALTER would queue every append behind a running scan).
  `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '"${t}"'::regclass AND attname = 'source_id' AND NOT attisdropped) THEN
      ALTER TABLE "${t}" ADD COLUMN IF NOT EXISTS source text, ADD COLUMN IF NOT EXISTS source_id text;
    END IF;
  END $$`,
  `CREATE INDEX IF NOT EXISTS "${t}_env_time" ON "${t}" (env, received_at DESC, internal_id DESC)`,
  `CREATE INDEX IF NOT EXISTS "${t}_env_name_time" ON "${t}" (env, name, received_at DESC, internal_id DESC)`,
];

/** Lock taken while creating the schema: one per table name. */
export const schemaLockSql = `SELECT pg_advisory_xact_lock(hashtext('evt/store:' || $1))`;

/**
 * One statement per append, whatever the batch size: one array parameter per column
 * (11 parameters, far below the 65,535 limit). Rows are inserted in array order, so with
 * duplicates in one call the first one wins.
 */
export const insertSql = (t: string) =>
  `INSERT INTO "${t}" (${COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::int8[], $8::text[], $9::int8[], $10::text[], $11::text[])
ON CONFLICT (env, internal_id) DO NOTHING`;

export const getSql = (t: string) =>
  `SELECT ${COLUMNS} FROM "${t}" WHERE env = $1 AND internal_id = $2`;

export const hasSql = (t: string) =>
  `SELECT internal_id FROM "${t}" WHERE env = $1 AND internal_id = ANY($2::text[])`;

/** Optional filters of a `list` statement. */
export interface ListShape {
  name: boolean;
  since: boolean;
  until: boolean;
  after: boolean;
}

/** SQL of an event's size, the same sum as `rowBytes` in `query.ts` (`null` counts 4). */
const SIZE = `(128 + octet_length(env) + octet_length(internal_id) + coalesce(octet_length(id), 4) + octet_length(name) + octet_length(data::text) + coalesce(octet_length("user"::text), 4) + coalesce(octet_length(v), 4))::int8`;

/**
 * Parameters in order: env, [name], [since], [until], [afterReceivedAt, afterInternalId],
 * limit + 1, limit, maxBytes. The inner query sizes at most `limit + 1` rows without sending
 * them; the outer one returns the rows that fit in `maxBytes` (always the first) with their
 * columns, plus the next row (the first past the budget, or the second) with `data`/`"user"`
 * null when it does not fit: it only tells that another page exists.
 */
export function listSql(t: string, s: ListShape): string {
  let n = 1;
  const p = () => `$${++n}`;
  let keys = `SELECT internal_id, received_at, ${SIZE} AS size FROM "${t}" WHERE env = $1`;
  if (s.name) keys += ` AND name = ${p()}`;
  if (s.since) keys += ` AND received_at >= ${p()}::int8`;
  if (s.until) keys += ` AND received_at < ${p()}::int8`;
  if (s.after) keys += ` AND (received_at, internal_id) < (${p()}::int8, ${p()}::text)`;
  keys += ` ORDER BY received_at DESC, internal_id DESC LIMIT ${p()}`;
  const limit = p();
  const max = p();
  const fits = `(k.n = 1 OR (k.n <= ${limit}::int8 AND k.before + k.size <= ${max}::int8))`;
  return `WITH k AS (
  SELECT internal_id, size, row_number() OVER o AS n, sum(size) OVER o - size AS before
  FROM (${keys}) r
  WINDOW o AS (ORDER BY received_at DESC, internal_id DESC ROWS UNBOUNDED PRECEDING)
)
SELECT e.env, e.internal_id, e.id, e.name, CASE WHEN ${fits} THEN e.data END AS data,
  CASE WHEN ${fits} THEN e."user" END AS "user", e.ts, e.v, e.received_at, e.source, e.source_id,
  k.size
FROM k JOIN "${t}" e ON e.env = $1 AND e.internal_id = k.internal_id
WHERE k.n <= 2 OR k.before <= ${max}::int8
ORDER BY e.received_at DESC, e.internal_id DESC`;
}

/**
 * The first environment after `$1` (`''` for the first): an index seek on the primary key.
 * Retention walks environments this way and deletes one time range per environment, so no
 * global `received_at` index is needed (it would cost every append and tempt the planner to
 * scan it for `list` instead of the per-environment index).
 */
export const nextEnvSql = (t: string) => `SELECT min(env) AS env FROM "${t}" WHERE env > $1`;

/**
 * Every environment with its event count and latest receive time, in one statement. Exact
 * counts need a scan: of the table (parallel seq scan) or of the `_env_time` index (index-only
 * scan), the planner's choice, in time proportional to the events stored (about 1 s for 2
 * million events on a laptop-class machine, either plan). The statement is bounded by
 * `timeoutMs` like every call, so on a table past a few million events raise `timeoutMs` or
 * expect `unavailable`. The few result rows sort `COLLATE "C"` (bytewise), like every driver,
 * whatever the database's collation.
 */
export const listEnvsSql = (t: string) =>
  `SELECT env, count(*) AS events, max(received_at) AS last FROM "${t}" GROUP BY env ORDER BY env COLLATE "C"`;

/** One retention batch in one environment; repeated until it deletes fewer rows than the batch. */
export const deleteBatchSql = (t: string) =>
  `DELETE FROM "${t}" WHERE ctid = ANY(ARRAY(SELECT ctid FROM "${t}" WHERE env = $1 AND received_at < $2::int8 LIMIT $3))`;

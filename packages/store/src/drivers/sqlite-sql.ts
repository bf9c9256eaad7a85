/** SQL of the SQLite driver. `t` is a checked identifier (see `checkTable`). */

/** Columns in the order every statement binds and selects them. */
export const COLUMNS = `env, internal_id, id, name, data, "user", ts, v, received_at`;

/** Schema: a rowid table (rows hold JSON, so no WITHOUT ROWID) and the read/retention indexes. */
export const schemaSql = (t: string) => `
CREATE TABLE IF NOT EXISTS "${t}" (
  env TEXT NOT NULL,
  internal_id TEXT NOT NULL,
  id TEXT,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  "user" TEXT,
  ts INTEGER NOT NULL,
  v TEXT,
  received_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "${t}_env_id" ON "${t}" (env, internal_id);
CREATE INDEX IF NOT EXISTS "${t}_env_time" ON "${t}" (env, received_at DESC, internal_id DESC);
CREATE INDEX IF NOT EXISTS "${t}_env_name_time" ON "${t}" (env, name, received_at DESC, internal_id DESC);
CREATE INDEX IF NOT EXISTS "${t}_time" ON "${t}" (received_at);
`;

export const insertSql = (t: string) =>
  `INSERT INTO "${t}" (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (env, internal_id) DO NOTHING`;

export const getSql = (t: string) =>
  `SELECT ${COLUMNS} FROM "${t}" WHERE env = ? AND internal_id = ?`;

/** `has` in one statement: the ids travel as one JSON array parameter. */
export const hasSql = (t: string) =>
  `SELECT internal_id FROM "${t}" WHERE env = ? AND internal_id IN (SELECT value FROM json_each(?))`;

/** Which optional filters a `list` statement has; each combination is prepared once. */
export interface ListShape {
  name: boolean;
  since: boolean;
  until: boolean;
  after: boolean;
}

/** Parameters in order: env, [name], [since], [until], [afterReceivedAt, afterInternalId], limit. */
export const listSql = (t: string, s: ListShape) =>
  [
    `SELECT ${COLUMNS} FROM "${t}" WHERE env = ?`,
    s.name ? " AND name = ?" : "",
    s.since ? " AND received_at >= ?" : "",
    s.until ? " AND received_at < ?" : "",
    s.after ? " AND (received_at, internal_id) < (?, ?)" : "",
    " ORDER BY received_at DESC, internal_id DESC LIMIT ?",
  ].join("");

/** One retention batch; repeated until it deletes fewer rows than the batch size. */
export const deleteBatchSql = (t: string) =>
  `DELETE FROM "${t}" WHERE rowid IN (SELECT rowid FROM "${t}" WHERE received_at < ? LIMIT ?)`;

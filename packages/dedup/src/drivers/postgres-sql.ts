/**
 * SQL of the PostgreSQL driver. `T` is the quoted table name, `I` the quoted index name.
 *
 * Columns: `namespace` (tenant), `key` and `value` as bytea (a key may contain NUL, which a
 * text column cannot hold), `expires_at`, and `claimed_by`, the id of the transaction that
 * claimed the current window, which tells "we won" from "someone else won" exactly.
 */
export function schemaSql(T: string, I: string, unlogged: boolean): string {
  return `CREATE ${unlogged ? "UNLOGGED " : ""}TABLE IF NOT EXISTS ${T} (
  namespace text NOT NULL,
  key bytea NOT NULL,
  value bytea NOT NULL,
  expires_at timestamptz NOT NULL,
  claimed_by xid8 NOT NULL,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS ${I} ON ${T} (expires_at);`;
}

/**
 * Claims a whole batch in one statement. $1 namespace, $2 keys (bytea[], distinct, sorted so
 * that concurrent batches lock rows in one order and cannot deadlock), $3 values (bytea[]),
 * $4 ttl in ms.
 *
 * A free key is inserted; an expired row is taken over; a live row is left as it is but still
 * "updated" (to the same values) so that RETURNING yields the winner's value even when the
 * winner committed after this statement began. `claimed_by = pg_current_xact_id()` is true
 * exactly for the rows this statement inserted or took over.
 */
export function claimSql(T: string): string {
  return `INSERT INTO ${T} AS t (namespace, key, value, expires_at, claimed_by)
SELECT $1::text, i.k, i.v, now() + $4::bigint * interval '1 millisecond', pg_current_xact_id()
FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS i(k, v, n)
ORDER BY i.n
ON CONFLICT (namespace, key) DO UPDATE SET
  value = CASE WHEN t.expires_at <= now() THEN EXCLUDED.value ELSE t.value END,
  claimed_by = CASE WHEN t.expires_at <= now() THEN EXCLUDED.claimed_by ELSE t.claimed_by END,
  expires_at = CASE WHEN t.expires_at <= now() THEN EXCLUDED.expires_at ELSE t.expires_at END
RETURNING t.key, t.value, t.claimed_by = pg_current_xact_id() AS fresh`;
}

/** Compare-and-delete of a batch: $1 namespace, $2 keys, $3 values. */
export function releaseSql(T: string): string {
  return `DELETE FROM ${T} AS t
USING unnest($2::bytea[], $3::bytea[]) AS i(k, v)
WHERE t.namespace = $1::text AND t.key = i.k AND t.value = i.v`;
}

/** Deletes up to $1 expired rows (rechecking expiry, in case a claim took a row over meanwhile). */
export function sweepSql(T: string): string {
  return `DELETE FROM ${T} WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM ${T} WHERE expires_at <= now() LIMIT $1::int
)) AND expires_at <= now()`;
}

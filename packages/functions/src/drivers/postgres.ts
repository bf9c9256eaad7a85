import { createUlidFactory } from "@evt/schema";
import { checkAppendToBatch } from "../batching";
import {
  type ConcurrencySlot,
  concurrencyOf,
  pickWithinLimits,
  type SlotCandidate,
  slotLockId,
} from "../concurrency";
import { FunctionsError } from "../errors";
import {
  checkDebounceInput,
  checkRateLimitInput,
  checkThrottleInput,
  debounceDue,
  MAX_RATE_LIMIT_PERIOD_MS,
} from "../flow-control";
import type {
  AppendToBatchInput,
  AppendToBatchResult,
  AppRecord,
  AttemptInput,
  CreateRunInput,
  CreateRunResult,
  DebounceInput,
  FunctionInput,
  RateLimitInput,
  ReleaseInput,
  RunRecord,
  RunStore,
  StepInput,
  StepRecord,
  SyncAppResult,
  ThrottleInput,
  WaitRecord,
  WaitResolution,
  WaitRunInput,
} from "../run-store";
import {
  type CheckedStep,
  checkApp,
  checkAttempt,
  checkClaim,
  checkCreateRun,
  checkFunctions,
  checkInteger,
  checkRelease,
  checkRunId,
  checkSteps,
  checkTime,
  checkToken,
  checkUrl,
  MAX_CLAIM_LIMIT,
  runIdTaken,
  tablePrefixOption,
  timeoutOption,
} from "../validate";
import { pgBatchSchema, pgBatchSchemaReadySql, pgBatchSql } from "./batch-sql";
import { postgresFlowSchema, postgresFlowSql } from "./flow-sql";
import {
  type PgPool,
  type PgPoolClient,
  type PgQueryConfig,
  type PgResult,
  TYPES,
  toFunctionsError,
} from "./postgres-client";
import {
  finishing,
  pgAddedColumns,
  pgColumnPresentSql,
  schemaLockSql,
  schemaStatements,
  sql,
} from "./postgres-sql";
import {
  type AttemptRow,
  decodeAttempt,
  decodeFunction,
  decodeRun,
  decodeStep,
  type FunctionRow,
  type RunRow,
  type StepRow,
} from "./rows";
import {
  checkResolveWait,
  checkWaitRun,
  checkWaitsSince,
  decodeWait,
  type WaitRow,
} from "./waits-check";
import { postgresWaitsSchema, postgresWaitsSql } from "./waits-sql";

export type { PgPool, PgPoolClient, PgQueryConfig, PgResult };

const DRIVER = "postgres";
/** How long a look that found no runs with concurrency slots is trusted (see `noSlotsUntil`). */
const NO_SLOTS_MS = 1_000;

/** Options of {@link createPostgresRunStore}: give `connectionString` or `pool`. */
export interface PostgresRunStoreOptions {
  /** Connection string, e.g. `postgres://user@127.0.0.1:5432/evt`. The store owns this pool. */
  connectionString?: string;
  /** An existing `pg` Pool to use instead (for example the event store's). The store never ends it. */
  pool?: PgPool;
  /** Prefix of the table names (a plain identifier, at most 40 characters). @default "evt_fn_" */
  tablePrefix?: string;
  /**
   * Bound on every call: connecting, waiting for a pooled connection and each statement.
   * Past it the call fails with a retryable `unavailable` error instead of hanging. On a pool
   * the store creates this also sets `statement_timeout`, so the server stops the work.
   * @default 2000
   */
  timeoutMs?: number;
  /** Connections of the pool created from `connectionString`. @default 10 */
  max?: number;
  /**
   * Create the tables and indexes on first use (under an advisory lock, safe when several
   * gateways start at once). Set `false` when `migrate()` runs at deploy time.
   * @default true
   */
  autoMigrate?: boolean;
}

/** The PostgreSQL run store: a {@link RunStore} plus {@link PostgresRunStore.migrate}. */
export interface PostgresRunStore extends RunStore {
  /** Create the tables and indexes if missing (idempotent, safe under concurrent callers). */
  migrate(): Promise<void>;
}

type Sql = ReturnType<typeof sql>;

/** A step per id, the last given winning, in the order ids were first given. */
function lastPerStep(steps: CheckedStep[]): CheckedStep[] {
  const byId = new Map<string, CheckedStep>();
  for (const s of steps) byId.set(s.stepId, s);
  return [...byId.values()];
}

/**
 * The run store of several gateways: PostgreSQL through `pg` (loaded on first use). Claims
 * are one `UPDATE` of rows picked with `FOR UPDATE SKIP LOCKED` through a partial index on
 * `due_at`, so any number of claimers share the due runs without waiting on each other and
 * never get the same run. Every call is one transaction, bounded by `timeoutMs`; connection
 * trouble is a retryable `unavailable` error.
 *
 * @example
 * ```ts
 * import { createPostgresRunStore } from "@evt/functions/postgres";
 *
 * const runs = createPostgresRunStore({ connectionString: process.env.DATABASE_URL! });
 * await runs.createRun({ functionId: "my-app-send-welcome", eventInternalId: "01JD0000000000000000000000",
 *   env: "production", dueAt: Date.now() });
 * for (const run of await runs.claimDue(Date.now(), "gateway-1", 30_000, 100)) {
 *   // call the function, then:
 *   await runs.release(run.runId, "gateway-1", { status: "completed", output: { ok: true }, now: Date.now() });
 * }
 * await runs.close();
 * ```
 */
export function createPostgresRunStore(options: PostgresRunStoreOptions): PostgresRunStore {
  if (typeof options !== "object" || options === null) {
    throw new FunctionsError(
      DRIVER,
      "invalid_input",
      "options must be an object with `connectionString` or `pool`",
    );
  }
  const hasUrl = typeof options.connectionString === "string" && options.connectionString !== "";
  if (hasUrl === (options.pool != null)) {
    throw new FunctionsError(
      DRIVER,
      "invalid_input",
      "options: give exactly one of `connectionString` (a postgres:// URL) or `pool` (a pg Pool)",
    );
  }
  const prefix = tablePrefixOption(DRIVER, options.tablePrefix);
  const timeoutMs = timeoutOption(DRIVER, options.timeoutMs);
  const max =
    options.max === undefined ? 10 : checkInteger(DRIVER, "options.max", options.max, 1, 1_000);
  const autoMigrate = options.autoMigrate ?? true;
  const owned = options.pool == null;
  const s: Sql = sql(prefix);
  const w = postgresWaitsSql(prefix);
  const bq = pgBatchSql(prefix);
  /** The last append of each (function, batch key) in flight, to chain the next one on. */
  const appending = new Map<string, Promise<unknown>>();
  const orderKey = (input: unknown): string => {
    const i = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
    return `${String(i.functionId)}\u0000${String(i.batchKey)}`;
  };
  function inOrder<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = appending.get(key) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const done = mine.catch(() => {});
    appending.set(key, done);
    void done.then(() => {
      if (appending.get(key) === done) appending.delete(key);
    });
    return mine;
  }
  const nextUlid = createUlidFactory();

  let pool: PgPool | null = options.pool ?? null;
  let creating: Promise<PgPool> | null = null;
  let schema: Promise<void> | null = null;
  let closed = false;
  let ended = false;

  async function getPool(): Promise<PgPool> {
    if (pool) return pool;
    creating ??= (async () => {
      let mod: unknown;
      try {
        mod = await import("pg");
      } catch (error) {
        throw new FunctionsError(
          DRIVER,
          "missing_dependency",
          'the postgres driver needs the "pg" package, which could not be loaded; install it next to @evt/functions (npm install pg)',
          { cause: error },
        );
      }
      const pg = ((mod as { default?: unknown }).default ?? mod) as typeof import("pg");
      const created = new pg.Pool({
        connectionString: options.connectionString,
        max,
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        statement_timeout: timeoutMs,
        idleTimeoutMillis: 10_000,
        keepAlive: true,
      });
      // An idle pooled connection that dies (server restart) must not crash the process.
      created.on("error", () => {});
      pool = created as unknown as PgPool;
      return pool;
    })();
    creating.catch(() => {
      creating = null;
    });
    return creating;
  }

  type Query = (text: string, values?: unknown[]) => Promise<PgResult>;
  const on =
    (target: PgPool | PgPoolClient): Query =>
    (text, values = []) =>
      target.query({ text, values, query_timeout: timeoutMs, types: TYPES });

  /** Run `fn` in one transaction on one pooled connection. */
  async function transaction<T>(p: PgPool, fn: (q: Query) => Promise<T>): Promise<T> {
    const client = await p.connect();
    const q = on(client);
    try {
      await q("BEGIN");
      const value = await fn(q);
      await q("COMMIT");
      client.release();
      return value;
    } catch (error) {
      try {
        await q("ROLLBACK");
        client.release();
      } catch {
        client.release(true); // a broken connection is dropped rather than reused
      }
      throw error;
    }
  }

  async function createSchema(p: PgPool): Promise<void> {
    await transaction(p, async (q) => {
      await q(schemaLockSql, [prefix]);
      for (const text of schemaStatements(prefix)) await q(text);
      for (const text of postgresWaitsSchema(prefix)) await q(text);
      for (const text of postgresFlowSchema(prefix)) await q(text);
    });
    // Columns added since the tables' first release, when missing (see pgAddedColumns).
    const missing: { table: string; column: string; type: string }[] = [];
    for (const c of pgAddedColumns(prefix)) {
      const found = await rows(on(p)(pgColumnPresentSql, [`"${c.table}"`, c.column]));
      if (found.length === 0) missing.push(c);
    }
    // One table per transaction: it never holds one table's lock while waiting for another's.
    for (const c of missing) {
      await transaction(p, async (q) => {
        await q(schemaLockSql, [prefix]);
        await q(`ALTER TABLE "${c.table}" ADD COLUMN IF NOT EXISTS ${c.column} ${c.type}`);
      });
    }
    // The batching tables in a transaction of their own, and only when missing: CREATE INDEX
    // locks its table even when the index exists, which would deadlock against appends (they
    // lock open_batches, then batch_events) running on another handle.
    const present = await rows(on(p)(pgBatchSchemaReadySql, [`"${prefix}batch_events_event"`]));
    if (present.length > 0) return;
    await transaction(p, async (q) => {
      await q(schemaLockSql, [prefix]);
      for (const text of pgBatchSchema(prefix)) await q(text);
    });
  }

  function ensureSchema(p: PgPool): Promise<void> {
    if (!autoMigrate) return Promise.resolve();
    schema ??= createSchema(p).catch((error) => {
      schema = null; // try again on the next call
      throw error;
    });
    return schema;
  }

  /**
   * Check the arguments (before touching the database), then run `fn` with the schema in
   * place, within `timeoutMs`, mapping errors to {@link FunctionsError}.
   */
  function call<A, T>(
    op: string,
    check: () => A,
    fn: (p: PgPool, args: A) => Promise<T>,
  ): Promise<T> {
    let args: A;
    try {
      if (closed) throw new FunctionsError(DRIVER, "closed", `${op}: the run store is closed`);
      args = check();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      // The pool's own timeouts usually answer first with a precise reason; this bound covers
      // what they cannot (a pool passed in without timeouts, DNS, TLS).
      const bound = timeoutMs * 2 + 100;
      const timer = setTimeout(() => {
        reject(
          new FunctionsError(
            DRIVER,
            "unavailable",
            `${op} failed: PostgreSQL did not answer within ${bound} ms (options.timeoutMs is ${timeoutMs}); retry later`,
          ),
        );
      }, bound);
      (async () => {
        const p = await getPool();
        await ensureSchema(p);
        return fn(p, args);
      })().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(toFunctionsError(op, error));
        },
      );
    });
  }

  const rows = async <R>(result: Promise<PgResult>) => (await result).rows as R[];
  const changed = async (result: Promise<PgResult>) => (await result).rowCount === 1;
  /**
   * Until when (real time) claims skip the look for runs with slots: set for a second when a
   * look found no run with active slots at all, so a store without concurrency claims with
   * one statement as before. Reset when this store creates or replays a run (other gateways'
   * new runs are seen within that second, as within their poll).
   */
  let noSlotsUntil = 0;
  /** Runs with slots this store created or replayed: a look that began before one proves nothing. */
  let slotWrites = 0;
  const slotsWritten = () => {
    slotWrites++;
    noSlotsUntil = 0;
  };
  const f = postgresFlowSql(prefix);
  const releaseFinal = finishing(prefix, s.release);
  // A cancelled run frees its slots and leaves no wait behind.
  const cancelFinal = finishing(
    prefix,
    s.cancel,
    `DELETE FROM "${prefix}waits" WHERE run_id IN (SELECT run_id FROM u)`,
  );

  /**
   * Claim due runs with concurrency slots, up to `limit`. A look without a transaction finds
   * the candidates (none: done); then, in one transaction, the candidates' slots are locked
   * (`pg_advisory_xact_lock`, in ascending order), their runs in flight counted afresh, the
   * candidates still due locked (`SKIP LOCKED`), and those under every limit leased. Two
   * claimers of one slot run one after the other, so together they never pass the limit.
   */
  async function claimWithSlots(
    p: PgPool,
    now: number,
    owner: string,
    until: number,
    limit: number,
  ): Promise<RunRecord[]> {
    type Row = { run_id: string; slot_key: string; lim: number | null };
    // More than `limit`: some may lose to a claimer in between, or to each other's slots.
    if (Date.now() < noSlotsUntil) return [];
    const writes = slotWrites;
    const checkedAt = Date.now();
    const found = await rows<Row>(on(p)(s.slotCandidates, [now, Math.min(limit * 4, 4000)]));
    if (found.length === 0) {
      if ((await on(p)(s.anyActiveSlot)).rowCount === 0 && writes === slotWrites) {
        noSlotsUntil = checkedAt + NO_SLOTS_MS;
      }
      return [];
    }
    const byRun = new Map<string, SlotCandidate>();
    for (const row of found) {
      let c = byRun.get(row.run_id);
      if (!c) {
        c = { runId: row.run_id, slots: [] };
        byRun.set(row.run_id, c);
      }
      c.slots.push({ key: row.slot_key, limit: row.lim });
    }
    const keys = [...new Set(found.map((r) => r.slot_key))];
    const locks = [...new Set(keys.map((k) => BigInt(slotLockId(prefix, k))))]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map(String);
    return transaction(p, async (q) => {
      await q(s.lockSlots, [locks]);
      const live = new Map(
        (await rows<{ slot_key: string; n: number }>(q(s.countLive, [now, keys]))).map((r) => [
          r.slot_key,
          r.n,
        ]),
      );
      const free = new Set(
        (await rows<{ run_id: string }>(q(s.lockDue, [[...byRun.keys()], now]))).map(
          (r) => r.run_id,
        ),
      );
      const picked = pickWithinLimits(
        [...byRun.values()].filter((c) => free.has(c.runId)),
        live,
        limit,
      );
      if (picked.length === 0) return [];
      const claimed = (await rows<RunRow>(q(s.claimIds, [now, owner, until, picked]))).map(
        decodeRun,
      );
      const order = new Map(picked.map((id, i) => [id, i]));
      return claimed.sort((a, b) => order.get(a.runId)! - order.get(b.runId)!);
    });
  }

  return {
    driver: DRIVER,

    upsertApp: (app: AppRecord) =>
      call(
        "upsertApp",
        () => checkApp(DRIVER, app),
        async (p, a) => {
          await on(p)(s.upsertApp, [a.url, a.appId, a.sdk, a.framework, a.syncedAt, a.lastError]);
          return a;
        },
      ),

    getApp: (url: string) =>
      call(
        "getApp",
        () => checkUrl(DRIVER, "url", url),
        async (p, u) => decodeApp((await rows<AppRow>(on(p)(s.getApp, [u])))[0]),
      ),

    listApps: () =>
      call(
        "listApps",
        () => null,
        async (p) => (await rows<AppRow>(on(p)(s.listApps))).map((row) => decodeApp(row)!),
      ),

    syncApp: (app: AppRecord, list: readonly FunctionInput[]) =>
      call(
        "syncApp",
        () => ({ a: checkApp(DRIVER, app), fns: checkFunctions(DRIVER, list) }),
        (p, { a, fns }) =>
          transaction(p, async (q): Promise<SyncAppResult> => {
            const url = a.url;
            // The app row is locked first: two syncs of one app run one after the other.
            await q(s.upsertApp, [a.url, a.appId, a.sdk, a.framework, a.syncedAt, a.lastError]);
            // The same app id at another URL is this app, moved: its functions come along.
            const moved = (await q(s.moveAppFunctions, [url, a.appId])).rowCount ?? 0;
            await q(s.dropMovedApps, [url, a.appId]);
            const ids = fns.map((f) => f.id);
            const old = new Map(
              (await rows<FunctionRow>(q(s.lockFunctions, [ids]))).map((r) => [r.id, r]),
            );
            const taken = (i: number, holder: string) =>
              new FunctionsError(
                DRIVER,
                "invalid_input",
                `functions[${i}].id ${JSON.stringify(fns[i]!.id)} is registered by another app (${holder}); function ids are unique across apps`,
              );
            const added: typeof fns = [];
            const updated: typeof fns = [];
            for (const [i, f] of fns.entries()) {
              const row = old.get(f.id);
              if (!row) added.push(f);
              else if (row.app_url !== url) throw taken(i, row.app_url);
              else if (row.name !== f.name || row.config !== f.config || row.step_url !== f.stepUrl)
                updated.push(f);
            }
            const deleted = (await q(s.deleteOtherFunctions, [url, ids])).rowCount ?? 0;
            const cols = (part: typeof fns) => [
              part.map((f) => f.id),
              part.map((f) => f.name),
              part.map((f) => f.config),
              part.map((f) => f.stepUrl),
            ];
            if (added.length > 0) {
              const inserted = new Set(
                (await rows<{ id: string }>(q(s.insertFunctions, [url, ...cols(added)]))).map(
                  (r) => r.id,
                ),
              );
              const lost = added.find((f) => !inserted.has(f.id));
              if (lost) throw taken(fns.indexOf(lost), "a sync that ran at the same time");
            }
            if (updated.length > 0) await q(s.updateFunctions, cols(updated));
            // The limits runs not yet claimed are held to: those registered now.
            await q(s.deleteLimits, [ids]);
            const lim = fns.flatMap((f, i) =>
              concurrencyOf(list[i]!.config).map((c, idx) => ({ id: f.id, idx, limit: c.limit })),
            );
            if (lim.length > 0) {
              await q(s.insertLimits, [
                lim.map((l) => l.id),
                lim.map((l) => l.idx),
                lim.map((l) => l.limit),
              ]);
            }
            const now = new Map(
              (await rows<FunctionRow>(q(s.selectFunctions, [ids]))).map((r) => [r.id, r]),
            );
            return {
              functions: ids.map((id) => decodeFunction(now.get(id)!)),
              modified: moved > 0 || deleted > 0 || added.length > 0 || updated.length > 0,
            };
          }),
      ),

    getFunction: (id: string) =>
      call(
        "getFunction",
        () => checkToken(DRIVER, "id", id),
        async (p, fid) => {
          const row = (await rows<FunctionRow>(on(p)(s.getFunction, [fid])))[0];
          return row ? decodeFunction(row) : null;
        },
      ),

    listFunctions: (appUrl?: string) =>
      call(
        "listFunctions",
        () => (appUrl === undefined ? undefined : checkUrl(DRIVER, "appUrl", appUrl)),
        async (p, url) =>
          (
            await rows<FunctionRow>(
              url === undefined ? on(p)(s.listFunctions) : on(p)(s.listAppFunctions, [url]),
            )
          ).map(decodeFunction),
      ),

    createRun: (input: CreateRunInput) =>
      call(
        "createRun",
        () => checkCreateRun(DRIVER, input),
        async (p, r): Promise<CreateRunResult> => {
          const q = on(p);
          const runId = r.runId ?? nextUlid();
          if (r.concurrency.length > 0) slotsWritten();
          let inserted: RunRow | undefined;
          try {
            const values = [
              runId,
              r.functionId,
              r.eventInternalId,
              r.env,
              r.now,
              r.lease ? r.lease.until : r.dueAt,
              r.lease ? "running" : "queued",
              r.lease ? r.now : null,
              r.lease?.owner ?? null,
              r.lease?.until ?? null,
            ];
            [inserted] = await rows<RunRow>(
              r.concurrency.length === 0
                ? q(s.insertRun, values)
                : q(s.insertRunWithSlots, [
                    ...values,
                    r.concurrency.map((c) => c.idx),
                    r.concurrency.map((c) => c.key),
                  ]),
            );
            if (r.concurrency.length > 0) slotsWritten(); // and once it is committed
          } catch (error) {
            const e = error as { code?: unknown; constraint?: unknown };
            if (e.code === "23505" && e.constraint === `${prefix}runs_pkey`) {
              throw runIdTaken(DRIVER, runId, error);
            }
            throw error;
          }
          if (inserted) return { run: decodeRun(inserted), created: true };
          // The key exists (the insert waited for a concurrent creator to commit, if any): a
          // new statement sees that run.
          const [existing] = await rows<RunRow>(
            q(s.getRunByKey, [r.functionId, r.eventInternalId]),
          );
          if (!existing) {
            throw new FunctionsError(
              DRIVER,
              "unavailable",
              "createRun: the run of this (functionId, eventInternalId) was removed while it was created; retry",
            );
          }
          return { run: decodeRun(existing), created: false };
        },
      ),

    getRun: (runId: string) =>
      call(
        "getRun",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id) => {
          const row = (await rows<RunRow>(on(p)(s.getRun, [id])))[0];
          return row ? decodeRun(row) : null;
        },
      ),

    listRunsForEvent: (eventInternalId: string) =>
      call(
        "listRunsForEvent",
        () => checkToken(DRIVER, "eventInternalId", eventInternalId, 64),
        async (p, id): Promise<RunRecord[]> =>
          (await rows<RunRow>(on(p)(s.listRunsForEvent, [id]))).map(decodeRun),
      ),

    claimDue: (now: number, owner: string, leaseMs: number, limit: number) =>
      call(
        "claimDue",
        () => checkClaim(DRIVER, now, owner, leaseMs, limit),
        async (p, c): Promise<RunRecord[]> => {
          // Runs with concurrency slots first (at most their limits' worth), then the others.
          const out = await claimWithSlots(p, c.now, c.owner, c.now + c.leaseMs, c.limit);
          if (out.length < c.limit) {
            const rest = c.limit - out.length;
            const more = await rows<RunRow>(
              on(p)(s.claim, [c.now, c.owner, c.now + c.leaseMs, rest]),
            );
            for (const row of more) out.push(decodeRun(row));
          }
          return out;
        },
      ),

    renewLease: (runId: string, owner: string, now: number, leaseMs: number) =>
      call(
        "renewLease",
        () => {
          checkRunId(DRIVER, "runId", runId);
          checkToken(DRIVER, "owner", owner);
          return (
            checkTime(DRIVER, "now", now) + checkInteger(DRIVER, "leaseMs", leaseMs, 1, 86_400_000)
          );
        },
        (p, until) => changed(on(p)(s.renew, [until, runId, owner])),
      ),

    release: (runId: string, owner: string, update: ReleaseInput) =>
      call(
        "release",
        () => {
          checkRunId(DRIVER, "runId", runId);
          checkToken(DRIVER, "owner", owner);
          return checkRelease(DRIVER, update);
        },
        async (p, u) => {
          const values = [
            u.status,
            u.dueAt,
            u.status === "queued" ? null : u.now,
            u.attempt ?? null,
            u.output ?? null,
            u.error ?? null,
            runId,
            owner,
          ];
          if (u.status === "queued") return changed(on(p)(s.release, values));
          // A finished run frees its concurrency slots for good.
          return (await rows<{ n: number }>(on(p)(releaseFinal, values)))[0]?.n === 1;
        },
      ),

    cancelRun: (runId: string, now: number) =>
      call(
        "cancelRun",
        () => {
          checkRunId(DRIVER, "runId", runId);
          return checkTime(DRIVER, "now", now);
        },
        async (p, at) => (await rows<{ n: number }>(on(p)(cancelFinal, [at, runId])))[0]?.n === 1,
      ),

    replayRun: (runId: string, now: number) =>
      call(
        "replayRun",
        () => {
          checkRunId(DRIVER, "runId", runId);
          return checkTime(DRIVER, "now", now);
        },
        (p, at) => {
          slotsWritten();
          return transaction(p, async (q) => {
            const row = (await rows<RunRow>(q(s.replay, [at, runId])))[0];
            if (!row) return null;
            await q(s.deleteSteps, [runId]);
            await q(s.deleteAttempts, [runId]);
            await q(w.deleteRunWaits, [runId]);
            await q(s.activateSlots, [runId]);
            return decodeRun(row);
          }).finally(slotsWritten);
        },
      ),

    listActiveRuns: (functionId: string, limit: number) =>
      call(
        "listActiveRuns",
        () => ({
          id: checkToken(DRIVER, "functionId", functionId),
          n: checkInteger(DRIVER, "limit", limit, 1, MAX_CLAIM_LIMIT),
        }),
        async (p, { id, n }) =>
          (await rows<RunRow>(on(p)(s.listActiveRuns, [id, n]))).map(decodeRun),
      ),

    expireLeases: (now: number) =>
      call(
        "expireLeases",
        () => checkTime(DRIVER, "now", now),
        async (p, at) => (await on(p)(s.expireLeases, [at])).rowCount ?? 0,
      ),

    countActive: (now: number) =>
      call(
        "countActive",
        () => checkTime(DRIVER, "now", now),
        async (p, at) =>
          (
            await rows<{ queued: number; due: number; running: number }>(on(p)(s.countActive, [at]))
          )[0] ?? {
            queued: 0,
            due: 0,
            running: 0,
          },
      ),

    recordCronTick: (functionId: string, tickAt: number) =>
      call(
        "recordCronTick",
        () => {
          checkToken(DRIVER, "functionId", functionId);
          return checkTime(DRIVER, "tickAt", tickAt);
        },
        async (p, at) => {
          await on(p)(s.recordCronTick, [functionId, at]);
        },
      ),

    lastCronTick: (functionId: string) =>
      call(
        "lastCronTick",
        () => checkToken(DRIVER, "functionId", functionId),
        async (p, id) =>
          (await rows<{ tick: number }>(on(p)(s.lastCronTick, [id])))[0]?.tick ?? null,
      ),

    nextDueAt: () =>
      call(
        "nextDueAt",
        () => null,
        async (p) => (await rows<{ due: number | null }>(on(p)(s.nextDue)))[0]?.due ?? null,
      ),

    saveSteps: (runId: string, owner: string, list: readonly StepInput[]) =>
      call(
        "saveSteps",
        () => {
          checkRunId(DRIVER, "runId", runId);
          checkToken(DRIVER, "owner", owner);
          return lastPerStep(checkSteps(DRIVER, list, Date.now()));
        },
        (p, steps) =>
          transaction(p, async (q) => {
            if ((await q(s.held, [runId, owner])).rowCount !== 1) return false;
            if (steps.length === 0) return true;
            await q(s.upsertSteps, [
              runId,
              steps.map((st) => st.stepId),
              steps.map((st) => st.op),
              steps.map((st) => st.data),
              steps.map((st) => st.error),
              steps.map((st) => st.attempts),
              steps.map((st) => st.updatedAt),
              steps.map((st) => st.name),
              steps.map((st) => st.startedAt),
            ]);
            return true;
          }),
      ),

    listSteps: (runId: string) =>
      call(
        "listSteps",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id): Promise<StepRecord[]> =>
          (await rows<StepRow>(on(p)(s.listSteps, [id]))).map(decodeStep),
      ),

    migrate: () =>
      call(
        "migrate",
        () => null,
        (p) => createSchema(p),
      ),

    // --- waits ---
    waitRun: (runId: string, owner: string, input: WaitRunInput) =>
      call(
        "waitRun",
        () => checkWaitRun(DRIVER, runId, owner, input),
        (p, c) =>
          transaction(p, async (q) => {
            const held = (await rows<{ env: string }>(q(w.lockHeld, [runId, owner])))[0];
            if (!held) return false;
            await q(w.insertWaits, [
              runId,
              held.env,
              c.now,
              c.waits.map((x) => x.stepId),
              c.waits.map((x) => x.kind),
              c.waits.map((x) => x.event),
              c.waits.map((x) => x.expression),
              c.waits.map((x) => x.expiresAt),
              c.waits.map((x) => x.name),
            ]);
            if (c.hold) return true;
            return changed(q(w.waitRelease, [runId, owner, c.now, c.stepsSeen, c.dueBy]));
          }),
      ),

    resolveWait: (runId: string, stepId: string, step: WaitResolution, now: number) =>
      call(
        "resolveWait",
        () => checkResolveWait(DRIVER, runId, stepId, step, now),
        (p, c) =>
          transaction(p, async (q) => {
            // The run first (as waitRun and cancelRun lock it), then its wait: one order, no deadlock.
            const run = (await rows<{ status: string }>(q(w.lockRun, [runId])))[0];
            const gone = await rows<{ created_at: number; name: string | null }>(
              q(w.deleteWait, [runId, stepId]),
            );
            if (gone.length !== 1) return false;
            if (run?.status !== "queued" && run?.status !== "running") return false;
            // The step started when the wait was recorded.
            await q(s.upsertSteps, [
              runId,
              [stepId],
              [c.op],
              [c.data],
              [c.error],
              [1],
              [c.now],
              [gone[0]!.name],
              [gone[0]!.created_at],
            ]);
            await q(w.dueNow, [c.now, runId]);
            return true;
          }),
      ),

    listWaits: (runId: string) =>
      call(
        "listWaits",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id): Promise<WaitRecord[]> =>
          (await rows<WaitRow>(on(p)(w.listWaits, [id]))).map(decodeWait),
      ),

    listWaitsSince: (afterSeq: number, alsoSeqs: readonly number[], limit: number) =>
      call(
        "listWaitsSince",
        () => checkWaitsSince(DRIVER, afterSeq, alsoSeqs, limit),
        async (p, c): Promise<WaitRecord[]> =>
          (await rows<WaitRow>(on(p)(w.waitsSince, [c.after, c.also, c.limit]))).map(decodeWait),
      ),

    countWaits: () =>
      call(
        "countWaits",
        () => null,
        async (p) => (await rows<{ n: number }>(on(p)(w.countWaits)))[0]?.n ?? 0,
      ),

    close: async () => {
      if (closed) return;
      closed = true;
      const p = pool ?? (await creating?.catch(() => null));
      if (p && owned && !ended) {
        ended = true;
        await p.end();
      }
    },

    // --- concurrency ---
    listConcurrencySlots: (runId: string) =>
      call(
        "listConcurrencySlots",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id): Promise<ConcurrencySlot[]> =>
          (await rows<{ idx: number; slot_key: string }>(on(p)(s.listSlots, [id]))).map((r) => ({
            idx: r.idx,
            key: r.slot_key,
          })),
      ),

    // --- batching ---
    // In call order per (function, key): pooled connections could otherwise reorder them. The
    // wait is outside `call`, so a long queue does not count against the statement timeout.
    appendToBatch: (input: AppendToBatchInput) =>
      inOrder(orderKey(input), () =>
        call(
          "appendToBatch",
          () => checkAppendToBatch(DRIVER, input),
          (p, a) =>
            transaction(p, async (q): Promise<AppendToBatchResult> => {
              // Lock the (function, key) row: appends to one batch, from any gateway, are serial.
              // A row deleted by a closing append while this one waited is made again.
              let open: { run_id: string; size: number } | undefined;
              for (let i = 0; i < 5 && open === undefined; i++) {
                await q(bq.ensureOpen, [a.functionId, a.batchKey]);
                [open] = await rows<{ run_id: string; size: number }>(
                  q(bq.lockOpen, [a.functionId, a.batchKey]),
                );
              }
              if (open === undefined) {
                throw new FunctionsError(
                  DRIVER,
                  "unavailable",
                  "appendToBatch: the open batch kept changing under this append; retry",
                );
              }
              const [inBatch] = await rows<{ run_id: string }>(
                q(bq.batchOfEvent, [a.functionId, a.eventInternalId]),
              );
              if (inBatch) {
                const [run] = await rows<RunRow>(q(s.getRun, [inBatch.run_id]));
                const [count] = await rows<{ n: number }>(q(bq.batchSize, [inBatch.run_id]));
                return {
                  run: decodeRun(run!),
                  appended: false,
                  created: false,
                  size: count!.n,
                  closed: open.run_id !== inBatch.run_id,
                };
              }
              const [unbatched] = await rows<RunRow>(
                q(s.getRunByKey, [a.functionId, a.eventInternalId]),
              );
              if (unbatched) {
                return {
                  run: decodeRun(unbatched),
                  appended: false,
                  created: false,
                  size: 0,
                  closed: true,
                };
              }
              const [row] =
                open.run_id === "" ? [] : await rows<RunRow>(q(bq.lockRun, [open.run_id]));
              if (
                row &&
                row.status === "queued" &&
                row.started_at === null &&
                row.due_at !== null &&
                row.due_at > a.now &&
                open.size < a.maxSize
              ) {
                await q(bq.insertEvent, [a.functionId, a.eventInternalId, row.run_id, open.size]);
                const size = open.size + 1;
                const full = size >= a.maxSize;
                let run = row;
                if (full) {
                  await q(bq.deleteOpen, [a.functionId, a.batchKey]);
                  [run = row] = await rows<RunRow>(q(bq.dueNow, [a.now, row.run_id]));
                } else await q(bq.setOpen, [a.functionId, a.batchKey, row.run_id, size]);
                return { run: decodeRun(run), appended: true, created: false, size, closed: full };
              }
              const runId = a.runId ?? nextUlid();
              const full = a.maxSize <= 1;
              let inserted: RunRow | undefined;
              try {
                [inserted] = await rows<RunRow>(
                  q(bq.insertRun, [
                    runId,
                    a.functionId,
                    a.eventInternalId,
                    a.env,
                    a.now,
                    full ? a.now : a.now + a.timeoutMs,
                  ]),
                );
              } catch (error) {
                const e = error as { code?: unknown; constraint?: unknown };
                if (e.code === "23505" && e.constraint === `${prefix}runs_pkey`) {
                  throw runIdTaken(DRIVER, runId, error);
                }
                throw error;
              }
              await q(bq.insertEvent, [a.functionId, a.eventInternalId, runId, 0]);
              if (full) await q(bq.deleteOpen, [a.functionId, a.batchKey]);
              else await q(bq.setOpen, [a.functionId, a.batchKey, runId, 1]);
              return {
                run: decodeRun(inserted!),
                appended: true,
                created: true,
                size: 1,
                closed: full,
              };
            }),
        ),
      ),

    listBatchEvents: (runId: string) =>
      call(
        "listBatchEvents",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id) =>
          (await rows<{ event_internal_id: string }>(on(p)(bq.listEvents, [id]))).map(
            (r) => r.event_internal_id,
          ),
      ),

    closeBatch: (runId: string) =>
      call(
        "closeBatch",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id) => {
          await on(p)(bq.closeBatch, [id]);
        },
      ),

    listBatchRunsForEvent: (eventInternalId: string) =>
      call(
        "listBatchRunsForEvent",
        () => checkToken(DRIVER, "eventInternalId", eventInternalId, 64),
        async (p, id): Promise<RunRecord[]> =>
          (await rows<RunRow>(on(p)(bq.runsForEvent, [id]))).map(decodeRun),
      ),
    // --- flow control ---
    takeRateLimit: (input: RateLimitInput) =>
      call(
        "takeRateLimit",
        () => checkRateLimitInput(DRIVER, input),
        (p, r) =>
          transaction(p, async (q) => {
            // One taker per key at a time (across pools and gateways); the count is read
            // after the lock, so two never both take the last start.
            await q(f.lock, [slotLockId(`${prefix}rate`, r.key)]);
            await q(f.prune, [r.key, r.now - r.periodMs, r.now - MAX_RATE_LIMIT_PERIOD_MS]);
            const [row] = await rows<{ ok: number }>(
              q(f.take, [r.key, r.eventInternalId, r.now, r.limit]),
            );
            return Number(row?.ok) > 0;
          }),
      ),
    reserveThrottle: (input: ThrottleInput) =>
      call(
        "reserveThrottle",
        () => checkThrottleInput(DRIVER, input),
        async (p, t) => {
          const e = Math.ceil(t.periodMs / t.limit);
          const [row] = await rows<{ tat: number }>(on(p)(f.reserve, [t.key, t.now, e]));
          // The new tat is max(tat, now) + e: the start follows from it (see throttleStep).
          return Math.max(t.now, Number(row!.tat) - e - t.burst * e);
        },
      ),
    recordAttempt: (input: AttemptInput) =>
      call(
        "recordAttempt",
        () => checkAttempt(DRIVER, input),
        async (p, a) => {
          await on(p)(s.insertAttempt, [
            a.runId,
            a.attempt,
            a.outcome,
            a.startedAt,
            a.endedAt,
            a.error,
          ]);
        },
      ),
    listAttempts: (runId: string) =>
      call(
        "listAttempts",
        () => checkRunId(DRIVER, "runId", runId),
        async (p, id) => (await rows<AttemptRow>(on(p)(s.listAttempts, [id]))).map(decodeAttempt),
      ),
    listFailedRuns: (limit: number) =>
      call(
        "listFailedRuns",
        () => checkInteger(DRIVER, "limit", limit, 1, MAX_CLAIM_LIMIT),
        async (p, n) => (await rows<RunRow>(on(p)(s.listFailedRuns, [n]))).map(decodeRun),
      ),
    debounceRun: (input: DebounceInput) =>
      call(
        "debounceRun",
        () => checkDebounceInput(DRIVER, input),
        (p, d) =>
          transaction(p, async (q) => {
            // The (function, key) row is the lock: debounces of one key, from any gateway, are serial.
            await q(f.ensureDebounce, [d.functionId, d.key]);
            const [pending] = await rows<{ run_id: string; first_at: number }>(
              q(f.lockDebounce, [d.functionId, d.key]),
            );
            const state = async (id: string) =>
              (await rows<{ status: string; started_at: number | null }>(q(f.runState, [id])))[0];
            if ((await state(d.runId))?.status !== "queued") {
              throw new FunctionsError(
                DRIVER,
                "invalid_input",
                `runId ${d.runId} is not a queued run`,
              );
            }
            let first = d.now;
            let replaced: string | null = null;
            if (pending!.run_id === d.runId) first = Number(pending!.first_at);
            else if (pending!.run_id !== "") {
              const prev = await state(pending!.run_id);
              if (prev?.status === "queued" && prev.started_at === null) {
                await q(cancelFinal, [d.now, pending!.run_id]);
                replaced = pending!.run_id;
                first = Number(pending!.first_at);
              }
            }
            const dueAt = debounceDue(first, d);
            await q(f.setDue, [dueAt, d.runId]);
            await q(f.putDebounce, [d.functionId, d.key, d.runId, first]);
            return { dueAt, replaced };
          }),
      ),
  };
}

interface AppRow {
  url: string;
  app_id: string;
  sdk: string | null;
  framework: string | null;
  synced_at: number | null;
  last_error: string | null;
}

function decodeApp(row: AppRow | undefined): AppRecord | null {
  if (!row) return null;
  return {
    url: row.url,
    appId: row.app_id,
    sdk: row.sdk,
    framework: row.framework,
    syncedAt: row.synced_at,
    lastError: row.last_error,
  };
}

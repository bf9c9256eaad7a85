import { createUlidFactory } from "@evt/schema";
import type BetterSqlite3 from "better-sqlite3";
import { checkAppendToBatch } from "../batching";
import {
  type ConcurrencySlot,
  concurrencyOf,
  pickWithinLimits,
  type SlotCandidate,
} from "../concurrency";
import { describeError, FunctionsError } from "../errors";
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
  AttemptRecord,
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
import { sqliteBatchSchema, sqliteBatchSql } from "./batch-sql";
import { sqliteFlowSchema, sqliteFlowSql } from "./flow-sql";
import {
  decodeAttempt,
  decodeFunction,
  decodeRun,
  decodeStep,
  type FunctionRow,
  type RunRow,
} from "./rows";
import { addedColumns, schemaSql, sql } from "./sqlite-sql";
import {
  checkResolveWait,
  checkWaitRun,
  checkWaitsSince,
  decodeWait,
  type WaitRow,
} from "./waits-check";
import { sqliteWaitsSchema, sqliteWaitsSql } from "./waits-sql";

const DRIVER = "sqlite";
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM)/;

/**
 * The parts of a `better-sqlite3` `Database` this driver uses. Any `new Database(...)` from
 * `better-sqlite3` fits; the type is structural so `@types/better-sqlite3` is not required.
 */
export interface SqliteDatabase {
  prepare(sql: string): unknown;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction(fn: (...args: never[]) => unknown): unknown;
  close(): unknown;
  readonly open: boolean;
}

/**
 * One transaction shared by several stores on one connection, committed once per turn of the
 * event loop (the gateway's coordinator fits; any object with this `join` does). The type is
 * structural so that packages sharing a file import nothing from each other.
 */
export interface SqliteSharedCommit {
  /** Adds `part` to the next shared transaction (a coordinator runs it in a later turn). */
  join(part: SqliteCommitPart): void;
}

/** What a store contributes to a {@link SqliteSharedCommit}. */
export interface SqliteCommitPart {
  /** Runs the store's statements inside the open shared transaction; a throw rolls it all back. */
  write(): void;
  /** The shared transaction holding this part's `write` committed. */
  committed(): void;
  /** The shared transaction was rolled back (or the part is alone): commit on your own now. */
  alone(): void;
  /**
   * `false`: the part needs no fsync at its commit (`synchronous=NORMAL`: it survives a crash
   * of the process, not a power loss), so a turn holding only such parts may commit without
   * one. @default true
   */
  durable?: boolean;
}

/** Options of {@link createSqliteRunStore}: give `path` or `database`. */
export interface SqliteRunStoreOptions {
  /**
   * Database file to open (created if missing), or `":memory:"`. The store opens it with
   * `journal_mode=WAL` and `synchronous=FULL`, and closes it on `close()`. Several stores (in
   * one process or several) may open the same file: claims are exclusive across them.
   */
  path?: string;
  /**
   * An open `better-sqlite3` database to use instead of `path`, for example the one the event
   * store writes to, so that events and runs can share a file. The store does not close it.
   */
  database?: SqliteDatabase;
  /**
   * With `database`: commit writes in this shared transaction (one commit with the other
   * stores on the connection) instead of a group commit of their own. Each call still
   * resolves only after the commit that holds it.
   */
  sharedCommit?: SqliteSharedCommit;
  /** Prefix of the table names (a plain identifier). @default "evt_fn_" */
  tablePrefix?: string;
  /**
   * How long a call waits for a lock held by another connection (`busy_timeout`) before it
   * fails with a retryable `unavailable` error.
   * @default 2000
   */
  timeoutMs?: number;
}

type Statement = BetterSqlite3.Statement;
type Sql = ReturnType<typeof sql>;
type BatchSql = ReturnType<typeof sqliteBatchSql>;

interface Ready {
  db: BetterSqlite3.Database;
  s: { [K in keyof Sql]: Statement };
  w: { [K in keyof ReturnType<typeof sqliteWaitsSql>]: Statement };
  /** Batching statements. */
  b: { [K in keyof BatchSql]: Statement };
}

function toFunctionsError(op: string, error: unknown): FunctionsError {
  if (error instanceof FunctionsError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const transient = typeof code === "string" && TRANSIENT.test(code);
  return new FunctionsError(
    DRIVER,
    transient ? "unavailable" : "failed",
    `${op} failed: ${describeError(error)}${typeof code === "string" ? ` (${code})` : ""}`,
    { cause: error },
  );
}

/**
 * The embedded run store: one SQLite file through `better-sqlite3` (loaded on first use), in
 * WAL mode. Every call is one transaction; claims take the write lock first (`BEGIN
 * IMMEDIATE`), so two stores on one file never claim the same run. Due runs are found by a
 * partial index on `due_at` of queued and running runs.
 *
 * @example
 * ```ts
 * import { createSqliteRunStore } from "@evt/functions/sqlite";
 *
 * const runs = createSqliteRunStore({ path: "./.evt/runs.db" });
 * await runs.createRun({ functionId: "my-app-send-welcome", eventInternalId: "01JD0000000000000000000000",
 *   env: "dev", dueAt: Date.now() });
 * for (const run of await runs.claimDue(Date.now(), "gateway-1", 30_000, 100)) {
 *   // call the function, then:
 *   await runs.release(run.runId, "gateway-1", { status: "completed", output: { ok: true }, now: Date.now() });
 * }
 * await runs.close();
 * ```
 */
export function createSqliteRunStore(options: SqliteRunStoreOptions): RunStore {
  if (typeof options !== "object" || options === null) {
    throw new FunctionsError(
      DRIVER,
      "invalid_input",
      "options must be an object with `path` (a file or ':memory:') or `database`",
    );
  }
  const hasPath = typeof options.path === "string" && options.path.length > 0;
  if (hasPath === (options.database != null)) {
    throw new FunctionsError(
      DRIVER,
      "invalid_input",
      "options: give exactly one of `path` (a file or ':memory:') or `database` (an open better-sqlite3 Database)",
    );
  }
  const prefix = tablePrefixOption(DRIVER, options.tablePrefix);
  const timeoutMs = timeoutOption(DRIVER, options.timeoutMs);
  const owned = options.database == null;
  const shared = options.sharedCommit;
  if (shared !== undefined && (owned || typeof shared?.join !== "function")) {
    throw new FunctionsError(
      DRIVER,
      "invalid_input",
      "options.sharedCommit needs options.database and an object with a join(part) method",
    );
  }
  const nextUlid = createUlidFactory();
  let ready: Ready | null = null;
  let opening: Promise<Ready> | null = null;
  let closed = false;
  type FlowStatements = Record<keyof ReturnType<typeof sqliteFlowSql>, BetterSqlite3.Statement>;
  let flow: { db: BetterSqlite3.Database; s: FlowStatements } | null = null;
  /** The flow-control statements, prepared on first use. */
  const flowStatements = (db: BetterSqlite3.Database): FlowStatements => {
    if (flow?.db !== db) {
      const text = sqliteFlowSql(prefix);
      const s = Object.fromEntries(Object.entries(text).map(([k, v]) => [k, db.prepare(v)]));
      flow = { db, s: s as FlowStatements };
    }
    return flow.s;
  };

  async function open(): Promise<Ready> {
    let db: BetterSqlite3.Database;
    if (owned) {
      let mod: unknown;
      try {
        mod = await import("better-sqlite3");
      } catch (error) {
        throw new FunctionsError(
          DRIVER,
          "missing_dependency",
          'the sqlite driver needs the "better-sqlite3" package, which could not be loaded; install it next to @evt/functions (npm install better-sqlite3)',
          { cause: error },
        );
      }
      const Database = ((mod as { default?: unknown }).default ?? mod) as typeof BetterSqlite3;
      db = new Database(options.path!, { timeout: timeoutMs });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
    } else {
      db = options.database as unknown as BetterSqlite3.Database;
      if (options.timeoutMs !== undefined) db.pragma(`busy_timeout = ${timeoutMs}`);
    }
    try {
      db.exec(schemaSql(prefix));
      db.exec(sqliteWaitsSchema(prefix));
      for (const c of addedColumns(prefix)) {
        const have = db.pragma(`table_info("${c.table}")`) as { name: string }[];
        if (!have.some((col) => col.name === c.column))
          db.exec(`ALTER TABLE "${c.table}" ADD COLUMN ${c.column} ${c.type}`);
      }
      const text = sql(prefix);
      const s = {} as Ready["s"];
      for (const key of Object.keys(text) as (keyof Sql)[]) s[key] = db.prepare(text[key]);
      db.exec(sqliteFlowSchema(prefix));
      const waitText = sqliteWaitsSql(prefix);
      const w = {} as Ready["w"];
      for (const key of Object.keys(waitText) as (keyof Ready["w"])[])
        w[key] = db.prepare(waitText[key]);
      db.exec(sqliteBatchSchema(prefix));
      const batchText = sqliteBatchSql(prefix);
      const b = {} as Ready["b"];
      for (const key of Object.keys(batchText) as (keyof BatchSql)[])
        b[key] = db.prepare(batchText[key]);
      return { db, s, w, b };
    } catch (error) {
      if (owned) db.close();
      throw error;
    }
  }

  async function use(op: string): Promise<Ready> {
    if (closed) throw new FunctionsError(DRIVER, "closed", `${op}: the run store is closed`);
    if (ready) return ready;
    opening ??= open().then(
      (r) => {
        if (closed) {
          if (owned) r.db.close();
          throw new FunctionsError(
            DRIVER,
            "closed",
            `${op}: the run store was closed while opening`,
          );
        }
        ready = r;
        return r;
      },
      (error) => {
        opening = null; // try again on the next call
        throw toFunctionsError(`${op}: opening ${options.path ?? "the database"}`, error);
      },
    );
    return opening;
  }

  /** The rows of one run that statement `op` selects (it takes the run id), decoded. */
  function readByRun<T>(
    op: "listSteps" | "listAttempts",
    runId: string,
    decode: (row: unknown) => T,
  ): Promise<T[]> {
    return tx(
      op,
      () => checkRunId(DRIVER, "runId", runId),
      ({ s }, id) => s[op].all(id).map(decode),
      false,
    );
  }

  /**
   * Check the arguments (before touching the database), then run `fn` in one transaction
   * (`BEGIN IMMEDIATE` when it writes, so it never has to upgrade a read lock).
   */
  async function tx<A, T>(
    op: string,
    check: () => A,
    fn: (r: Ready, args: A) => T,
    write = true,
  ): Promise<T> {
    const args = check();
    const r = await use(op);
    if (!write) {
      try {
        return fn(r, args);
      } catch (error) {
        throw toFunctionsError(op, error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      queue.push({
        op,
        r,
        run: () => fn(r, args),
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      if (!flushing) schedule();
    });
  }

  /**
   * Group commit: the writes asked for in one turn of the event loop share one transaction
   * (one fsync), each in a savepoint of its own, so one that fails leaves the others stored
   * and is itself stored not at all. Each call resolves only once the transaction committed.
   */
  interface Queued {
    op: string;
    r: Ready;
    run: () => unknown;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }
  const queue: Queued[] = [];
  let flushing = false;
  type Result = { ok: true; value: unknown } | { ok: false; error: unknown };

  /** Runs each write in a savepoint of its own, inside the open transaction. */
  function writeAll(batch: Queued[]): Result[] {
    const { db } = batch[0]!.r;
    const results: Result[] = [];
    for (const item of batch) {
      try {
        results.push({ ok: true, value: db.transaction(item.run)() });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    return results;
  }

  function settle(batch: Queued[], results: Result[]): void {
    batch.forEach((item, i) => {
      const result = results[i]!;
      if (result.ok) item.resolve(result.value);
      else item.reject(toFunctionsError(item.op, result.error));
    });
  }

  /** Queues the next flush: a turn of its own, or a part of the shared transaction. */
  function schedule(): void {
    flushing = true;
    if (!shared) {
      setImmediate(flush);
      return;
    }
    let batch: Queued[] = [];
    let results: Result[] = [];
    shared.join({
      write() {
        flushing = false;
        batch = queue.splice(0);
        results = batch.length === 0 ? [] : writeAll(batch);
      },
      committed() {
        settle(batch, results);
      },
      alone() {
        // Rolled back with the other stores' work (or alone in this turn): commit these
        // writes in a transaction of their own.
        queue.unshift(...batch);
        batch = [];
        flush();
      },
    });
  }

  function flush(): void {
    flushing = false;
    const batch = queue.splice(0);
    if (batch.length === 0) return;
    const { db } = batch[0]!.r;
    let results: Result[] = [];
    try {
      db.transaction(() => {
        results = writeAll(batch);
      }).immediate();
    } catch (error) {
      for (const item of batch) item.reject(toFunctionsError(item.op, error));
      return;
    }
    settle(batch, results);
  }

  return {
    driver: DRIVER,

    upsertApp: (app: AppRecord) =>
      tx(
        "upsertApp",
        () => checkApp(DRIVER, app),
        ({ s }, a) => {
          s.upsertApp.run(a.url, a.appId, a.sdk, a.framework, a.syncedAt, a.lastError);
          return a;
        },
      ),

    getApp: (url: string) =>
      tx(
        "getApp",
        () => checkUrl(DRIVER, "url", url),
        ({ s }, u) => decodeApp(s.getApp.get(u) as AppRow | undefined),
        false,
      ),

    listApps: () =>
      tx(
        "listApps",
        () => null,
        ({ s }) => (s.listApps.all() as AppRow[]).map((row) => decodeApp(row)!),
        false,
      ),

    syncApp: (app: AppRecord, list: readonly FunctionInput[]) =>
      tx(
        "syncApp",
        () => ({ a: checkApp(DRIVER, app), fns: checkFunctions(DRIVER, list) }),
        ({ s }, { a, fns }): SyncAppResult => {
          const url = a.url;
          let modified = false;
          s.upsertApp.run(a.url, a.appId, a.sdk, a.framework, a.syncedAt, a.lastError);
          // The same app id at another URL is this app, moved (a new port, a new host): its
          // functions come along and the old URL is forgotten.
          if (s.moveAppFunctions.run({ url, appId: a.appId }).changes > 0) modified = true;
          s.dropMovedApps.run({ url, appId: a.appId });
          const keep = new Set(fns.map((f) => f.id));
          for (const old of s.listAppFunctions.all(url) as FunctionRow[]) {
            if (!keep.has(old.id)) {
              s.deleteFunction.run(old.id);
              modified = true;
            }
          }
          for (const [i, f] of fns.entries()) {
            const old = s.getFunction.get(f.id) as FunctionRow | undefined;
            if (!old) {
              s.insertFunction.run(f.id, url, f.name, f.config, f.stepUrl);
              modified = true;
            } else if (old.app_url !== url) {
              throw new FunctionsError(
                DRIVER,
                "invalid_input",
                `functions[${i}].id ${JSON.stringify(f.id)} is registered by another app (${old.app_url}); function ids are unique across apps`,
              );
            } else if (
              old.name !== f.name ||
              old.config !== f.config ||
              old.step_url !== f.stepUrl
            ) {
              s.updateFunction.run(f.name, f.config, f.stepUrl, f.id);
              modified = true;
            }
          }
          // The limits runs not yet claimed are held to: those registered now.
          s.deleteOrphanLimits.run();
          for (const [i, f] of fns.entries()) {
            s.deleteLimits.run(f.id);
            for (const [idx, c] of concurrencyOf(list[i]!.config).entries())
              s.insertLimit.run(f.id, idx, c.limit);
          }
          return {
            functions: fns.map((f) => decodeFunction(s.getFunction.get(f.id) as FunctionRow)),
            modified,
          };
        },
      ),

    getFunction: (id: string) =>
      tx(
        "getFunction",
        () => checkToken(DRIVER, "id", id),
        ({ s }, fid) => {
          const row = s.getFunction.get(fid) as FunctionRow | undefined;
          return row ? decodeFunction(row) : null;
        },
        false,
      ),

    listFunctions: (appUrl?: string) =>
      tx(
        "listFunctions",
        () => (appUrl === undefined ? undefined : checkUrl(DRIVER, "appUrl", appUrl)),
        ({ s }, url) =>
          (
            (url === undefined
              ? s.listFunctions.all()
              : s.listAppFunctions.all(url)) as FunctionRow[]
          ).map(decodeFunction),
        false,
      ),

    createRun: (input: CreateRunInput) =>
      tx(
        "createRun",
        () => checkCreateRun(DRIVER, input),
        ({ s }, r): CreateRunResult => {
          const existing = s.getRunByKey.get(r.functionId, r.eventInternalId) as RunRow | undefined;
          if (existing) return { run: decodeRun(existing), created: false };
          const runId = r.runId ?? nextUlid();
          try {
            s.insertRun.run(
              runId,
              r.functionId,
              r.eventInternalId,
              r.env,
              r.lease ? "running" : "queued",
              r.now,
              r.lease ? r.lease.until : r.dueAt,
              r.lease ? r.now : null,
              r.lease?.owner ?? null,
              r.lease?.until ?? null,
            );
          } catch (error) {
            if ((error as { code?: unknown }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
              throw runIdTaken(DRIVER, runId, error);
            }
            throw error;
          }
          for (const c of r.concurrency) s.insertSlot.run(runId, c.idx, c.key);
          return { run: decodeRun(s.getRun.get(runId) as RunRow), created: true };
        },
      ),

    getRun: (runId: string) =>
      tx(
        "getRun",
        () => checkRunId(DRIVER, "runId", runId),
        ({ s }, id) => {
          const row = s.getRun.get(id) as RunRow | undefined;
          return row ? decodeRun(row) : null;
        },
        false,
      ),

    listRunsForEvent: (eventInternalId: string) =>
      tx(
        "listRunsForEvent",
        () => checkToken(DRIVER, "eventInternalId", eventInternalId, 64),
        ({ s }, id): RunRecord[] => (s.listRunsForEvent.all(id) as RunRow[]).map(decodeRun),
        false,
      ),

    claimDue: (now: number, owner: string, leaseMs: number, limit: number) =>
      tx(
        "claimDue",
        () => checkClaim(DRIVER, now, owner, leaseMs, limit),
        ({ s }, c): RunRecord[] => {
          const out: RunRecord[] = [];
          // Runs with concurrency slots first (writes are serialised: the counts are exact).
          if (s.anyActiveSlot.get() !== undefined) {
            type Row = { run_id: string; slot_key: string; lim: number | null; n: number };
            const found = s.slotCandidates.all({
              now: c.now,
              n: Math.min(c.limit * 4, 4000),
            }) as Row[];
            const byRun = new Map<string, SlotCandidate>();
            const live = new Map<string, number>();
            for (const row of found) {
              let cand = byRun.get(row.run_id);
              if (!cand) {
                cand = { runId: row.run_id, slots: [] };
                byRun.set(row.run_id, cand);
              }
              cand.slots.push({ key: row.slot_key, limit: row.lim });
              live.set(row.slot_key, row.n);
            }
            for (const id of pickWithinLimits([...byRun.values()], live, c.limit)) {
              const row = s.claim.get({
                now: c.now,
                owner: c.owner,
                until: c.now + c.leaseMs,
                id,
              }) as RunRow | undefined;
              if (row) out.push(decodeRun(row));
            }
            if (out.length >= c.limit) return out;
          }
          for (const id of s.dueIds.pluck().all(c.now, c.limit - out.length) as string[]) {
            const row = s.claim.get({ now: c.now, owner: c.owner, until: c.now + c.leaseMs, id }) as
              | RunRow
              | undefined;
            if (row) out.push(decodeRun(row));
          }
          return out;
        },
      ),

    renewLease: (runId: string, owner: string, now: number, leaseMs: number) =>
      tx(
        "renewLease",
        () => {
          checkRunId(DRIVER, "runId", runId);
          checkToken(DRIVER, "owner", owner);
          return (
            checkTime(DRIVER, "now", now) + checkInteger(DRIVER, "leaseMs", leaseMs, 1, 86_400_000)
          );
        },
        ({ s }, until) => s.renew.run(until, until, runId, owner).changes === 1,
      ),

    release: (runId: string, owner: string, update: ReleaseInput) =>
      tx(
        "release",
        () => {
          checkRunId(DRIVER, "runId", runId);
          checkToken(DRIVER, "owner", owner);
          return checkRelease(DRIVER, update);
        },
        ({ s }, u) => {
          const held =
            s.release.run(
              u.status,
              u.dueAt,
              u.status === "queued" ? null : u.now,
              u.attempt ?? null,
              u.output ?? null,
              u.error ?? null,
              runId,
              owner,
            ).changes === 1;
          // A finished run frees its concurrency slots for good.
          if (held && u.status !== "queued") s.deactivateSlots.run(runId);
          return held;
        },
      ),

    cancelRun: (runId: string, now: number) =>
      tx(
        "cancelRun",
        () => {
          checkRunId(DRIVER, "runId", runId);
          return checkTime(DRIVER, "now", now);
        },
        ({ s, w }, at) => {
          if (s.cancel.run(at, runId).changes !== 1) return false;
          w.deleteRunWaits.run(runId);
          s.deactivateSlots.run(runId);
          return true;
        },
      ),

    replayRun: (runId: string, now: number) =>
      tx(
        "replayRun",
        () => {
          checkRunId(DRIVER, "runId", runId);
          return checkTime(DRIVER, "now", now);
        },
        ({ s, w }, at) => {
          if (s.replay.run(at, runId).changes !== 1) return null;
          s.deleteSteps.run(runId);
          s.deleteAttempts.run(runId);
          w.deleteRunWaits.run(runId);
          s.activateSlots.run(runId);
          return decodeRun(s.getRun.get(runId) as RunRow);
        },
      ),

    listActiveRuns: (functionId: string, limit: number) =>
      tx(
        "listActiveRuns",
        () => ({
          id: checkToken(DRIVER, "functionId", functionId),
          n: checkInteger(DRIVER, "limit", limit, 1, MAX_CLAIM_LIMIT),
        }),
        ({ s }, { id, n }) => (s.listActiveRuns.all(id, n) as RunRow[]).map(decodeRun),
        false,
      ),

    expireLeases: (now: number) =>
      tx(
        "expireLeases",
        () => checkTime(DRIVER, "now", now),
        ({ s }, at) => s.expireLeases.run(at, at).changes,
      ),

    countActive: (now: number) =>
      tx(
        "countActive",
        () => checkTime(DRIVER, "now", now),
        ({ s }, at) => s.countActive.get(at) as { queued: number; due: number; running: number },
        false,
      ),

    recordCronTick: (functionId: string, tickAt: number) =>
      tx(
        "recordCronTick",
        () => {
          checkToken(DRIVER, "functionId", functionId);
          return checkTime(DRIVER, "tickAt", tickAt);
        },
        ({ s }, at) => {
          s.recordCronTick.run(functionId, at);
        },
      ),

    lastCronTick: (functionId: string) =>
      tx(
        "lastCronTick",
        () => checkToken(DRIVER, "functionId", functionId),
        ({ s }, id) => (s.lastCronTick.pluck().get(id) as number | undefined) ?? null,
        false,
      ),

    nextDueAt: () =>
      tx(
        "nextDueAt",
        () => null,
        ({ s }) => s.nextDue.pluck().get() as number | null,
        false,
      ),

    saveSteps: (runId: string, owner: string, list: readonly StepInput[]) =>
      tx(
        "saveSteps",
        () => {
          checkRunId(DRIVER, "runId", runId);
          checkToken(DRIVER, "owner", owner);
          return checkSteps(DRIVER, list, Date.now());
        },
        ({ s }, checked) => {
          if (!s.held.get(runId, owner)) return false;
          for (const st of checked) {
            s.upsertStep.run({
              run: runId,
              step: st.stepId,
              op: st.op,
              data: st.data,
              error: st.error,
              attempts: st.attempts,
              at: st.updatedAt,
              name: st.name,
              started: st.startedAt,
            });
          }
          return true;
        },
      ),

    listSteps: (runId: string): Promise<StepRecord[]> =>
      readByRun("listSteps", runId, decodeStep as (row: unknown) => StepRecord),

    close: async () => {
      if (closed) return;
      closed = true;
      const r = ready ?? (opening ? await opening.catch(() => null) : null);
      // Writes asked for before close() are committed, not dropped.
      if (queue.length > 0) flush();
      if (r && owned) r.db.close();
    },

    // --- waits ---
    waitRun: (runId: string, owner: string, input: WaitRunInput) =>
      tx(
        "waitRun",
        () => checkWaitRun(DRIVER, runId, owner, input),
        ({ w }, c) => {
          const env = w.runEnv.pluck().get(runId, owner) as string | undefined;
          if (env === undefined) return false;
          for (const x of c.waits) {
            w.insertWait.run({
              run: runId,
              step: x.stepId,
              env,
              kind: x.kind,
              event: x.event,
              expression: x.expression,
              now: c.now,
              expires: x.expiresAt,
              name: x.name,
            });
          }
          if (c.hold) return true;
          let due = (w.minExpiry.pluck().get(runId) as number | null) ?? c.now;
          if (c.dueBy !== null) due = Math.min(due, c.dueBy);
          if ((w.countSteps.pluck().get(runId) as number) > c.stepsSeen) due = c.now;
          return w.waitRelease.run(due, runId, owner).changes === 1;
        },
      ),

    resolveWait: (runId: string, stepId: string, step: WaitResolution, now: number) =>
      tx(
        "resolveWait",
        () => checkResolveWait(DRIVER, runId, stepId, step, now),
        ({ s, w }, c) => {
          // The step started when the wait was recorded.
          const wait = w.waitStep.get(runId, stepId) as
            | { created_at: number; name: string | null }
            | undefined;
          if (w.deleteWait.run(runId, stepId).changes !== 1) return false;
          const status = w.runStatus.pluck().get(runId) as string | undefined;
          if (status !== "queued" && status !== "running") return false;
          s.upsertStep.run({
            run: runId,
            step: stepId,
            op: c.op,
            data: c.data,
            error: c.error,
            attempts: 1,
            at: c.now,
            name: wait?.name ?? null,
            started: wait?.created_at ?? null,
          });
          w.dueNow.run(c.now, runId);
          return true;
        },
      ),

    listWaits: (runId: string) =>
      tx(
        "listWaits",
        () => checkRunId(DRIVER, "runId", runId),
        ({ w }, id): WaitRecord[] => (w.listWaits.all(id) as WaitRow[]).map(decodeWait),
        false,
      ),

    listWaitsSince: (afterSeq: number, alsoSeqs: readonly number[], limit: number) =>
      tx(
        "listWaitsSince",
        () => checkWaitsSince(DRIVER, afterSeq, alsoSeqs, limit),
        ({ w }, c): WaitRecord[] => {
          const rows = w.waitsSince.all(c.after, c.limit) as WaitRow[];
          if (c.also.length > 0) {
            const seen = new Set(rows.map((r) => r.seq));
            for (const r of w.waitsBySeq.all(JSON.stringify(c.also)) as WaitRow[])
              if (!seen.has(r.seq)) rows.push(r);
            rows.sort((a, b) => a.seq - b.seq);
          }
          return rows.slice(0, c.limit).map(decodeWait);
        },
        false,
      ),

    countWaits: () =>
      tx(
        "countWaits",
        () => null,
        ({ w }) => w.countWaits.pluck().get() as number,
        false,
      ),
    // --- concurrency ---
    listConcurrencySlots: (runId: string) =>
      tx(
        "listConcurrencySlots",
        () => checkRunId(DRIVER, "runId", runId),
        ({ s }, id): ConcurrencySlot[] =>
          (s.listSlots.all(id) as { idx: number; slot_key: string }[]).map((r) => ({
            idx: r.idx,
            key: r.slot_key,
          })),
      ),

    // --- batching ---
    appendToBatch: (input: AppendToBatchInput) =>
      tx(
        "appendToBatch",
        () => checkAppendToBatch(DRIVER, input),
        ({ s, b }, a): AppendToBatchResult => {
          const inBatch = b.batchOfEvent.pluck().get(a.functionId, a.eventInternalId) as
            | string
            | undefined;
          if (inBatch !== undefined) {
            const open = b.getOpen.get(a.functionId, a.batchKey) as
              | { run_id: string; size: number }
              | undefined;
            return {
              run: decodeRun(s.getRun.get(inBatch) as RunRow),
              appended: false,
              created: false,
              size: b.batchSize.pluck().get(inBatch) as number,
              closed: open?.run_id !== inBatch,
            };
          }
          const unbatched = s.getRunByKey.get(a.functionId, a.eventInternalId) as
            | RunRow
            | undefined;
          if (unbatched) {
            return {
              run: decodeRun(unbatched),
              appended: false,
              created: false,
              size: 0,
              closed: true,
            };
          }
          const open = b.getOpen.get(a.functionId, a.batchKey) as
            | { run_id: string; size: number }
            | undefined;
          const row =
            open && open.run_id !== ""
              ? (s.getRun.get(open.run_id) as RunRow | undefined)
              : undefined;
          if (
            open &&
            row &&
            row.status === "queued" &&
            row.started_at === null &&
            row.due_at !== null &&
            row.due_at > a.now &&
            open.size < a.maxSize
          ) {
            b.insertEvent.run(a.functionId, a.eventInternalId, row.run_id, open.size);
            const size = open.size + 1;
            const full = size >= a.maxSize;
            if (full) {
              b.deleteOpen.run(a.functionId, a.batchKey);
              b.dueNow.run(a.now, row.run_id, a.now);
            } else b.putOpen.run(a.functionId, a.batchKey, row.run_id, size);
            return {
              run: decodeRun(s.getRun.get(row.run_id) as RunRow),
              appended: true,
              created: false,
              size,
              closed: full,
            };
          }
          const runId = a.runId ?? nextUlid();
          const full = a.maxSize <= 1;
          try {
            b.insertRun.run(
              runId,
              a.functionId,
              a.eventInternalId,
              a.env,
              a.now,
              full ? a.now : a.now + a.timeoutMs,
            );
          } catch (error) {
            if ((error as { code?: unknown }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
              throw runIdTaken(DRIVER, runId, error);
            }
            throw error;
          }
          b.insertEvent.run(a.functionId, a.eventInternalId, runId, 0);
          if (full) b.deleteOpen.run(a.functionId, a.batchKey);
          else b.putOpen.run(a.functionId, a.batchKey, runId, 1);
          return {
            run: decodeRun(s.getRun.get(runId) as RunRow),
            appended: true,
            created: true,
            size: 1,
            closed: full,
          };
        },
      ),

    listBatchEvents: (runId: string) =>
      tx(
        "listBatchEvents",
        () => checkRunId(DRIVER, "runId", runId),
        ({ b }, id) => b.listEvents.pluck().all(id) as string[],
        false,
      ),

    closeBatch: (runId: string) =>
      tx(
        "closeBatch",
        () => checkRunId(DRIVER, "runId", runId),
        ({ b }, id) => {
          b.closeBatch.run(id);
        },
      ),

    listBatchRunsForEvent: (eventInternalId: string) =>
      tx(
        "listBatchRunsForEvent",
        () => checkToken(DRIVER, "eventInternalId", eventInternalId, 64),
        ({ b }, id): RunRecord[] => (b.runsForEvent.all(id) as RunRow[]).map(decodeRun),
        false,
      ),
    // --- flow control ---
    takeRateLimit: (input: RateLimitInput) =>
      tx(
        "takeRateLimit",
        () => checkRateLimitInput(DRIVER, input),
        ({ db }, r): boolean => {
          const f = flowStatements(db);
          f.prune.run(r.key, r.now - r.periodMs, r.now - MAX_RATE_LIMIT_PERIOD_MS);
          if (f.mine.get(r.key, r.eventInternalId) !== undefined) return true;
          if ((f.count.get(r.key) as { n: number }).n >= r.limit) return false;
          f.take.run(r.key, r.eventInternalId, r.now);
          return true;
        },
      ),
    reserveThrottle: (input: ThrottleInput) =>
      tx(
        "reserveThrottle",
        () => checkThrottleInput(DRIVER, input),
        ({ db }, t): number => {
          const e = Math.ceil(t.periodMs / t.limit);
          const { tat } = flowStatements(db).reserve.get({ key: t.key, now: t.now, e }) as {
            tat: number;
          };
          // The new tat is max(tat, now) + e: the start follows from it (see throttleStep).
          return Math.max(t.now, tat - e - t.burst * e);
        },
      ),
    recordAttempt: (input: AttemptInput) =>
      tx(
        "recordAttempt",
        () => checkAttempt(DRIVER, input),
        ({ s }, a) => {
          s.insertAttempt.run({
            run: a.runId,
            attempt: a.attempt,
            outcome: a.outcome,
            started: a.startedAt,
            ended: a.endedAt,
            error: a.error,
          });
        },
      ),
    listAttempts: (runId: string): Promise<AttemptRecord[]> =>
      readByRun("listAttempts", runId, decodeAttempt as (row: unknown) => AttemptRecord),
    listFailedRuns: (limit: number) =>
      tx(
        "listFailedRuns",
        () => checkInteger(DRIVER, "limit", limit, 1, MAX_CLAIM_LIMIT),
        ({ s }, n) => (s.listFailedRuns.all(n) as RunRow[]).map(decodeRun),
        false,
      ),
    debounceRun: (input: DebounceInput) =>
      tx(
        "debounceRun",
        () => checkDebounceInput(DRIVER, input),
        ({ db, s, w }, d) => {
          const f = flowStatements(db);
          const state = (id: string) =>
            f.runState.get(id) as { status: string; started_at: number | null } | undefined;
          if (state(d.runId)?.status !== "queued") {
            throw new FunctionsError(
              DRIVER,
              "invalid_input",
              `runId ${d.runId} is not a queued run`,
            );
          }
          const pending = f.getDebounce.get(d.functionId, d.key) as
            | { run_id: string; first_at: number }
            | undefined;
          let first = d.now;
          let replaced: string | null = null;
          if (pending !== undefined && pending.run_id === d.runId) first = pending.first_at;
          else if (pending !== undefined) {
            const prev = state(pending.run_id);
            if (prev?.status === "queued" && prev.started_at === null) {
              s.cancel.run(d.now, pending.run_id);
              w.deleteRunWaits.run(pending.run_id);
              s.deactivateSlots.run(pending.run_id);
              replaced = pending.run_id;
              first = pending.first_at;
            }
          }
          const dueAt = debounceDue(first, d);
          f.setDue.run(dueAt, d.runId);
          f.putDebounce.run(d.functionId, d.key, d.runId, first);
          return { dueAt, replaced };
        },
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

import type { ConcurrencySlot } from "./concurrency";

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Where a run is: `queued` (waiting for `due_at`), `running` (claimed), or finished. */
export type RunStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

/** A finished status: no further calls are made for the run. */
export type FinalRunStatus = "completed" | "failed" | "cancelled";

/** An SDK app, known by the URL evt calls (the `url` of its `/fn/register` body). */
export interface AppRecord {
  /** The URL evt syncs and calls (the SDK's serve endpoint). The key of the app. */
  url: string;
  /** The app id the SDK registered (`appName`). */
  appId: string;
  /** The SDK that registered it, as it says (`js:v4.24.0`), or `null`. */
  sdk: string | null;
  /** The framework it is served by (`nodejs`, `express`), or `null`. */
  framework: string | null;
  /** When the last successful sync happened (ms since the epoch), or `null` if never. */
  syncedAt: number | null;
  /** Why the last sync failed, or `null` when it succeeded. Never holds keys. */
  lastError: string | null;
}

/** A function registered by an app. */
export interface FunctionRecord {
  /** Composite id as the SDK registers it: `<app id>-<function id>`. */
  id: string;
  /** The `url` of the {@link AppRecord} that registered it. */
  appUrl: string;
  /** Display name. */
  name: string;
  /** The registered config (triggers, retries, concurrency, ...) as JSON. */
  config: JsonValue;
  /** The URL of its step (where evt calls it). */
  stepUrl: string;
  /** Starts at 1; raised each time a sync changes `name`, `config` or `stepUrl`. */
  version: number;
}

/** What {@link RunStore.syncApp} is given for one function. */
export type FunctionInput = Omit<FunctionRecord, "appUrl" | "version">;

/** The answer of {@link RunStore.syncApp}. */
export interface SyncAppResult {
  /** The app's functions as stored, in the order given. */
  functions: FunctionRecord[];
  /** Whether a function was added, changed or removed. */
  modified: boolean;
}

/** A run of one function for one event. */
export interface RunRecord {
  /** ULID. */
  runId: string;
  functionId: string;
  /** The evt internal id of the event that started the run. */
  eventInternalId: string;
  env: string;
  status: RunStatus;
  /** Counts from 0. */
  attempt: number;
  /** The function's output once completed, else `null`. */
  output: JsonValue;
  /** The last error (of a failed run, or of the last failed attempt), else `null`. */
  error: JsonValue;
  /** When the run was created (ms since the epoch). */
  createdAt: number;
  /** When the run was first claimed, or `null`. */
  startedAt: number | null;
  /** When it reached a final status, or `null`. */
  endedAt: number | null;
  /**
   * When it next needs attention: a queued run is claimable from then; a running run's lease
   * runs out then (equal to `leaseUntil`). `null` once finished.
   */
  dueAt: number | null;
  /** Who holds the run (a claimer's id), or `null`. */
  leaseOwner: string | null;
  /** Until when the lease holds, or `null`. */
  leaseUntil: number | null;
}

/** What {@link RunStore.createRun} is given. */
export interface CreateRunInput {
  functionId: string;
  eventInternalId: string;
  env: string;
  /** When the run becomes claimable (ms since the epoch). */
  dueAt: number;
  /** Time of creation (ms since the epoch). @default Date.now() */
  now?: number;
  /** The run id to use (a ULID). @default a new ULID */
  runId?: string;
  /**
   * Create the run already claimed: `running`, held by `owner` until `now + leaseMs`, as if
   * `claimDue` had returned it (`dueAt` must not be after `now`). The gateway that stores an
   * event and has a free slot starts its runs this way, one commit and two reads before the
   * first call fewer. A run that already existed is returned as it is (not leased).
   */
  lease?: { owner: string; leaseMs: number };
  /**
   * The concurrency slots the run takes while claimed (from the function's `concurrency`,
   * keys evaluated on the event), stored with the run. @default none
   */
  concurrency?: readonly ConcurrencySlot[];
}

/** The answer of {@link RunStore.createRun}. */
export interface CreateRunResult {
  run: RunRecord;
  /** `false` when a run of this (function, event) already existed; `run` is that run. */
  created: boolean;
}

/** How {@link RunStore.release} leaves a run. Unset fields keep their value. */
export interface ReleaseInput {
  /** `queued` to call it again at `dueAt`, or a final status. */
  status: "queued" | FinalRunStatus;
  /** Time of the release (ms since the epoch); `ended_at` of a final status. */
  now: number;
  /** For `queued`: when to claim it again. @default now */
  dueAt?: number;
  /** The attempt the next call is. */
  attempt?: number;
  /** The output (for `completed`). */
  output?: JsonValue;
  /** The error (for `failed`, or of the attempt before a retry). */
  error?: JsonValue;
}

/** A memoized step of a run. */
export interface StepRecord {
  runId: string;
  /** The hashed step id the SDK uses as the key of `steps`. */
  stepId: string;
  /** The op that produced it (`StepRun`, `StepError`, `Sleep`, ...). */
  op: string;
  /** The step's data, or `null`. */
  data: JsonValue;
  /** The step's error, or `null`. */
  error: JsonValue;
  /** How many times it was attempted. */
  attempts: number;
  /** When it was last written (ms since the epoch). */
  updatedAt: number;
  /**
   * The step's name as the user gave it (the SDK op's `displayName` ?? `name`: `"before"` of
   * `step.run("before", ...)`), or `null` when unknown (a step stored before names were kept).
   */
  name: string | null;
  /**
   * When the step started (ms since the epoch): when the call that produced it began, or when
   * a wait was recorded; `null` when unknown.
   */
  startedAt: number | null;
}

/** What {@link RunStore.saveSteps} is given for one step. */
export type StepInput = Omit<StepRecord, "runId" | "updatedAt" | "name" | "startedAt"> & {
  updatedAt?: number;
  /** @default null */
  name?: string | null;
  /** @default null */
  startedAt?: number | null;
};

/** What a wait resumes its run with: an event (`step.waitForEvent`) or a child's end (`step.invoke`). */
export type WaitKind = "event" | "invoke";

/** A run waiting for an event (`step.waitForEvent`, or `step.invoke` waiting for its child). */
export interface WaitRecord {
  /** Increasing in the order waits were stored: a gateway loads new waits from its last `seq`. */
  seq: number;
  runId: string;
  /** The hashed step id the wait resolves. */
  stepId: string;
  env: string;
  kind: WaitKind;
  /** The event name waited for. */
  event: string;
  /** The `if`, over `async` only (the run's `event` already put in), or `null`. */
  expression: string | null;
  /** When the wait was recorded (ms since the epoch): only events received since then match. */
  createdAt: number;
  /** When the wait times out (ms since the epoch). */
  expiresAt: number;
  /** The step's name as the user gave it (`"approval"`), or `null`: the name of the step it resolves. */
  name: string | null;
}

/** What {@link RunStore.waitRun} is given for one wait. */
export type WaitInput = Pick<
  WaitRecord,
  "stepId" | "kind" | "event" | "expression" | "expiresAt"
> & {
  /** @default null */
  name?: string | null;
};

/** What {@link RunStore.waitRun} is given. */
export interface WaitRunInput {
  waits: readonly WaitInput[];
  /** Time of the release (ms since the epoch), the `createdAt` of new waits. */
  now: number;
  /** How many memoized steps the caller knows of: a step resolved meanwhile makes the run due now. */
  stepsSeen: number;
  /** Another reason to call the run again (a sleep), if earlier than its first timeout. */
  dueBy?: number;
  /**
   * Store the waits but keep holding the run (no release): the caller has more to do first
   * (start an invoked function), and calls `waitRun` again to release. A crash in between
   * leaves the run held until its lease ends, so it is called again and redoes it.
   */
  hold?: boolean;
}

/** A step a wait is resolved with. */
export type WaitResolution = Pick<StepInput, "op" | "data" | "error">;

// --- batching ---

/** What {@link RunStore.appendToBatch} is given: one event of a function that batches. */
export interface AppendToBatchInput {
  functionId: string;
  eventInternalId: string;
  env: string;
  /** Which open batch of the function: `"*"` without a key, else a digest of the key value. */
  batchKey: string;
  /** The batch closes (and its run is due at once) when it holds this many events. */
  maxSize: number;
  /** A new batch's run is due this long after its first event. */
  timeoutMs: number;
  /** Time of the append (ms since the epoch). @default Date.now() */
  now?: number;
  /** The run id of a batch this append opens (a ULID). @default a new ULID */
  runId?: string;
}

/** The answer of {@link RunStore.appendToBatch}. */
export interface AppendToBatchResult {
  /** The run of the batch that holds the event. */
  run: RunRecord;
  /** `false` when the event was already in a batch (or had a run) of the function. */
  appended: boolean;
  /** Whether this append opened the batch (created its run). */
  created: boolean;
  /** Events in the batch after the append (0 when the event had an unbatched run). */
  size: number;
  /** Whether the batch is closed now (full: its run is due at once). */
  closed: boolean;
}

/**
 * The run state of functions: apps, functions, runs and their memoized steps. Every method
 * is one transaction: it stores all it was given, or nothing.
 *
 * Invariants every driver keeps (checked by `runRunStoreConformance`):
 * - one run per `(functionId, eventInternalId)`: creating it again returns the first;
 * - a run is held by one claimer at a time, until its lease runs out;
 * - due runs are found by an index on `due_at`, never by scanning every run.
 */
export interface RunStore {
  /** The driver's name (`memory`, `sqlite`, `postgres`). */
  readonly driver: string;

  /** Insert or update an app by its `url`. */
  upsertApp(app: AppRecord): Promise<AppRecord>;
  /** The app at `url`, or `null`. */
  getApp(url: string): Promise<AppRecord | null>;
  /** Every app, by url. */
  listApps(): Promise<AppRecord[]>;

  /**
   * Store a sync of an app: the app (inserted or updated by `url`) and its functions, which
   * replace the ones it had, in one transaction. New functions get version 1, changed ones
   * (name, config, step URL) version + 1, absent ones are removed. An app with the same app id
   * at another URL is this app moved (a new port or host, as Inngest keys apps by id): its
   * functions move to the new URL and the old URL is forgotten. A function id an app with
   * another app id holds is refused, and then nothing is stored.
   */
  syncApp(app: AppRecord, functions: readonly FunctionInput[]): Promise<SyncAppResult>;
  /** The function with this composite id, or `null`. */
  getFunction(id: string): Promise<FunctionRecord | null>;
  /** Every function (of one app when `appUrl` is given), by id. */
  listFunctions(appUrl?: string): Promise<FunctionRecord[]>;

  /** Create the run of `(functionId, eventInternalId)`, or return the one that exists. */
  createRun(input: CreateRunInput): Promise<CreateRunResult>;
  /** The run, or `null`. */
  getRun(runId: string): Promise<RunRecord | null>;
  /** The runs an event started, by run id. */
  listRunsForEvent(eventInternalId: string): Promise<RunRecord[]>;
  /** Up to `limit` queued or running runs of a function, oldest first (for `cancelOn`). */
  listActiveRuns(functionId: string, limit: number): Promise<RunRecord[]>;

  /**
   * Claim up to `limit` runs whose `due_at <= now` (queued ones, and running ones whose lease
   * ran out), earliest `due_at` first. Each comes back `running`, held by `owner` until
   * `now + leaseMs`; no other claimer gets it before then.
   */
  claimDue(now: number, owner: string, leaseMs: number, limit: number): Promise<RunRecord[]>;
  /** Extend `owner`'s lease to `now + leaseMs`. `false` when `owner` no longer holds the run. */
  renewLease(runId: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /**
   * Let go of a run `owner` holds, leaving it as `update` says. `false` (and nothing changed)
   * when `owner` no longer holds it.
   */
  release(runId: string, owner: string, update: ReleaseInput): Promise<boolean>;
  /**
   * Cancel a queued or running run, whoever holds it: it is never claimed again, and its
   * holder's `renewLease`, `release` and `saveSteps` answer `false`; its waits are deleted.
   * `false` when the run had already finished (it keeps its status).
   */
  cancelRun(runId: string, now: number): Promise<boolean>;
  /**
   * Start a failed or cancelled run again from its event: it becomes queued and due at `now`
   * with attempt 0, its output, error, start and end times cleared and its memoized steps
   * deleted, and its waits (the run id stays: one run per (function, event)). `null` (and nothing changed)
   * when the run does not exist or is not failed or cancelled.
   */
  replayRun(runId: string, now: number): Promise<RunRecord | null>;
  /**
   * Make every running run claimable at `now`, whoever held it: the leases of a process that
   * died. Only for a store that one gateway uses (SQLite, memory) at its start; with several
   * gateways it would take runs from live ones. Returns how many runs were freed.
   */
  expireLeases(now: number): Promise<number>;
  /**
   * Remember `tickAt` as the latest cron tick of a function handled (kept only if later than
   * the one stored). With {@link RunStore.lastCronTick}, what the scheduler needs to run the
   * most recent tick missed while no gateway was up.
   */
  recordCronTick(functionId: string, tickAt: number): Promise<void>;
  /** The latest cron tick recorded for a function, or `null` when none. */
  lastCronTick(functionId: string): Promise<number | null>;
  /**
   * How many runs wait and work, for a queue-depth metric: `queued` (all, sleeping or due),
   * `due` (queued with `due_at <= now`, waiting for a claimer) and `running` (held). Counts the
   * active runs through the due index: cost grows with the runs in progress, not with history.
   */
  countActive(now: number): Promise<{ queued: number; due: number; running: number }>;
  /** The earliest `due_at` of a queued or running run, or `null` when none: when to claim next. */
  nextDueAt(): Promise<number | null>;

  /**
   * Memoize steps of a run `owner` holds (insert, or replace by `stepId`), all or none.
   * `false` (and nothing stored) when `owner` no longer holds the run.
   */
  saveSteps(runId: string, owner: string, steps: readonly StepInput[]): Promise<boolean>;
  /** The memoized steps of a run, in the order they were first stored. */
  listSteps(runId: string): Promise<StepRecord[]>;

  /** Close the store (a database it opened itself). Further calls fail with `closed`. */
  close(): Promise<void>;

  // --- waits ---
  /**
   * Record waits of a run `owner` holds and release it `queued` until the earliest timeout of
   * its waits (or `dueBy`, or now when more steps are memoized than `stepsSeen`). A wait of
   * the same (run, step) already stored is kept as it is (its `seq`, `createdAt`, timeout).
   * `false` (and nothing stored) when `owner` no longer holds the run.
   */
  waitRun(runId: string, owner: string, input: WaitRunInput): Promise<boolean>;
  /**
   * Resolve a wait, once, in one transaction: delete it if it is still there, memoize its step
   * with `step`, and make the run due at `now` if it is queued. `false` (and nothing changed)
   * when the wait was already resolved or deleted (by another event, its timeout, a cancel);
   * a wait of a run that is no longer active is deleted and answers `false`.
   */
  resolveWait(runId: string, stepId: string, step: WaitResolution, now: number): Promise<boolean>;
  /** The waits of a run, by step id. */
  listWaits(runId: string): Promise<WaitRecord[]>;
  /**
   * Up to `limit` waits with `seq > afterSeq`, or whose `seq` is one of `alsoSeqs` (seqs a
   * reader skipped, maybe stored by a transaction not yet committed), by `seq`.
   */
  listWaitsSince(
    afterSeq: number,
    alsoSeqs: readonly number[],
    limit: number,
  ): Promise<WaitRecord[]>;
  /** How many waits are stored (for a metric). */
  countWaits(): Promise<number>;
  // --- concurrency ---
  // A run created with `concurrency` slots is claimed by `claimDue` only while each slot has
  // fewer runs in flight (running, with a live lease) than the limit its function registers
  // now (`syncApp` stores the limits); runs at a limit are skipped, others fill the batch.
  /** The concurrency slots of a run, by index (none for a run without). */
  listConcurrencySlots(runId: string): Promise<ConcurrencySlot[]>;

  // --- batching ---
  /**
   * Add an event to the open batch of `(functionId, batchKey)`, atomically, or open one: a
   * queued run created with the event, due `timeoutMs` later. A batch is open while its run is
   * queued, never started and not yet due, and it holds fewer than `maxSize` events; the append
   * that fills it makes the run due at `now`. Idempotent: an event already in a batch of the
   * function (or with a run of it) is not added again, and that run is returned. Appends one
   * store handle is given for one `(functionId, batchKey)` take effect in call order, even when
   * called without waiting for each other.
   */
  appendToBatch(input: AppendToBatchInput): Promise<AppendToBatchResult>;
  /** The events of a batched run in arrival order (`[]` for a run that is not a batch). */
  listBatchEvents(runId: string): Promise<string[]>;
  /** The batched runs holding an event, by run id (for `GET /v1/events/:id/runs`). */
  listBatchRunsForEvent(eventInternalId: string): Promise<RunRecord[]>;
  /**
   * Forget the open-batch entry of a batched run (the executor calls it as it starts the run).
   * Appends already treat a started run's batch as closed; this keeps the open entries to the
   * batches really open, however many key values a function has seen. Idempotent.
   */
  closeBatch(runId: string): Promise<void>;
  // --- flow control ---
  /**
   * Take one start of a rate limit (`rateLimit`): `true` when fewer than `limit` starts were
   * taken under `key` in the last `periodMs` (this one is recorded at `now`), or when this
   * event already took one within it (a retried request goes ahead); `false` otherwise, and
   * nothing is recorded. Atomic per key across every handle on the same data.
   */
  takeRateLimit(input: RateLimitInput): Promise<boolean>;
  /**
   * Reserve a start of a throttle (`throttle`, GCRA per key): the time the run may start, at
   * or after `now`; `1 + burst` reservations of a fresh key start at `now`, then one every
   * `ceil(periodMs / limit)`, in reservation order. Atomic per key across every handle on
   * the same data; the key's state is one time (its theoretical arrival time).
   */
  reserveThrottle(input: ThrottleInput): Promise<number>;
  /**
   * Make a queued run the pending debounced run of `(functionId, key)`, in one transaction
   * serial per key: the pending run it replaces, if still queued and never started, is
   * cancelled (it frees its slots), and the first event's time is kept; otherwise (none, or it
   * started) this run opens a new debounce at `now`. The run becomes due at
   * `min(now + periodMs, first + timeoutMs)`. Returns that time and the run replaced (or `null`).
   */
  debounceRun(input: DebounceInput): Promise<{ dueAt: number; replaced: string | null }>;
  /**
   * The last `limit` (1..1000) runs that failed, newest first (by `endedAt`, then `runId`),
   * whichever gateway ran them: what a console shows as "recent failures". A replayed run is
   * no longer failed and leaves the list. Served by a partial index on failed runs.
   */
  listFailedRuns(limit: number): Promise<RunRecord[]>;
  /**
   * Append how an attempt of a run ended to the run's history (the run's own fields keep only
   * the latest error). The attempt counter starts again at 0 after each step that completes,
   * so a run may record attempt 0 several times: the history is in the order recorded.
   * `replayRun` deletes a run's attempts with its steps.
   */
  recordAttempt(input: AttemptInput): Promise<void>;
  /** A run's recorded attempts, in the order they were recorded (at most the last 1,000). */
  listAttempts(runId: string): Promise<AttemptRecord[]>;
}

/** How an attempt ended: retried (another attempt follows), failed (the run failed), completed. */
export type AttemptOutcome = "retried" | "failed" | "completed";

/** What {@link RunStore.recordAttempt} is given. */
export interface AttemptInput {
  runId: string;
  /** The attempt, from 0. */
  attempt: number;
  outcome: AttemptOutcome;
  /** When the call that ended it began (ms since the epoch), or `null`. */
  startedAt: number | null;
  /** When it ended (ms since the epoch). */
  endedAt: number;
  /** Its error (for `retried` and `failed`), else `null`. */
  error: JsonValue;
}

/** One attempt of a run, as {@link RunStore.listAttempts} returns it. */
export type AttemptRecord = AttemptInput;

/** What {@link RunStore.debounceRun} is given. */
export interface DebounceInput {
  functionId: string;
  /** The debounce key (key value), at most 600 characters. */
  key: string;
  /** The queued run of the new event (created by `createRun`). */
  runId: string;
  /** The debounce period, in milliseconds. */
  periodMs: number;
  /** The latest start after the first event, in milliseconds, or `null`. */
  timeoutMs: number | null;
  /** Time of the event (ms since the epoch). */
  now: number;
}

/** What {@link RunStore.reserveThrottle} is given. */
export interface ThrottleInput {
  /** The throttle's key (function and key value), at most 600 characters. */
  key: string;
  /** Starts per period (1..100000). */
  limit: number;
  /** Starts allowed at once on top of the first (0..10000). */
  burst: number;
  /** The period, in milliseconds (1..604800000). */
  periodMs: number;
  /** The earliest the run may start (ms since the epoch). */
  now: number;
}

/** What {@link RunStore.takeRateLimit} is given. */
export interface RateLimitInput {
  /** The limit's key (function and key value), at most 600 characters. */
  key: string;
  /** The event that would start the run. */
  eventInternalId: string;
  /** Starts allowed per period (1..100000). */
  limit: number;
  /** The sliding window, in milliseconds (1..86400000). */
  periodMs: number;
  /** Time of the start (ms since the epoch). */
  now: number;
}

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { StoredEvent } from "@evt/schema";
import {
  compileFilter,
  createTriggerIndex,
  interpolateWaitExpression,
  MAX_EVENT_NAME_LENGTH,
  waitMatchExpression,
} from "@evt/triggers";
import { batchOf } from "./batching";
import {
  type CallOutcome,
  callBody,
  errorObject,
  type JsonObject,
  readCallAnswer,
  type StepOp,
  sdkEvent,
} from "./call";
import { describeError, isFunctionsError } from "./errors";
import { createHttpPost, PostError } from "./http-post";
import { DEFAULT_RETRIES } from "./register";
import type {
  AttemptOutcome,
  FunctionRecord,
  JsonValue,
  ReleaseInput,
  RunRecord,
  RunStore,
  StepInput,
  StepRecord,
  WaitInput,
} from "./run-store";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, retryDelayMs, sleepUntil } from "./timing";
import { runTraceparent } from "./trace";
import { waitTimeout } from "./waits";

/** A system event the executor emits (`inngest/function.failed`, `.finished`). */
export interface SystemEvent {
  /** Deterministic (`failed:<run id>:<start time>`), so a re-emitted event is deduplicated. */
  id: string;
  name: string;
  data: JsonObject;
}

/** The subset of a pino logger the executor uses. */
export interface ExecutorLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Callbacks for metrics. */
export interface ExecutorHooks {
  /** Before the first call of a run: `lagMs` from the event's receipt. */
  onRunStarted?(info: {
    functionId: string;
    lagMs: number;
    runId: string;
    eventInternalId: string;
  }): void;
  /** Once per HTTP call to an app; `status` is `null` for a network error. */
  onCall?(info: { functionId: string; status: number | null; durationMs: number }): void;
  /** When a run reaches a final status. */
  onRunFinished?(info: {
    functionId: string;
    status: "completed" | "failed";
    runId: string;
    eventInternalId: string;
  }): void;
}

/** Options of {@link createExecutor}. */
export interface ExecutorOptions {
  runs: RunStore;
  /** The stored event a run is for (`EventStore.get`). */
  loadEvent(internalId: string, env: string): Promise<StoredEvent | null>;
  /** Store system events through ingest (`EventApi.send`), so that they trigger functions too. */
  send(events: SystemEvent[], env: string): Promise<unknown>;
  /** The function with this id (a cache in front of the run store). @default runs.getFunction */
  getFunction?(id: string): Promise<FunctionRecord | null> | FunctionRecord | null;
  /** Sign a call body (`x-inngest-signature`), in `start` with a signing key. */
  sign?(body: string): string;
  /**
   * Start the run of `step.invoke`: store an `inngest/function.invoked` event with `id` and
   * `data` in `env`, and create a run of `functionId` (only that function) on it. Without it,
   * `step.invoke` fails the run as unsupported.
   */
  invoke?(request: InvokeRequest): Promise<void>;
  /**
   * Told when a run records waits (`step.waitForEvent`, `step.invoke`), just before and just
   * after they are stored: `WaitMatcher.notify`.
   */
  onWaiting?(runId: string): void;
  /** Told when an app says it does not know a function (evt re-syncs the app). */
  onUnknownFunction?(appUrl: string): void;
  /** This executor's lease owner id. @default `<host>:<pid>:<random>` */
  owner?: string;
  /** Lease of a claimed run, renewed while it is worked on. @default 30_000 */
  leaseMs?: number;
  /** Runs worked on at once. @default 32 */
  concurrency?: number;
  /**
   * This executor is the only one claiming from `runs` (one gateway on a SQLite or memory run
   * store): a run it was told of by {@link Executor.expect} and then claims has never been
   * started, so its first call needs no reads of steps and waits either. @default false
   */
  exclusive?: boolean;
  /** Longest wait between two looks for due work (other gateways add runs). @default 1_000 */
  pollMs?: number;
  /** Time allowed for one HTTP call. @default 300_000 */
  callTimeoutMs?: number;
  /** Retry backoff. @default DEFAULT_RETRY_POLICY */
  retry?: RetryPolicy;
  fetch?: typeof fetch;
  now?: () => number;
  logger?: ExecutorLogger;
  hooks?: ExecutorHooks;
}

/** What {@link ExecutorOptions.invoke} is asked to start. */
export interface InvokeRequest {
  /** The composite id of the function to run. */
  functionId: string;
  /** Deterministic (`invoke:<run id>:<step id>:<run start>`): a repeat stores the event once. */
  eventId: string;
  /** The invoked event's data: the payload's, plus `_inngest.{fn_id, correlation_id}`. */
  data: JsonObject;
  env: string;
  /** The invoking run. */
  parentRunId: string;
}

/** Default timeout of `step.invoke` (Inngest: a year). */
const DEFAULT_INVOKE_TIMEOUT_MS = 365 * 86_400_000;

/** The `if` a `step.invoke` waits with: the child's `function.finished` by correlation id. */
function correlationIf(correlationId: string): string {
  return `async.data.correlation_id == ${JSON.stringify(correlationId)}`;
}

/** Runs due runs: claims them, calls the SDK app, memoizes steps, retries. */
export interface Executor {
  /** Start claiming. */
  start(): void;
  /** Look for due work now (after runs were created or released here). */
  wake(): void;
  /**
   * Take a free slot for a run this process is about to create already held (the
   * `lease` of `createRun`). `null` when every slot is taken or the executor is stopping:
   * create the run queued instead. Hand the slot back with {@link Executor.adopt} (the run
   * was created) or {@link Executor.unreserve} (it was not).
   */
  reserve(): { owner: string; leaseMs: number } | null;
  /** Give back a slot taken by {@link Executor.reserve} for a run that was not created. */
  unreserve(): void;
  /**
   * Work on a run created held by this executor in a slot taken by {@link Executor.reserve},
   * with the event it was created for: its first call needs no claim and no reads.
   */
  adopt(run: RunRecord, event: StoredEvent): void;
  /**
   * Remember a run this process just created queued (not a batch), with its event: when this
   * executor claims the run, it starts it without reading the event back (up to 16 MiB of
   * such events are kept at once) nor, when {@link ExecutorOptions.exclusive}, its steps and
   * waits. Up to 16,384 runs are remembered, the oldest forgotten first.
   */
  expect(run: RunRecord, event: StoredEvent): void;
  /**
   * Stop claiming, let calls in flight finish for up to `timeoutMs`, then abort the rest and
   * hand their runs back (due at once) for the next start or another gateway.
   */
  stop(timeoutMs?: number): Promise<void>;
  /** Runs being worked on. */
  readonly active: number;
  /** The lease owner id. */
  readonly owner: string;
}

/** Most calls one claim makes before the run goes back to the queue (fairness). */
const MAX_CALLS_PER_CLAIM = 200;
/** Longest timer (setTimeout's limit is 2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Most runs {@link Executor.expect} remembers (run ids: a few MB). */
const MAX_EXPECTED_RUNS = 16_384;
/**
 * Most bytes of their events it keeps (as JSON; an event may be 512 KB): the claims of the runs
 * past them read their event.
 */
const MAX_EXPECTED_EVENT_BYTES = 16 * 1024 * 1024;
/** Planned steps of one run called at once. */
const PLANNED_CONCURRENCY = 8;

const silent: ExecutorLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** `retries` of a registered function config: `steps.<id>.retries.attempts`, default 4. */
export function retriesOf(config: JsonValue): number {
  if (typeof config !== "object" || config === null || Array.isArray(config))
    return DEFAULT_RETRIES;
  const steps = config.steps;
  if (typeof steps !== "object" || steps === null || Array.isArray(steps)) return DEFAULT_RETRIES;
  for (const step of Object.values(steps)) {
    if (typeof step !== "object" || step === null || Array.isArray(step)) continue;
    const retries = step.retries;
    if (typeof retries === "object" && retries !== null && !Array.isArray(retries)) {
      const attempts = retries.attempts;
      if (typeof attempts === "number" && Number.isInteger(attempts) && attempts >= 0)
        return attempts;
    }
  }
  return DEFAULT_RETRIES;
}

function stepUrlFor(stepUrl: string, stepId: string): string {
  const url = new URL(stepUrl);
  url.searchParams.set("stepId", stepId);
  return url.toString();
}

function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "the app";
  }
}

class LeaseLost extends Error {}

/** What is known of a run begun without reading it back: its event, and whether it never started. */
interface Known {
  /** `null`: read it (`loadEvent`). */
  event: StoredEvent | null;
  /** Never started before: no memoized steps and no waits to read. */
  fresh: boolean;
}

/**
 * Create an executor. It finds due runs through the run store's `due_at` index (one timer
 * set to the earliest due time, and a short poll for runs other gateways add), holds each
 * with a lease it renews while working, and speaks the SDK's call protocol: 200 completes,
 * 206 memoizes steps (durably, before the next call) and calls again, errors are retried
 * with backoff as the function's `retries` allow, and a final failure emits
 * `inngest/function.failed` (a finished run `inngest/function.finished`) through `send`.
 *
 * @example
 * ```ts
 * import { createExecutor } from "@evt/functions";
 *
 * const executor = createExecutor({
 *   runs,
 *   loadEvent: (id, env) => store.get(id, env),
 *   send: (events, env) => api.send(events, { env }),
 * });
 * executor.start();
 * // ... on shutdown:
 * await executor.stop(10_000);
 * ```
 */
export function createExecutor(options: ExecutorOptions): Executor {
  const { runs } = options;
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const leaseMs = options.leaseMs ?? 30_000;
  const concurrency = options.concurrency ?? 32;
  const pollMs = options.pollMs ?? 1_000;
  const callTimeoutMs = options.callTimeoutMs ?? 300_000;
  const retry = options.retry ?? DEFAULT_RETRY_POLICY;
  const givenFetch = options.fetch;
  const transport = givenFetch === undefined ? createHttpPost() : null;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silent;
  const hooks = options.hooks ?? {};
  const getFunction = options.getFunction ?? ((id: string) => runs.getFunction(id));
  const exclusive = options.exclusive ?? false;

  let started = false;
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let timerAt = Number.POSITIVE_INFINITY;
  let looking = false;
  let lookAgain = false;
  const working = new Map<string, AbortController>();
  /** When the latest call of each run being executed began: the start of its attempt's record. */
  const callStarts = new Map<string, number>();
  /** Slots taken by `reserve` for runs being created held. */
  let reserved = 0;
  /**
   * Runs created queued here and not yet claimed (`expect`), by run id, with their event while
   * the events kept fit in {@link MAX_EXPECTED_EVENT_BYTES} (else `null`: the claim reads it).
   */
  const expected = new Map<string, { event: StoredEvent; bytes: number } | null>();
  let expectedBytes = 0;
  function forget(runId: string): StoredEvent | null | undefined {
    const kept = expected.get(runId);
    if (kept === undefined) return undefined;
    expected.delete(runId);
    if (kept === null) return null;
    expectedBytes -= kept.bytes;
    return kept.event;
  }
  let idle: (() => void) | null = null;

  function schedule(delayMs: number): void {
    if (!started || stopping) return;
    const at = now() + Math.max(0, delayMs);
    if (timer !== null && timerAt <= at) return;
    if (timer !== null) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(
      () => {
        timer = null;
        timerAt = Number.POSITIVE_INFINITY;
        void look();
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
    timer.unref?.();
  }

  async function look(): Promise<void> {
    if (!started || stopping) return;
    if (looking) {
      lookAgain = true;
      return;
    }
    looking = true;
    try {
      /** When the last claim looked: a run due by then and not claimed waits (see below). */
      let claimedAt = Number.NEGATIVE_INFINITY;
      do {
        lookAgain = false;
        const free = concurrency - working.size - reserved;
        if (free <= 0) break;
        let claimed: RunRecord[];
        try {
          claimedAt = now();
          claimed = await runs.claimDue(claimedAt, owner, leaseMs, free);
        } catch (err) {
          logger.warn({ err }, "claiming due runs failed; trying again shortly");
          schedule(pollMs);
          break;
        }
        for (const run of claimed) {
          const event = forget(run.runId);
          if (event === undefined) {
            begin(run);
            continue;
          }
          // Never started before this claim (only this executor claims, and it had not):
          // no steps, no waits. Created by `createRun`, so not a batch either way.
          const fresh = exclusive && run.attempt === 0 && run.startedAt === claimedAt;
          begin(run, { event, fresh });
        }
        if (claimed.length === free) lookAgain = true;
      } while (lookAgain && !stopping);
      if (!stopping && working.size + reserved < concurrency) {
        let next: number | null = null;
        try {
          next = await runs.nextDueAt();
        } catch {
          next = null;
        }
        // A run that was due when the claim looked, yet not claimed, is held back by a
        // concurrency limit (or another gateway holds it): look again when a run here is
        // released or at the next poll, not at once (that would be a busy loop).
        const wait = next === null || next <= claimedAt ? pollMs : Math.min(pollMs, next - now());
        schedule(wait);
      }
    } finally {
      looking = false;
    }
  }

  function begin(run: RunRecord, known?: Known): void {
    const controller = new AbortController();
    working.set(run.runId, controller);
    const renew = setInterval(
      () => {
        runs.renewLease(run.runId, owner, now(), leaseMs).then(
          (held) => {
            if (!held) controller.abort(new LeaseLost("lease lost"));
          },
          (err: unknown) => logger.warn({ runId: run.runId, err }, "renewing a lease failed"),
        );
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    renew.unref?.();
    work(run, controller.signal, known)
      .catch((err: unknown) => {
        if (err instanceof LeaseLost || controller.signal.aborted) {
          logger.debug({ runId: run.runId }, "run left: its lease was lost or it was cancelled");
          return;
        }
        logger.error(
          { runId: run.runId, functionId: run.functionId, err },
          "working on a run failed; it is retried when its lease runs out",
        );
      })
      .finally(() => {
        clearInterval(renew);
        working.delete(run.runId);
        callStarts.delete(run.runId);
        if (working.size === 0 && idle !== null) idle();
        void look();
      });
  }

  async function release(run: RunRecord, update: ReleaseInput): Promise<void> {
    let held: boolean;
    try {
      held = await runs.release(run.runId, owner, update);
    } catch (err) {
      // An error the store cannot hold (too large, not JSON) must not keep the run held
      // forever: store a short one that says so instead.
      if (!isFunctionsError(err, "too_large", "invalid_input") || update.error === undefined)
        throw err;
      held = await runs.release(run.runId, owner, {
        ...update,
        error: errorObject(
          "EvtStoreError",
          `the error could not be stored: ${describeError(err).slice(0, 500)}`,
        ),
      });
    }
    const startedAt = callStarts.get(run.runId) ?? null;
    callStarts.delete(run.runId);
    if (!held) throw new LeaseLost("lease lost");
    // An attempt ended: keep it in the run's history (best effort, after the release: the
    // run's own state never waits for its history).
    const outcome: AttemptOutcome | null =
      update.status === "completed" || update.status === "failed"
        ? update.status
        : update.status === "queued" && update.error !== undefined
          ? "retried"
          : null;
    if (outcome === null) return;
    const attempt =
      outcome === "retried" ? (update.attempt ?? 1) - 1 : (update.attempt ?? run.attempt);
    try {
      await runs.recordAttempt({
        runId: run.runId,
        attempt: Math.max(0, attempt),
        outcome,
        startedAt,
        endedAt: update.now,
        error: outcome === "completed" ? null : (update.error ?? null),
      });
    } catch (err) {
      logger.warn({ runId: run.runId, err }, "recording the run's attempt in its history failed");
    }
  }

  async function emitAndRelease(
    run: RunRecord,
    event: JsonObject | null,
    outcome: { status: "completed"; output: JsonValue } | { status: "failed"; error: JsonValue },
    attempt: number,
  ): Promise<void> {
    const functionId = run.functionId;
    // A run started by a function.* event emits none of its own: a function on
    // `inngest/function.finished` would otherwise trigger itself forever.
    // An invoked run (`inngest/function.invoked`) does emit: its parent waits for it.
    const triggeredBySystem =
      event !== null &&
      typeof event.name === "string" &&
      event.name.startsWith("inngest/function.") &&
      event.name !== "inngest/function.invoked";
    if (!triggeredBySystem) {
      const base: JsonObject = { function_id: functionId, run_id: run.runId, event: event ?? null };
      const correlationId = correlationOf(event);
      if (correlationId !== null) base.correlation_id = correlationId;
      // Deterministic per start of the run (a replay starts it again and emits again).
      const generation = run.startedAt ?? run.createdAt;
      const events: SystemEvent[] =
        outcome.status === "completed"
          ? [
              {
                id: `finished:${run.runId}:${generation}`,
                name: "inngest/function.finished",
                data: { ...base, result: outcome.output },
              },
            ]
          : [
              {
                id: `failed:${run.runId}:${generation}`,
                name: "inngest/function.failed",
                data: { ...base, error: outcome.error },
              },
              {
                id: `finished:${run.runId}:${generation}`,
                name: "inngest/function.finished",
                data: { ...base, error: outcome.error },
              },
            ];
      // Emitted before the release: a crash in between re-emits, and the ids deduplicate.
      await options.send(events, run.env);
    }
    const at = now();
    if (outcome.status === "completed") {
      try {
        await release(run, { status: "completed", now: at, output: outcome.output, attempt });
      } catch (err) {
        if (!isFunctionsError(err, "too_large", "invalid_input")) throw err;
        await release(run, {
          status: "failed",
          now: at,
          attempt,
          error: errorObject(
            "EvtOutputError",
            `the function's output could not be stored: ${describeError(err)}`,
          ),
        });
        hooks.onRunFinished?.({
          functionId,
          status: "failed",
          runId: run.runId,
          eventInternalId: run.eventInternalId,
        });
        return;
      }
    } else {
      await release(run, { status: "failed", now: at, error: outcome.error, attempt });
    }
    hooks.onRunFinished?.({
      functionId,
      status: outcome.status,
      runId: run.runId,
      eventInternalId: run.eventInternalId,
    });
    logger.info(
      { runId: run.runId, functionId, attempt, status: outcome.status },
      outcome.status === "completed" ? "run completed" : "run failed",
    );
  }

  async function call(
    fn: FunctionRecord,
    runId: string,
    url: string,
    body: string,
    signal: AbortSignal,
  ): Promise<CallOutcome> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.sign) headers["x-inngest-signature"] = options.sign(body);
    callStarts.set(runId, now());
    // The SDK forwards it on step.sendEvent: the Event API reads the run back from it.
    const traceparent = runTraceparent(runId, randomBytes(8).toString("hex"));
    if (traceparent !== null) headers.traceparent = traceparent;
    const t0 = performance.now();
    let timedOut = false;
    try {
      let res: { status: number; header(name: string): string | null; text: string };
      if (transport !== null) {
        res = await transport.post(url, headers, body, signal, callTimeoutMs).catch((err) => {
          if (err instanceof PostError && /^no answer within/.test(err.message)) timedOut = true;
          throw err;
        });
      } else {
        const timeout = AbortSignal.timeout(callTimeoutMs);
        const answer = await givenFetch!(url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.any([signal, timeout]),
        }).catch((err) => {
          timedOut = timeout.aborted;
          throw err;
        });
        const text = await answer.text();
        res = { status: answer.status, header: (h) => answer.headers.get(h), text };
      }
      const text = res.text;
      hooks.onCall?.({
        functionId: fn.id,
        status: res.status,
        durationMs: performance.now() - t0,
      });
      const outcome = readCallAnswer(res.status, (h) => res.header(h), text, now());
      if (
        outcome.kind === "retry" &&
        typeof outcome.error.message === "string" &&
        /was not found in this app/.test(outcome.error.message)
      ) {
        options.onUnknownFunction?.(fn.appUrl);
      }
      return outcome;
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      hooks.onCall?.({ functionId: fn.id, status: null, durationMs: performance.now() - t0 });
      const why = timedOut
        ? `no answer within ${callTimeoutMs} ms`
        : describeError((err as { cause?: unknown }).cause ?? err);
      return {
        kind: "retry",
        status: null,
        retryAfterMs: null,
        error: errorObject("EvtCallError", `cannot call ${where(url)}: ${why}`),
      };
    }
  }

  /** Time out the waits of a run that are past their timeout; `true` when a step was memoized. */
  async function timeOutWaits(run: RunRecord): Promise<boolean> {
    const waits = await runs.listWaits(run.runId);
    let memoized = false;
    for (const w of waits) {
      if (w.expiresAt > now()) continue;
      // Atomic: if an event resolved it first, that memo stands and this one is not stored.
      await runs.resolveWait(run.runId, w.stepId, waitTimeout(w), now());
      memoized = true;
      logger.info({ runId: run.runId, stepId: w.stepId }, "a wait timed out");
    }
    return memoized;
  }

  /** Work on one claimed run until it finishes, sleeps, waits for a retry, or is lost. */
  async function work(run: RunRecord, signal: AbortSignal, known?: Known): Promise<void> {
    const fn = await getFunction(run.functionId);
    // A batched run (batchEvents) is called with all its events, in arrival order; events
    // retention deleted are left out; asked for every claimed run (one indexed read), so a batch
    // stays whole even if its function stopped batching since. A run whose event is `known`
    // (adopted or expected as it was created) is not a batch: batches are made by appends.
    const batchIds = known === undefined ? await runs.listBatchEvents(run.runId) : [];
    const fresh = known?.fresh ?? false;
    const loaded =
      batchIds.length === 0
        ? [known?.event ?? (await options.loadEvent(run.eventInternalId, run.env))]
        : await Promise.all(batchIds.map((id) => options.loadEvent(id, run.env)));
    // Started: its batch takes no more events (appends see that too); drop its open entry.
    if (batchIds.length > 0 && run.attempt === 0) await runs.closeBatch(run.runId);
    const storedEvents = loaded.filter((e): e is StoredEvent => e !== null);
    const stored = storedEvents[0] ?? null;
    const event = stored === null ? null : sdkEvent(stored);
    const events = storedEvents.map(sdkEvent);
    if (fn === null || event === null) {
      const why =
        fn === null
          ? `function ${JSON.stringify(run.functionId)} is no longer registered by any app`
          : `event ${run.eventInternalId} is no longer stored (retention deleted it)`;
      await emitAndRelease(
        run,
        event,
        { status: "failed", error: errorObject("EvtRunError", why) },
        run.attempt,
      );
      return;
    }
    const maxAttempts = retriesOf(fn.config) + 1;
    let attempt = run.attempt;
    // A run created held here has no steps (and no waits) yet.
    if (!fresh && (await timeOutWaits(run))) {
      // A resolve does not check the lease: make sure this claim still holds the run.
      if (!(await runs.renewLease(run.runId, owner, now(), leaseMs)))
        throw new LeaseLost("lease lost");
    }
    let steps: StepRecord[] = fresh ? [] : await runs.listSteps(run.runId);

    if (attempt === 0 && steps.length === 0 && stored !== null) {
      // From when the run was due: the receipt, or a future `ts`; for a batch, the receipt
      // of the event that filled it, or its first event's receipt plus the timeout.
      const batch = batchIds.length > 0 ? batchOf(fn.config) : null;
      const last = storedEvents[storedEvents.length - 1]!;
      const due =
        batch === null
          ? Math.max(stored.received_at, stored.ts)
          : batchIds.length >= batch.maxSize
            ? last.received_at
            : stored.received_at + batch.timeoutMs;
      hooks.onRunStarted?.({
        functionId: fn.id,
        lagMs: Math.max(0, now() - due),
        runId: run.runId,
        eventInternalId: run.eventInternalId,
      });
    }

    const retryOrFail = async (error: JsonObject, retryAfter: number | null): Promise<void> => {
      if (attempt + 1 < maxAttempts) {
        const delay = retryAfter ?? retryDelayMs(attempt, retry);
        logger.info(
          {
            runId: run.runId,
            functionId: fn.id,
            attempt,
            nextAttempt: attempt + 1,
            delayMs: delay,
          },
          "call failed; retrying",
        );
        const at = now();
        await release(run, {
          status: "queued",
          now: at,
          dueAt: at + delay,
          attempt: attempt + 1,
          error,
        });
        return;
      }
      await emitAndRelease(run, event, { status: "failed", error }, attempt);
    };

    for (let calls = 0; ; calls++) {
      if (signal.aborted) throw signal.reason;
      if (calls >= MAX_CALLS_PER_CLAIM) {
        await release(run, { status: "queued", now: now(), attempt });
        return;
      }
      const body = callBody({
        event,
        events,
        runId: run.runId,
        attempt,
        maxAttempts,
        steps,
        env: run.env,
      });
      const callStart = now();
      const outcome = await call(fn, run.runId, fn.stepUrl, body, signal);
      if (outcome.kind === "completed") {
        await emitAndRelease(run, event, { status: "completed", output: outcome.output }, attempt);
        return;
      }
      if (outcome.kind === "failed") {
        await emitAndRelease(run, event, { status: "failed", error: outcome.error }, attempt);
        return;
      }
      if (outcome.kind === "retry") {
        await retryOrFail(outcome.error, outcome.retryAfterMs);
        return;
      }
      const ops = outcome.ops;
      if (ops.length === 0) {
        await retryOrFail(
          errorObject("EvtCallError", "the app answered 206 without any step op"),
          null,
        );
        return;
      }
      const save: StepInput[] = [];
      let wake: number | null = null;
      let stepError: JsonObject | null = null;
      let unsupported: StepOp | null = null;
      const planned: StepOp[] = [];
      let plannedFailure: JsonObject | null = null;
      const waits: WaitInput[] = [];
      const invokes: { stepId: string; request: InvokeRequest }[] = [];
      let badWait: string | null = null;
      // `startedAt`: when the call that produced the op began.
      const take = (op: StepOp, startedAt: number): void => {
        const named = { name: userStepName(op), startedAt };
        switch (op.op) {
          case "StepRun":
            save.push({
              stepId: op.id,
              op: op.op,
              data: op.data,
              error: null,
              attempts: attempt + 1,
              ...named,
            });
            break;
          case "StepFailed":
            save.push({
              stepId: op.id,
              op: op.op,
              data: null,
              error: op.error ?? op.data ?? errorObject("Error", "step failed"),
              attempts: attempt + 1,
              ...named,
            });
            break;
          case "StepError":
            stepError ??=
              op.error !== null && typeof op.error === "object" && !Array.isArray(op.error)
                ? op.error
                : errorObject("Error", "step failed");
            break;
          case "Sleep": {
            const text = typeof op.opts?.duration === "string" ? op.opts.duration : op.name;
            // step.sleep(0) comes with an empty name: wake at once.
            const until = text === null || text.trim() === "" ? now() : sleepUntil(text, now());
            if (until === null) {
              unsupported = op;
              break;
            }
            wake = wake === null ? until : Math.max(wake, until);
            save.push({ stepId: op.id, op: op.op, data: null, error: null, attempts: 1, ...named });
            break;
          }
          case "StepPlanned":
            planned.push(op);
            break;
          case "WaitForEvent": {
            const w = waitOf(op, event, now());
            if (typeof w === "string") badWait ??= w;
            else waits.push({ ...w, name: named.name });
            break;
          }
          case "InvokeFunction": {
            if (!options.invoke) {
              unsupported = op;
              break;
            }
            const r = invokeOf(op, run, now());
            if (typeof r === "string") badWait ??= r;
            else {
              waits.push({ ...r.wait, name: named.name });
              invokes.push({ stepId: op.id, request: r.request });
            }
            break;
          }
          default:
            unsupported = op;
        }
      };
      for (const op of ops) take(op, callStart);
      if (planned.length > 0) {
        const outcomes: CallOutcome[] = new Array(planned.length);
        const starts: number[] = new Array(planned.length);
        let next = 0;
        const worker = async () => {
          while (next < planned.length) {
            const i = next++;
            const op = planned[i]!;
            const plannedBody = callBody({
              event,
              events,
              runId: run.runId,
              attempt,
              maxAttempts,
              steps,
              env: run.env,
            });
            starts[i] = now();
            outcomes[i] = await call(
              fn,
              run.runId,
              stepUrlFor(fn.stepUrl, op.id),
              plannedBody,
              signal,
            );
          }
        };
        await Promise.all(
          Array.from({ length: Math.min(PLANNED_CONCURRENCY, planned.length) }, worker),
        );
        for (const [i, o] of outcomes.entries()) {
          if (o.kind === "steps") {
            for (const op of o.ops) {
              if (op.op === "StepPlanned") {
                stepError ??= errorObject(
                  "EvtCallError",
                  `asked to run step ${planned[i]!.id}, the app planned steps again`,
                );
                continue;
              }
              take(op, starts[i]!);
            }
          } else if (o.kind === "retry") {
            stepError ??= o.error;
          } else if (o.kind === "failed") {
            plannedFailure ??= o.error;
          }
          // A 200 here is the function's end seen early: the next discovery call returns it.
        }
      }
      if (plannedFailure !== null) {
        await emitAndRelease(run, event, { status: "failed", error: plannedFailure }, attempt);
        return;
      }
      if (badWait !== null) {
        await emitAndRelease(
          run,
          event,
          { status: "failed", error: errorObject("EvtWaitError", badWait) },
          attempt,
        );
        return;
      }
      if (unsupported !== null) {
        const op = unsupported as StepOp;
        const what =
          op.op === "Sleep"
            ? `step.sleep with a duration evt cannot read (${JSON.stringify(op.name)}); use "30s", "5m", "1h30m" or a date`
            : `${op.op} (${op.name ?? op.id}) is not supported by evt yet`;
        await emitAndRelease(
          run,
          event,
          { status: "failed", error: errorObject("EvtUnsupportedStep", what) },
          attempt,
        );
        return;
      }
      if (save.length > 0) {
        let held: boolean;
        try {
          held = await runs.saveSteps(run.runId, owner, save);
        } catch (err) {
          if (!isFunctionsError(err, "too_large", "invalid_input")) throw err;
          await emitAndRelease(
            run,
            event,
            {
              status: "failed",
              error: errorObject(
                "EvtStepError",
                `a step's result could not be stored: ${describeError(err)}`,
              ),
            },
            attempt,
          );
          return;
        }
        if (!held) throw new LeaseLost("lease lost");
        const at = now();
        const byId = new Map(steps.map((s) => [s.stepId, s]));
        for (const s of save)
          byId.set(s.stepId, {
            ...s,
            runId: run.runId,
            updatedAt: at,
            name: s.name ?? null,
            startedAt: s.startedAt ?? null,
          });
        steps = [...byId.values()];
      }
      if (stepError !== null) {
        await retryOrFail(stepError, null);
        return;
      }
      if (waits.length > 0) {
        // An invoked function that is not registered fails the step now (as in Inngest).
        const missing: StepInput[] = [];
        for (const { stepId, request: r } of invokes) {
          if ((await getFunction(r.functionId)) !== null) continue;
          missing.push({
            stepId,
            op: "InvokeFunction",
            data: null,
            error: errorObject(
              "NonRetriableError",
              `step.invoke: function ${JSON.stringify(r.functionId)} is not registered (give the composite id <app id>-<function id>)`,
            ),
            attempts: 1,
            name: waits.find((w) => w.stepId === stepId)?.name ?? null,
            startedAt: callStart,
          });
        }
        if (missing.length > 0) {
          if (!(await runs.saveSteps(run.runId, owner, missing))) throw new LeaseLost("lease lost");
          const at = now();
          steps = [
            ...steps,
            ...missing.map((m) => ({
              ...m,
              runId: run.runId,
              updatedAt: at,
              name: m.name ?? null,
              startedAt: m.startedAt ?? null,
            })),
          ];
          attempt = 0;
          continue;
        }
        options.onWaiting?.(run.runId);
        if (invokes.length > 0) {
          // The wait first, then the child (its function.finished can only come after), and
          // the run still held meanwhile: a crash before the child starts leaves the run to be
          // called again at its lease end, which starts the child then (once: ids are stable).
          const stored = await runs.waitRun(run.runId, owner, {
            waits,
            now: now(),
            stepsSeen: steps.length,
            hold: true,
          });
          if (!stored) throw new LeaseLost("lease lost");
          options.onWaiting?.(run.runId);
          for (const { request: r } of invokes) await options.invoke!(r);
        }
        const held = await runs.waitRun(run.runId, owner, {
          waits,
          now: now(),
          stepsSeen: steps.length,
          ...(wake !== null ? { dueBy: wake } : {}),
        });
        if (!held) throw new LeaseLost("lease lost");
        options.onWaiting?.(run.runId);
        return;
      }
      if (wake !== null) {
        await release(run, { status: "queued", now: now(), dueAt: wake, attempt: 0 });
        return;
      }
      attempt = 0;
    }
  }

  return {
    owner,
    get active() {
      return working.size;
    },
    start() {
      if (started) return;
      started = true;
      void look();
    },
    wake() {
      void look();
    },
    reserve() {
      if (!started || stopping || working.size + reserved >= concurrency) return null;
      reserved++;
      return { owner, leaseMs };
    },
    unreserve() {
      if (reserved > 0) reserved--;
    },
    adopt(run, event) {
      if (reserved > 0) reserved--;
      if (stopping) {
        // Stopping since the slot was taken: hand the run back for the next start.
        void runs.release(run.runId, owner, { status: "queued", now: now() }).catch(() => {});
        return;
      }
      begin(run, { event, fresh: true });
    },
    expect(run, event) {
      if (!started || stopping || run.status !== "queued") return;
      if (expected.size >= MAX_EXPECTED_RUNS) {
        // The oldest first: runs cancelled or due far ahead must not hold the room forever.
        const oldest = expected.keys().next();
        if (!oldest.done) forget(oldest.value);
      }
      const bytes = eventBytes(event);
      const keep = expectedBytes + bytes <= MAX_EXPECTED_EVENT_BYTES;
      if (keep) expectedBytes += bytes;
      expected.set(run.runId, keep ? { event, bytes } : null);
    },
    async stop(timeoutMs = 10_000) {
      try {
        await stopWorking(timeoutMs);
      } finally {
        transport?.close();
      }
    },
  };

  async function stopWorking(timeoutMs: number): Promise<void> {
    stopping = true;
    expected.clear();
    expectedBytes = 0;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (working.size > 0) {
      await new Promise<void>((resolve) => {
        const cut = setTimeout(resolve, timeoutMs);
        idle = () => {
          clearTimeout(cut);
          resolve();
        };
      });
    }
    if (working.size === 0) return;
    const left = [...working.entries()];
    for (const [, controller] of left) controller.abort(new LeaseLost("shutting down"));
    // Hand the runs back, due now, so that the next start (or another gateway) resumes them
    // at once instead of after their lease.
    await Promise.allSettled(
      left.map(([runId]) => runs.release(runId, owner, { status: "queued", now: now() })),
    );
  }
}

/** About how much memory an event holds: its `data` and `user` as JSON, and its other fields. */
function eventBytes(event: StoredEvent): number {
  try {
    const user = event.user === null ? 0 : JSON.stringify(event.user).length;
    return JSON.stringify(event.data).length + user + 256;
  } catch {
    return Number.POSITIVE_INFINITY; // not JSON: not kept
  }
}

/** The correlation id of an invoked run's event (`data._inngest.correlation_id`), or `null`. */
function correlationOf(event: JsonObject | null): string | null {
  const data = event?.data;
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const meta = data._inngest;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return null;
  return typeof meta.correlation_id === "string" ? meta.correlation_id : null;
}

/**
 * The user's name of a step (`displayName` ?? `name`: the id given to `step.run`), as the run
 * store keeps it: control characters dropped, at most 255 characters; `null` when none.
 */
function userStepName(op: StepOp): string | null {
  const raw = op.displayName ?? op.name;
  if (typeof raw !== "string") return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const text = raw.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, 255);
  return text === "" ? null : text;
}

function stepName(op: StepOp): string {
  return JSON.stringify(op.name ?? op.id);
}

/** A timeout of a wait op (`"1h"`, a date), or an error message. */
function timeoutOf(
  op: StepOp,
  what: string,
  fallbackMs: number | null,
  at: number,
): number | string {
  const raw = op.opts?.timeout;
  if (raw === undefined || raw === null) {
    if (fallbackMs !== null) return at + fallbackMs;
    return `${what} ${stepName(op)} has no timeout; give one like "30s", "5m", "1h" or a date`;
  }
  const until = typeof raw === "string" ? sleepUntil(raw, at) : null;
  if (until === null)
    return `${what} ${stepName(op)} has a timeout evt cannot read (${JSON.stringify(raw).slice(0, 200)}); use "30s", "5m", "1h30m" or a date`;
  return until;
}

/** The wait of a `WaitForEvent` op (its `if` interpolated with the run's event), or an error message. */
function waitOf(op: StepOp, event: JsonObject, at: number): WaitInput | string {
  const opts = op.opts ?? {};
  const name = typeof opts.event === "string" && opts.event !== "" ? opts.event : op.name;
  const what = "step.waitForEvent";
  if (typeof name !== "string" || name.trim() === "" || name.length > MAX_EVENT_NAME_LENGTH)
    return `${what} ${stepName(op)} has no event name to wait for (opts.event or name: 1 to ${MAX_EVENT_NAME_LENGTH} characters)`;
  if (name.includes("*"))
    return `${what} ${stepName(op)} waits for ${JSON.stringify(name.slice(0, 300))}: a wait matches one exact event name, without wildcards`;
  const expiresAt = timeoutOf(op, what, null, at);
  if (typeof expiresAt === "string") return expiresAt;
  let expression: string | null = null;
  const cond = opts.if;
  if (cond !== undefined && cond !== null && !(typeof cond === "string" && cond.trim() === "")) {
    if (typeof cond !== "string")
      return `${what} ${stepName(op)}: if must be a CEL expression (a string)`;
    try {
      expression = interpolateWaitExpression(cond, event as Record<string, unknown>);
      compileFilter(expression);
    } catch (err) {
      return `${what} ${stepName(op)}: the if ${JSON.stringify(cond.slice(0, 500))} ${describeError(err).replace(/^.*?\] /, "")}`;
    }
  }
  // What the wait index will be given: refused here, clearly, rather than never matched.
  try {
    createTriggerIndex([
      {
        id: "wait",
        triggers: [
          expression === null
            ? { event: name }
            : { event: name, expression: waitMatchExpression(expression) },
        ],
      },
    ]);
  } catch (err) {
    return `${what} ${stepName(op)} cannot wait for ${JSON.stringify(name.slice(0, 300))}: ${describeError(err).replace(/^.*?\] /, "")}`;
  }
  return { stepId: op.id, kind: "event", event: name, expression, expiresAt };
}

/** The wait and the child run of an `InvokeFunction` op, or an error message. */
function invokeOf(
  op: StepOp,
  run: RunRecord,
  at: number,
): { wait: WaitInput; request: InvokeRequest } | string {
  const opts = op.opts ?? {};
  const what = "step.invoke";
  const functionId = opts.function_id;
  if (typeof functionId !== "string" || functionId === "" || functionId.length > 255)
    return `${what} ${stepName(op)} has no function to invoke (opts.function_id: the composite id <app id>-<function id>)`;
  const payload = opts.payload;
  const given =
    typeof payload === "object" && payload !== null && !Array.isArray(payload)
      ? payload.data
      : undefined;
  if (given !== undefined && given !== null && (typeof given !== "object" || Array.isArray(given)))
    return `${what} ${stepName(op)}: data must be an object`;
  const expiresAt = timeoutOf(op, what, DEFAULT_INVOKE_TIMEOUT_MS, at);
  if (typeof expiresAt === "string") return expiresAt;
  const correlationId = `${run.runId}.${op.id}`;
  return {
    wait: {
      stepId: op.id,
      kind: "invoke",
      event: "inngest/function.finished",
      expression: correlationIf(correlationId),
      expiresAt,
    },
    request: {
      functionId,
      // Per start of the run: a replayed parent invokes a new child, a repeat within one start
      // stores the event once (and so starts one child).
      eventId: `invoke:${run.runId}:${op.id}:${run.startedAt ?? run.createdAt}`,
      data: {
        ...((given ?? {}) as JsonObject),
        _inngest: { fn_id: functionId, correlation_id: correlationId, source_run_id: run.runId },
      },
      env: run.env,
      parentRunId: run.runId,
    },
  };
}

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { StoredEvent } from "@evt/schema";
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
  FunctionRecord,
  JsonValue,
  ReleaseInput,
  RunRecord,
  RunStore,
  StepInput,
  StepRecord,
} from "./run-store";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, retryDelayMs, sleepUntil } from "./timing";

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
  /** Told when an app says it does not know a function (evt re-syncs the app). */
  onUnknownFunction?(appUrl: string): void;
  /** This executor's lease owner id. @default `<host>:<pid>:<random>` */
  owner?: string;
  /** Lease of a claimed run, renewed while it is worked on. @default 30_000 */
  leaseMs?: number;
  /** Runs worked on at once. @default 32 */
  concurrency?: number;
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

  let started = false;
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let timerAt = Number.POSITIVE_INFINITY;
  let looking = false;
  let lookAgain = false;
  const working = new Map<string, AbortController>();
  /** Slots taken by `reserve` for runs being created held. */
  let reserved = 0;
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
        for (const run of claimed) begin(run);
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

  function begin(run: RunRecord, preloaded?: StoredEvent): void {
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
    work(run, controller.signal, preloaded)
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
    if (!held) throw new LeaseLost("lease lost");
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
    const triggeredBySystem =
      event !== null &&
      typeof event.name === "string" &&
      event.name.startsWith("inngest/function.");
    if (!triggeredBySystem) {
      const base = { function_id: functionId, run_id: run.runId, event: event ?? null };
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
    url: string,
    body: string,
    signal: AbortSignal,
  ): Promise<CallOutcome> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.sign) headers["x-inngest-signature"] = options.sign(body);
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

  /** Work on one claimed run until it finishes, sleeps, waits for a retry, or is lost. */
  async function work(run: RunRecord, signal: AbortSignal, preloaded?: StoredEvent): Promise<void> {
    const fn = await getFunction(run.functionId);
    const stored = preloaded ?? (await options.loadEvent(run.eventInternalId, run.env));
    const event = stored === null ? null : sdkEvent(stored);
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
    // A run created held here has no steps yet.
    let steps: StepRecord[] = preloaded !== undefined ? [] : await runs.listSteps(run.runId);

    if (attempt === 0 && steps.length === 0 && stored !== null) {
      // From when the run was due: the receipt, or a future `ts`.
      const due = Math.max(stored.received_at, stored.ts);
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
        runId: run.runId,
        attempt,
        maxAttempts,
        steps,
        env: run.env,
      });
      const outcome = await call(fn, fn.stepUrl, body, signal);
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
      const take = (op: StepOp): void => {
        switch (op.op) {
          case "StepRun":
            save.push({
              stepId: op.id,
              op: op.op,
              data: op.data,
              error: null,
              attempts: attempt + 1,
            });
            break;
          case "StepFailed":
            save.push({
              stepId: op.id,
              op: op.op,
              data: null,
              error: op.error ?? op.data ?? errorObject("Error", "step failed"),
              attempts: attempt + 1,
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
            save.push({ stepId: op.id, op: op.op, data: null, error: null, attempts: 1 });
            break;
          }
          case "StepPlanned":
            planned.push(op);
            break;
          default:
            unsupported = op;
        }
      };
      for (const op of ops) take(op);
      if (planned.length > 0) {
        const outcomes: CallOutcome[] = new Array(planned.length);
        let next = 0;
        const worker = async () => {
          while (next < planned.length) {
            const i = next++;
            const op = planned[i]!;
            const plannedBody = callBody({
              event,
              runId: run.runId,
              attempt,
              maxAttempts,
              steps,
              env: run.env,
            });
            outcomes[i] = await call(fn, stepUrlFor(fn.stepUrl, op.id), plannedBody, signal);
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
              take(op);
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
        for (const s of save) byId.set(s.stepId, { ...s, runId: run.runId, updatedAt: at });
        steps = [...byId.values()];
      }
      if (stepError !== null) {
        await retryOrFail(stepError, null);
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
      begin(run, event);
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

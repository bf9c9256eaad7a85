import type { StoredEvent } from "@evt/schema";
import {
  type CronEntry,
  compileKey,
  createTriggerIndex,
  type EvaluationErrorInfo,
  type KeyExpression,
  type TriggerDefinition,
  type TriggerIndex,
} from "@evt/triggers";
import { type BatchConfig, batchKeyOf, batchOf } from "./batching";
import { type ConcurrencyLimit, type ConcurrencySlot, concurrencyOf, slotKey } from "./concurrency";
import {
  type Debounce,
  debounceKey,
  debounceOf,
  prioritisedDueAt,
  priorityFactor,
  priorityOf,
  type RateLimit,
  rateLimitKey,
  rateLimitOf,
  type Throttle,
  throttleKey,
  throttleOf,
} from "./flow-control";
import type { FunctionRecord, JsonValue, RunRecord, RunStore } from "./run-store";

/** Options of {@link createDispatcher}. */
export interface DispatcherOptions {
  /** Where functions are read from and runs are created. */
  runs: RunStore;
  /** Clock (ms since the epoch). @default Date.now */
  now?: () => number;
  /** Told about each `if` expression that fails on an event (the function does not run). */
  onEvaluationError?: (info: EvaluationErrorInfo) => void;
  /**
   * For functions registered with `idempotency` (a CEL key): claim the key for 24 hours.
   * `true`: the run goes ahead (a fresh key, or the same event again); `false`: another event
   * took the key, and this one starts no run of the function. Without it, `idempotency` is
   * not acted on.
   */
  claimIdempotencyKey?: (
    functionId: string,
    key: string,
    eventInternalId: string,
  ) => Promise<boolean>;
  /**
   * Told when a key expression fails on an event: an `idempotency` key (the run goes ahead
   * without a key) or a `concurrency` key (the run takes the function-level slot of that
   * limit instead). `kind` says which; absent means idempotency.
   */
  onKeyError?: (info: {
    functionId: string;
    expression: string;
    error: Error;
    kind?: "idempotency" | "concurrency" | "priority" | "rateLimit" | "throttle" | "debounce";
  }) => void;
  /**
   * Told when a `batchEvents` expression fails on an event: an `if` (the event runs unbatched)
   * or a `key` (the event goes to the function's unkeyed batch).
   */
  onBatchError?: (info: {
    functionId: string;
    field: "if" | "key";
    expression: string;
    error: Error;
  }) => void;
  /**
   * Told when an event starts no run of a matching function: `rate_limit` (its `rateLimit`
   * was reached; the limit is taken in the run store, shared by every gateway on it).
   * Idempotency skips are told by `claimIdempotencyKey`'s caller.
   */
  onRunSkipped?: (functionId: string, reason: "rate_limit") => void;
  /**
   * Start runs already held by this process (an executor's `reserve` / `adopt` /
   * `unreserve`): for each run due now, `reserve` may give a lease; the run is then created
   * held (`createRun`'s `lease`) and handed to `adopt` with its event, so that its first call
   * needs no claim. `unreserve` gives the slot back when no run was created (it existed
   * already, or the create failed). Without it, runs are created queued for a claim.
   */
  holder?: RunHolder;
}

/** Who takes runs as they are created (see {@link DispatcherOptions.holder}). */
export interface RunHolder {
  /** A lease to create the function's run with, or `null` to create it queued. */
  reserve(functionId: string): { owner: string; leaseMs: number } | null;
  /** Work on a run created held with a lease `reserve` gave. */
  adopt(run: RunRecord, event: StoredEvent): void;
  /** The lease `reserve` gave was not used. */
  unreserve(): void;
  /**
   * Told of a run just created queued (not held, not a batch or a debounce) with its event,
   * so that its first claim here can start it without reading the event back.
   */
  expect?(run: RunRecord, event: StoredEvent): void;
}

/** What {@link Dispatcher.dispatch} did. */
export interface DispatchResult {
  /** Runs created by this call (not the ones that already existed). */
  created: RunRecord[];
  /** Matches whose run already existed (a retried request, a second gateway). */
  existing: number;
  /** Functions not started because their idempotency key was taken or their rate limit reached, by function id. */
  skipped: string[];
  /** Batched runs (of `batchEvents` functions) this call added an event to, not created. */
  appended: RunRecord[];
}

/**
 * Turns stored events into runs: matches each event against the registered functions
 * (`@evt/triggers`) and creates one run per (function, event), idempotently. See
 * {@link createDispatcher}.
 */
export interface Dispatcher {
  /** Create the runs `events` (stored in `env`) trigger. Safe to call again with the same events. */
  dispatch(env: string, events: readonly StoredEvent[]): Promise<DispatchResult>;
  /**
   * Re-read the functions from the run store (after a sync here or on another gateway);
   * only added, changed and removed functions are re-indexed.
   */
  refresh(): Promise<void>;
  /** The cron triggers of the indexed functions (for the cron scheduler). */
  crons(): CronEntry[];
  /** The function last read with this id, or `undefined`. */
  functionById(id: string): FunctionRecord | undefined;
  /** How many functions are indexed. */
  readonly size: number;
}

/** The `idempotency` key expression of a stored function config, or `null`. */
export function idempotencyOf(config: JsonValue): string | null {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return null;
  const value = config.idempotency;
  return typeof value === "string" && value.trim() !== "" ? value : null;
}

/**
 * Flow control a run must go through the claim for (a limit counted when runs are claimed,
 * or a run that waits for others): runs of such functions are never created held.
 */
const CLAIMED_FLOW_CONTROL = [
  "concurrency",
  "throttle",
  "rateLimit",
  "debounce",
  "batchEvents",
  "priority",
  "singleton",
];

/** Whether a function's runs may be created already held (no flow control at claim time). */
export function startsHeld(config: JsonValue): boolean {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return true;
  return !CLAIMED_FLOW_CONTROL.some((k) => config[k] !== undefined && config[k] !== null);
}

/** The event as expressions read it. */
function view(event: StoredEvent): Record<string, unknown> {
  return {
    name: event.name,
    data: event.data ?? {},
    user: event.user ?? null,
    id: event.id ?? null,
    ts: event.ts ?? null,
    v: event.v ?? null,
  };
}

/** The event triggers of a stored function config (cron triggers are the scheduler's). */
export function triggersOf(config: JsonValue): TriggerDefinition[] {
  const triggers =
    typeof config === "object" && config !== null && !Array.isArray(config)
      ? config.triggers
      : undefined;
  return Array.isArray(triggers) ? (triggers as unknown as TriggerDefinition[]) : [];
}

/**
 * Whether a function must be re-indexed. The version alone does not tell: a function removed
 * by one sync and added back by the next starts again at version 1, with other triggers.
 */
function changed(before: FunctionRecord, after: FunctionRecord): boolean {
  return (
    before.version !== after.version ||
    before.appUrl !== after.appUrl ||
    JSON.stringify(concurrencyOf(before.config)) !== JSON.stringify(concurrencyOf(after.config)) ||
    priorityOf(before.config) !== priorityOf(after.config) ||
    JSON.stringify(rateLimitOf(before.config)) !== JSON.stringify(rateLimitOf(after.config)) ||
    JSON.stringify(throttleOf(before.config)) !== JSON.stringify(throttleOf(after.config)) ||
    JSON.stringify(debounceOf(before.config)) !== JSON.stringify(debounceOf(after.config)) ||
    JSON.stringify(triggersOf(before.config)) !== JSON.stringify(triggersOf(after.config))
  );
}

/**
 * Create a dispatcher over a run store's functions. Call {@link Dispatcher.refresh} once
 * before the first dispatch, and again whenever functions may have changed.
 *
 * @example
 * ```ts
 * import { createDispatcher } from "@evt/functions";
 * import { createMemoryRunStore } from "@evt/functions/memory";
 *
 * const dispatcher = createDispatcher({ runs: createMemoryRunStore() });
 * await dispatcher.refresh();
 * const { created } = await dispatcher.dispatch("production", storedEvents);
 * ```
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { runs } = options;
  const now = options.now ?? Date.now;
  const index: TriggerIndex = createTriggerIndex(
    [],
    options.onEvaluationError ? { onEvaluationError: options.onEvaluationError } : {},
  );
  let known = new Map<string, FunctionRecord>();
  /** Functions whose runs may be created held (see {@link startsHeld}). */
  const held = new Set<string>();
  /** Idempotency key expressions by function id (of the functions that register one). */
  const keys = new Map<string, KeyExpression>();
  /** Concurrency limits and their compiled keys by function id (of the functions with some). */
  const limits = new Map<string, { limit: ConcurrencyLimit; key: KeyExpression | null }[]>();
  /** `batchEvents` by function id (of the functions that batch). */
  const batches = new Map<string, BatchConfig>();

  /** The batch key an event goes to, or `null` when it runs unbatched (`if` false or failing). */
  function batchFor(batch: BatchConfig, functionId: string, event: StoredEvent): string | null {
    const vars = view(event);
    if (batch.filter !== null) {
      const passed = batch.filter.evaluate({ event: vars });
      if (!passed.ok || passed.value !== true) {
        if (!passed.ok)
          options.onBatchError?.({
            functionId,
            field: "if",
            expression: batch.filter.expression,
            error: passed.error,
          });
        return null;
      }
    }
    if (batch.key === null) return batchKeyOf(null);
    const key = batch.key.evaluate(vars);
    if (!key.ok) {
      options.onBatchError?.({
        functionId,
        field: "key",
        expression: batch.key.expression,
        error: key.error,
      });
      return batchKeyOf(null);
    }
    return batchKeyOf(key.key);
  }
  /** Compiled `priority.run` expressions by function id. */
  const priorities = new Map<string, KeyExpression>();
  /** Debounces and their compiled keys by function id. */
  const debounces = new Map<string, { debounce: Debounce; key: KeyExpression | null }>();
  /** Throttles and their compiled keys by function id. */
  const throttles = new Map<string, { throttle: Throttle; key: KeyExpression | null }>();
  /** Rate limits and their compiled keys by function id. */
  const rateLimits = new Map<string, { limit: RateLimit; key: KeyExpression | null }>();
  let refreshing: Promise<void> | null = null;

  /** A compiled key, or `null` when it no longer compiles (registration checks it). */
  const compiled = (expression: string | null): KeyExpression | null => {
    if (expression === null) return null;
    try {
      return compileKey(expression);
    } catch {
      return null;
    }
  };

  async function load(): Promise<void> {
    const list = await runs.listFunctions();
    const next = new Map<string, FunctionRecord>();
    for (const fn of list) next.set(fn.id, fn);
    const stale: string[] = [];
    const fresh: FunctionRecord[] = [];
    for (const [id, fn] of known) {
      const now = next.get(id);
      if (now === undefined || changed(fn, now)) stale.push(id);
    }
    for (const [id, fn] of next) {
      const before = known.get(id);
      if (before === undefined || changed(before, fn)) fresh.push(fn);
    }
    if (stale.length > 0) index.remove(stale);
    // Registration checked every trigger; a function that no longer compiles (a newer
    // @evt/triggers) is left out rather than blocking the others.
    for (const id of stale) {
      keys.delete(id);
      held.delete(id);
      limits.delete(id);
      batches.delete(id);
      priorities.delete(id);
      rateLimits.delete(id);
      throttles.delete(id);
      debounces.delete(id);
    }
    for (const fn of fresh) {
      try {
        index.add([{ id: fn.id, triggers: triggersOf(fn.config) }]);
      } catch {
        next.delete(fn.id);
        continue;
      }
      if (startsHeld(fn.config)) held.add(fn.id);
      else held.delete(fn.id);
      const list = concurrencyOf(fn.config).map((limit) => {
        let key: KeyExpression | null = null;
        if (limit.key !== null) {
          try {
            key = compileKey(limit.key);
          } catch {
            // Registration checks it; one that no longer compiles is the function-level slot.
          }
        }
        return { limit, key };
      });
      if (list.length > 0) limits.set(fn.id, list);
      else limits.delete(fn.id);
      const batch = batchOf(fn.config);
      if (batch !== null) batches.set(fn.id, batch);
      else batches.delete(fn.id);
      const priority = compiled(priorityOf(fn.config));
      if (priority !== null) priorities.set(fn.id, priority);
      else priorities.delete(fn.id);
      const rate = rateLimitOf(fn.config);
      if (rate !== null) rateLimits.set(fn.id, { limit: rate, key: compiled(rate.key) });
      else rateLimits.delete(fn.id);
      const throttle = throttleOf(fn.config);
      if (throttle !== null) throttles.set(fn.id, { throttle, key: compiled(throttle.key) });
      else throttles.delete(fn.id);
      const debounce = debounceOf(fn.config);
      if (debounce !== null) debounces.set(fn.id, { debounce, key: compiled(debounce.key) });
      else debounces.delete(fn.id);
      const expression = idempotencyOf(fn.config);
      keys.delete(fn.id);
      if (expression !== null) {
        try {
          keys.set(fn.id, compileKey(expression));
        } catch {
          // Registration checks it; a key that no longer compiles leaves the runs unkeyed.
        }
      }
    }
    known = next;
  }

  /** The concurrency slots a run of `functionId` for `event` takes (keys evaluated now). */
  function slotsOf(functionId: string, env: string, event: StoredEvent): ConcurrencySlot[] {
    const list = limits.get(functionId);
    if (list === undefined) return [];
    return list.map(({ limit, key }, idx) => {
      let value: string | null = null;
      if (key !== null) {
        const evaluated = key.evaluate(view(event));
        if (evaluated.ok) value = evaluated.key;
        else
          options.onKeyError?.({
            functionId,
            expression: key.expression,
            error: evaluated.error,
            kind: "concurrency",
          });
      }
      return { idx, key: slotKey(functionId, env, idx, limit, value) };
    });
  }

  /** The priority factor (seconds) of a run of `functionId` for `event`; 0 when it fails. */
  function factorOf(functionId: string, event: StoredEvent): number {
    const expr = priorities.get(functionId);
    if (expr === undefined) return 0;
    const evaluated = expr.evaluate(view(event));
    const factor = evaluated.ok ? priorityFactor(evaluated.key) : evaluated.error;
    if (typeof factor === "number") return factor;
    options.onKeyError?.({
      functionId,
      expression: expr.expression,
      error: factor,
      kind: "priority",
    });
    return 0;
  }

  /**
   * Whether the function's `rateLimit` lets this event start a run (taken in the run store).
   * A key that fails to evaluate is logged and counts against the function-wide key.
   */
  async function withinRateLimit(
    functionId: string,
    event: StoredEvent,
    at: number,
  ): Promise<boolean> {
    const rate = rateLimits.get(functionId);
    if (rate === undefined) return true;
    let value: string | null = null;
    if (rate.key !== null) {
      const evaluated = rate.key.evaluate(view(event));
      if (evaluated.ok) value = evaluated.key;
      else
        options.onKeyError?.({
          functionId,
          expression: rate.key.expression,
          error: evaluated.error,
          kind: "rateLimit",
        });
    }
    const ok = await runs.takeRateLimit({
      key: rateLimitKey(functionId, value),
      eventInternalId: event.internal_id,
      limit: rate.limit.limit,
      periodMs: rate.limit.periodMs,
      now: at,
    });
    if (!ok) options.onRunSkipped?.(functionId, "rate_limit");
    return ok;
  }

  /**
   * When a run due at `dueAt` may start under its function's `throttle`: a start reserved in
   * the run store (shared by every gateway on it), in the order of the reservations per key.
   */
  async function throttledDueAt(
    functionId: string,
    event: StoredEvent,
    at: number,
    dueAt: number,
  ): Promise<number> {
    const t = throttles.get(functionId)!;
    let value: string | null = null;
    if (t.key !== null) {
      const evaluated = t.key.evaluate(view(event));
      if (evaluated.ok) value = evaluated.key;
      else
        options.onKeyError?.({
          functionId,
          expression: t.key.expression,
          error: evaluated.error,
          kind: "throttle",
        });
    }
    const startAt = await runs.reserveThrottle({
      key: throttleKey(functionId, value),
      limit: t.throttle.limit,
      burst: t.throttle.burst,
      periodMs: t.throttle.periodMs,
      now: Math.max(at, dueAt),
    });
    return Math.max(dueAt, startAt);
  }

  /**
   * A debounced function's run for `event` (`null` when it existed already): created queued, then made the pending run of its
   * key in the run store (the one it replaces is cancelled), due `period` after this event and
   * at the latest `timeout` after the key's first. The run is called with its own event, the
   * last one. A crash between the two leaves the new run due `period` after its event.
   */
  async function debounce(
    functionId: string,
    d: { debounce: Debounce; key: KeyExpression | null },
    event: StoredEvent,
    env: string,
    at: number,
    concurrency: ConcurrencySlot[],
  ): Promise<RunRecord | null> {
    let value: string | null = null;
    if (d.key !== null) {
      const evaluated = d.key.evaluate(view(event));
      if (evaluated.ok) value = evaluated.key;
      else
        options.onKeyError?.({
          functionId,
          expression: d.key.expression,
          error: evaluated.error,
          kind: "debounce",
        });
    }
    const now = Math.max(at, event.ts);
    const result = await runs.createRun({
      functionId,
      eventInternalId: event.internal_id,
      env,
      dueAt: now + d.debounce.periodMs,
      now: at,
      ...(concurrency.length > 0 ? { concurrency } : {}),
    });
    if (!result.created) return null;
    const { dueAt } = await runs.debounceRun({
      functionId,
      key: debounceKey(value),
      runId: result.run.runId,
      periodMs: d.debounce.periodMs,
      timeoutMs: d.debounce.timeoutMs,
      now,
    });
    return { ...result.run, dueAt };
  }

  return {
    refresh() {
      // Calls during a refresh wait for the next one, which sees their change.
      const run = async () => {
        if (refreshing !== null) await refreshing.catch(() => {});
        await load();
      };
      const p = run();
      refreshing = p;
      return p.finally(() => {
        if (refreshing === p) refreshing = null;
      });
    },
    async dispatch(env, events) {
      const created: RunRecord[] = [];
      const skipped: string[] = [];
      const appended: RunRecord[] = [];
      let existing = 0;
      if (known.size === 0) return { created, existing, skipped, appended };
      const at = now();
      const pending: Promise<void>[] = [];
      for (const event of events) {
        const matches = index.match({
          name: event.name,
          data: event.data as Record<string, unknown> | null,
          user: event.user as Record<string, unknown> | null,
          id: event.id,
          ts: event.ts,
          v: event.v,
        });
        for (const m of matches) {
          // An event with a future `ts` starts its runs then (the Event API bounds how far).
          const due = prioritisedDueAt(Math.max(event.ts, at), at, factorOf(m.functionId, event));
          const concurrency = slotsOf(m.functionId, env, event);
          // All at once: the SQLite driver commits them together, PostgreSQL pipelines them.
          const debounced = debounces.get(m.functionId);
          const start = (dueAt: number) => {
            if (debounced !== undefined) {
              return debounce(m.functionId, debounced, event, env, at, concurrency).then((run) => {
                if (run === null) existing++;
                else created.push(run);
              });
            }
            const lease =
              dueAt <= at && held.has(m.functionId)
                ? (options.holder?.reserve(m.functionId) ?? null)
                : null;
            return runs
              .createRun({
                functionId: m.functionId,
                eventInternalId: event.internal_id,
                env,
                dueAt,
                now: at,
                ...(lease === null ? {} : { lease }),
                ...(concurrency.length > 0 ? { concurrency } : {}),
              })
              .then(
                (result) => {
                  if (result.created) created.push(result.run);
                  else existing++;
                  if (lease === null) {
                    if (result.created && result.run.status === "queued")
                      options.holder?.expect?.(result.run, event);
                    return;
                  }
                  if (result.created) options.holder!.adopt(result.run, event);
                  else options.holder!.unreserve();
                },
                (err: unknown) => {
                  if (lease !== null) options.holder!.unreserve();
                  throw err;
                },
              );
          };
          const batch = batches.get(m.functionId);
          if (batch !== undefined) {
            const batched = batchFor(batch, m.functionId, event);
            if (batched !== null) {
              // All at once, in event order: the store applies one handle's appends to a
              // batch in call order, so a batch keeps the events' arrival order.
              pending.push(
                runs
                  .appendToBatch({
                    functionId: m.functionId,
                    eventInternalId: event.internal_id,
                    env,
                    batchKey: batched,
                    maxSize: batch.maxSize,
                    timeoutMs: batch.timeoutMs,
                    now: at,
                  })
                  .then((result) => {
                    if (result.created) created.push(result.run);
                    else if (result.appended) appended.push(result.run);
                    else existing++;
                  }),
              );
              continue;
            }
            // `if` false or failing: the event runs unbatched at once, as Inngest does.
          }
          // throttle: the run is due when the function's rate per key lets it start.
          const throttled = () =>
            throttles.has(m.functionId) && debounced === undefined
              ? throttledDueAt(m.functionId, event, at, due).then(start)
              : start(due);
          const keyExpr = options.claimIdempotencyKey ? keys.get(m.functionId) : undefined;
          if (keyExpr === undefined) {
            if (!rateLimits.has(m.functionId)) {
              pending.push(throttled());
              continue;
            }
            pending.push(
              withinRateLimit(m.functionId, event, at).then((go) => {
                if (go) return throttled();
                skipped.push(m.functionId);
              }),
            );
            continue;
          }
          const evaluated = keyExpr.evaluate(view(event));
          if (!evaluated.ok || evaluated.key === null) {
            if (!evaluated.ok)
              options.onKeyError?.({
                functionId: m.functionId,
                expression: keyExpr.expression,
                error: evaluated.error,
              });
            pending.push(throttled());
            continue;
          }
          const key = evaluated.key;
          pending.push(
            options.claimIdempotencyKey!(m.functionId, key, event.internal_id).then((go) => {
              if (go) return throttled();
              skipped.push(m.functionId);
            }),
          );
        }
      }
      if (pending.length > 0) await Promise.all(pending);
      return { created, existing, skipped, appended };
    },
    functionById(id) {
      return known.get(id);
    },
    crons() {
      return index.crons();
    },
    get size() {
      return known.size;
    },
  };
}

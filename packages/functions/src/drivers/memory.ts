import { createUlidFactory } from "@evt/schema";
import { checkAppendToBatch } from "../batching";
import {
  type ConcurrencyLimit,
  type ConcurrencySlot,
  concurrencyOf,
  pickWithinLimits,
} from "../concurrency";
import { FunctionsError } from "../errors";
import {
  checkDebounceInput,
  checkRateLimitInput,
  checkThrottleInput,
  debounceDue,
  throttleStep,
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
} from "../validate";
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

const DRIVER = "memory";

/** Options of {@link createMemoryRunStore}. None yet; kept for symmetry with the other drivers. */
export type MemoryRunStoreOptions = Record<string, never>;

/** `(dueAt, runId)` entries kept sorted: the memory driver's due index. */
class DueIndex {
  private keys: number[] = [];
  private ids: string[] = [];

  private position(due: number, id: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.keys[mid]!;
      if (k < due || (k === due && this.ids[mid]! < id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(due: number, id: string): void {
    const at = this.position(due, id);
    this.keys.splice(at, 0, due);
    this.ids.splice(at, 0, id);
  }

  remove(due: number, id: string): void {
    const at = this.position(due, id);
    if (this.ids[at] === id) {
      this.keys.splice(at, 1);
      this.ids.splice(at, 1);
    }
  }

  /** Ids with a due time `<= now`, earliest first, at most `limit`. */
  due(now: number, limit: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.keys.length && out.length < limit && this.keys[i]! <= now; i++) {
      out.push(this.ids[i]!);
    }
    return out;
  }

  first(): number | null {
    return this.keys.length === 0 ? null : this.keys[0]!;
  }
}

/**
 * A run store in process memory, for tests and single-process experiments: nothing survives
 * the process. Values are copied in and out (as JSON), like the database drivers.
 *
 * @example
 * ```ts
 * import { createMemoryRunStore } from "@evt/functions/memory";
 *
 * const runs = createMemoryRunStore();
 * const { run, created } = await runs.createRun({
 *   functionId: "my-app-send-welcome", eventInternalId: "01JD0000000000000000000000", env: "dev",
 *   dueAt: Date.now(),
 * });
 * const [claimed] = await runs.claimDue(Date.now(), "worker-1", 30_000, 10);
 * ```
 */
export function createMemoryRunStore(_options: MemoryRunStoreOptions = {}): RunStore {
  const nextUlid = createUlidFactory();
  const apps = new Map<string, AppRecord>();
  const functions = new Map<string, FunctionRow>();
  const runs = new Map<string, RunRow>();
  const byKey = new Map<string, string>();
  const byEvent = new Map<string, string[]>();
  const steps = new Map<string, Map<string, StepRow>>();
  /** Attempts by run, in the order recorded. */
  const attempts = new Map<string, AttemptRow[]>();
  const dueIndex = new DueIndex();
  const cronTicks = new Map<string, number>();
  /** Waits by run id, then step id; `waitSeqs` holds them by seq (for `listWaitsSince`). */
  const waits = new Map<string, Map<string, WaitRow>>();
  const waitSeqs = new Map<number, WaitRow>();
  let lastWaitSeq = 0;
  /** Every wait stored, by seq (resolved ones dropped when they are half of it). */
  let waitLog: WaitRow[] = [];
  /** Concurrency slots by run id (runs created with some), and limits by function id. */
  const slots = new Map<string, ConcurrencySlot[]>();
  const limits = new Map<string, ConcurrencyLimit[]>();
  /** Runs with slots that have not finished: what a claim looks at, not the history. */
  const slotted = new Set<string>();
  let closed = false;
  // --- batching ---
  /** Events of each batched run, in arrival order. */
  const batchEvents = new Map<string, string[]>();
  /** The batched run of each `(function, event)`. */
  const batchOfEvent = new Map<string, string>();
  /** The open batch of each `(function, batch key)`, and the slot of each open batch run. */
  const openBatches = new Map<string, string>();
  const openIds = new Map<string, string>();
  /** The batched runs holding each event (of any function). */
  const batchRunsOfEvent = new Map<string, string[]>();
  function addBatchEvent(functionId: string, eventId: string, runId: string): void {
    batchOfEvent.set(`${functionId}\u0000${eventId}`, runId);
    const list = batchRunsOfEvent.get(eventId);
    if (list) list.push(runId);
    else batchRunsOfEvent.set(eventId, [runId]);
  }

  function dropWaits(runId: string): void {
    const list = waits.get(runId);
    if (!list) return;
    for (const w of list.values()) waitSeqs.delete(w.seq);
    waits.delete(runId);
  }

  function use(op: string): void {
    if (closed) throw new FunctionsError(DRIVER, "closed", `${op}: the run store is closed`);
  }

  /** Run `fn` as an async call: its throws become rejections. */
  /** Starts taken per rate-limit key (the last period's, pruned as the key is used). */
  const rateTaken = new Map<string, { event: string; at: number }[]>();
  /** The theoretical arrival time per throttle key. */
  const throttleTat = new Map<string, number>();
  /** The pending run of each debounced (function, key) and when its first event came. */
  const debounces = new Map<string, { runId: string; firstAt: number }>();

  function call<T>(op: string, fn: () => T): Promise<T> {
    try {
      use(op);
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  function setDue(row: RunRow, due: number | null): void {
    if (row.due_at !== null) dueIndex.remove(row.due_at, row.run_id);
    row.due_at = due;
    if (due !== null) dueIndex.add(due, row.run_id);
  }

  function held(runId: string, owner: string): RunRow | null {
    const row = runs.get(runId);
    return row && row.status === "running" && row.lease_owner === owner ? row : null;
  }

  return {
    driver: DRIVER,

    upsertApp: (app: AppRecord) =>
      call("upsertApp", () => {
        const checked = checkApp(DRIVER, app);
        apps.set(checked.url, checked);
        return { ...checked };
      }),

    getApp: (url: string) =>
      call("getApp", () => {
        const app = apps.get(checkUrl(DRIVER, "url", url));
        return app ? { ...app } : null;
      }),

    listApps: () =>
      call("listApps", () =>
        [...apps.values()].sort((a, b) => (a.url < b.url ? -1 : 1)).map((a) => ({ ...a })),
      ),

    syncApp: (app: AppRecord, list: readonly FunctionInput[]) =>
      call("syncApp", (): SyncAppResult => {
        const checkedApp = checkApp(DRIVER, app);
        const url = checkedApp.url;
        const checked = checkFunctions(DRIVER, list);
        // The same app id at another URL is this app, moved: its functions come along.
        const movedFrom = new Set<string>();
        for (const [u, a] of apps) if (u !== url && a.appId === checkedApp.appId) movedFrom.add(u);
        for (const [i, f] of checked.entries()) {
          const other = functions.get(f.id);
          if (other && other.app_url !== url && !movedFrom.has(other.app_url)) {
            throw new FunctionsError(
              DRIVER,
              "invalid_input",
              `functions[${i}].id ${JSON.stringify(f.id)} is registered by another app (${other.app_url}); function ids are unique across apps`,
            );
          }
        }
        // Checked: nothing below can fail, so the call is stored whole.
        let modified = false;
        for (const u of movedFrom) apps.delete(u);
        for (const row of functions.values()) {
          if (movedFrom.has(row.app_url)) {
            row.app_url = url;
            modified = true;
          }
        }
        apps.set(url, checkedApp);
        const keep = new Set(checked.map((f) => f.id));
        for (const [id, row] of functions) {
          if (row.app_url === url && !keep.has(id)) {
            functions.delete(id);
            modified = true;
          }
        }
        for (const f of checked) {
          const old = functions.get(f.id);
          const same =
            old && old.name === f.name && old.config === f.config && old.step_url === f.stepUrl;
          functions.set(f.id, {
            id: f.id,
            app_url: url,
            name: f.name,
            config: f.config,
            step_url: f.stepUrl,
            version: old ? (same ? old.version : old.version + 1) : 1,
          });
          if (!same) modified = true;
        }
        for (const id of [...limits.keys()]) if (!functions.has(id)) limits.delete(id);
        for (const [i, f] of checked.entries()) limits.set(f.id, concurrencyOf(list[i]!.config));
        return { functions: checked.map((f) => decodeFunction(functions.get(f.id)!)), modified };
      }),

    getFunction: (id: string) =>
      call("getFunction", () => {
        const row = functions.get(checkToken(DRIVER, "id", id));
        return row ? decodeFunction(row) : null;
      }),

    listFunctions: (appUrl?: string) =>
      call("listFunctions", () => {
        const url = appUrl === undefined ? undefined : checkUrl(DRIVER, "appUrl", appUrl);
        return [...functions.values()]
          .filter((f) => url === undefined || f.app_url === url)
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map(decodeFunction);
      }),

    createRun: (input: CreateRunInput) =>
      call("createRun", (): CreateRunResult => {
        const r = checkCreateRun(DRIVER, input);
        const key = `${r.functionId}\u0000${r.eventInternalId}`;
        const existing = byKey.get(key);
        if (existing !== undefined) return { run: decodeRun(runs.get(existing)!), created: false };
        const runId = r.runId ?? nextUlid();
        if (runs.has(runId)) {
          throw runIdTaken(DRIVER, runId);
        }
        const row: RunRow = {
          run_id: runId,
          function_id: r.functionId,
          event_internal_id: r.eventInternalId,
          env: r.env,
          status: r.lease ? "running" : "queued",
          attempt: 0,
          output: null,
          error: null,
          created_at: r.now,
          started_at: r.lease ? r.now : null,
          ended_at: null,
          due_at: null,
          lease_owner: r.lease?.owner ?? null,
          lease_until: r.lease?.until ?? null,
        };
        runs.set(runId, row);
        byKey.set(key, runId);
        const list = byEvent.get(r.eventInternalId);
        if (list) list.push(runId);
        else byEvent.set(r.eventInternalId, [runId]);
        setDue(row, r.lease ? r.lease.until : r.dueAt);
        if (r.concurrency.length > 0) {
          slots.set(runId, r.concurrency);
          slotted.add(runId);
        }
        return { run: decodeRun(row), created: true };
      }),

    getRun: (runId: string) =>
      call("getRun", () => {
        const row = runs.get(checkRunId(DRIVER, "runId", runId));
        return row ? decodeRun(row) : null;
      }),

    listRunsForEvent: (eventInternalId: string) =>
      call("listRunsForEvent", (): RunRecord[] =>
        (byEvent.get(checkToken(DRIVER, "eventInternalId", eventInternalId, 64)) ?? [])
          .slice()
          .sort()
          .map((id) => decodeRun(runs.get(id)!)),
      ),

    claimDue: (now: number, owner: string, leaseMs: number, limit: number) =>
      call("claimDue", () => {
        const c = checkClaim(DRIVER, now, owner, leaseMs, limit);
        const out: RunRecord[] = [];
        const claim = (row: RunRow) => {
          row.status = "running";
          row.started_at ??= c.now;
          row.lease_owner = c.owner;
          row.lease_until = c.now + c.leaseMs;
          setDue(row, row.lease_until);
          out.push(decodeRun(row));
        };
        if (slotted.size === 0) {
          for (const id of dueIndex.due(c.now, c.limit)) claim(runs.get(id)!);
          return out;
        }
        // Calls in flight per slot: running runs with a live lease.
        const inFlight = new Map<string, number>();
        for (const id of slotted) {
          const list = slots.get(id)!;
          const row = runs.get(id);
          if (row?.status !== "running" || row.due_at === null || row.due_at <= c.now) continue;
          for (const s of list) inFlight.set(s.key, (inFlight.get(s.key) ?? 0) + 1);
        }
        for (const id of dueIndex.due(c.now, Number.POSITIVE_INFINITY)) {
          if (out.length >= c.limit) break;
          const row = runs.get(id)!;
          const list = slots.get(id);
          if (list !== undefined) {
            const fnLimits = limits.get(row.function_id) ?? [];
            const candidate = {
              runId: id,
              slots: list.map((s) => ({ key: s.key, limit: fnLimits[s.idx]?.limit ?? null })),
            };
            if (pickWithinLimits([candidate], inFlight, 1).length === 0) continue;
          }
          claim(row);
        }
        return out;
      }),

    renewLease: (runId: string, owner: string, now: number, leaseMs: number) =>
      call("renewLease", () => {
        checkRunId(DRIVER, "runId", runId);
        checkToken(DRIVER, "owner", owner);
        const at = checkTime(DRIVER, "now", now);
        const ms = checkInteger(DRIVER, "leaseMs", leaseMs, 1, 86_400_000);
        const row = held(runId, owner);
        if (!row) return false;
        row.lease_until = at + ms;
        setDue(row, row.lease_until);
        return true;
      }),

    release: (runId: string, owner: string, update: ReleaseInput) =>
      call("release", () => {
        checkRunId(DRIVER, "runId", runId);
        checkToken(DRIVER, "owner", owner);
        const u = checkRelease(DRIVER, update);
        const row = held(runId, owner);
        if (!row) return false;
        row.status = u.status;
        row.lease_owner = null;
        row.lease_until = null;
        if (u.attempt !== undefined) row.attempt = u.attempt;
        if (u.output !== undefined) row.output = u.output;
        if (u.error !== undefined) row.error = u.error;
        row.ended_at = u.status === "queued" ? null : u.now;
        setDue(row, u.dueAt);
        if (u.status !== "queued") slotted.delete(runId);
        return true;
      }),

    cancelRun: (runId: string, now: number) =>
      call("cancelRun", () => {
        checkRunId(DRIVER, "runId", runId);
        const at = checkTime(DRIVER, "now", now);
        const row = runs.get(runId);
        if (!row || (row.status !== "queued" && row.status !== "running")) return false;
        row.status = "cancelled";
        row.ended_at = at;
        row.lease_owner = null;
        row.lease_until = null;
        setDue(row, null);
        dropWaits(runId);
        slotted.delete(runId);
        return true;
      }),

    replayRun: (runId: string, now: number) =>
      call("replayRun", () => {
        checkRunId(DRIVER, "runId", runId);
        const at = checkTime(DRIVER, "now", now);
        const row = runs.get(runId);
        if (!row || (row.status !== "failed" && row.status !== "cancelled")) return null;
        row.status = "queued";
        row.attempt = 0;
        row.output = null;
        row.error = null;
        row.started_at = null;
        row.ended_at = null;
        row.lease_owner = null;
        row.lease_until = null;
        setDue(row, at);
        steps.delete(runId);
        attempts.delete(runId);
        dropWaits(runId);
        if (slots.has(runId)) slotted.add(runId);
        return decodeRun(row);
      }),

    listActiveRuns: (functionId: string, limit: number) =>
      call("listActiveRuns", () => {
        checkToken(DRIVER, "functionId", functionId);
        const n = checkInteger(DRIVER, "limit", limit, 1, MAX_CLAIM_LIMIT);
        const out: RunRecord[] = [];
        for (const row of [...runs.values()].sort((x, y) => (x.run_id < y.run_id ? -1 : 1))) {
          if (row.function_id !== functionId) continue;
          if (row.status !== "queued" && row.status !== "running") continue;
          out.push(decodeRun(row));
          if (out.length >= n) break;
        }
        return out;
      }),

    expireLeases: (now: number) =>
      call("expireLeases", () => {
        const at = checkTime(DRIVER, "now", now);
        let freed = 0;
        for (const row of runs.values()) {
          if (row.status !== "running") continue;
          row.lease_until = at;
          setDue(row, at);
          freed++;
        }
        return freed;
      }),

    recordCronTick: (functionId: string, tickAt: number) =>
      call("recordCronTick", () => {
        checkToken(DRIVER, "functionId", functionId);
        const at = checkTime(DRIVER, "tickAt", tickAt);
        const before = cronTicks.get(functionId);
        if (before === undefined || at > before) cronTicks.set(functionId, at);
      }),

    lastCronTick: (functionId: string) =>
      call("lastCronTick", () => {
        checkToken(DRIVER, "functionId", functionId);
        return cronTicks.get(functionId) ?? null;
      }),

    countActive: (now: number) =>
      call("countActive", () => {
        const at = checkTime(DRIVER, "now", now);
        const out = { queued: 0, due: 0, running: 0 };
        for (const row of runs.values()) {
          if (row.status === "running") out.running++;
          else if (row.status === "queued") {
            out.queued++;
            if (row.due_at !== null && row.due_at <= at) out.due++;
          }
        }
        return out;
      }),

    nextDueAt: () => call("nextDueAt", () => dueIndex.first()),

    saveSteps: (runId: string, owner: string, list: readonly StepInput[]) =>
      call("saveSteps", () => {
        checkRunId(DRIVER, "runId", runId);
        checkToken(DRIVER, "owner", owner);
        const checked = checkSteps(DRIVER, list, Date.now());
        if (!held(runId, owner)) return false;
        let memo = steps.get(runId);
        if (!memo) {
          memo = new Map();
          steps.set(runId, memo);
        }
        for (const s of checked) {
          memo.set(s.stepId, {
            run_id: runId,
            step_id: s.stepId,
            op: s.op,
            data: s.data,
            error: s.error,
            attempts: s.attempts,
            updated_at: s.updatedAt,
            name: s.name ?? memo.get(s.stepId)?.name ?? null,
            started_at: s.startedAt ?? memo.get(s.stepId)?.started_at ?? null,
          });
        }
        return true;
      }),

    listSteps: (runId: string) =>
      call("listSteps", (): StepRecord[] =>
        [...(steps.get(checkRunId(DRIVER, "runId", runId))?.values() ?? [])].map(decodeStep),
      ),

    close: async () => {
      closed = true;
    },

    // --- waits ---
    waitRun: (runId: string, owner: string, input: WaitRunInput) =>
      call("waitRun", () => {
        const c = checkWaitRun(DRIVER, runId, owner, input);
        const row = held(runId, owner);
        if (!row) return false;
        let list = waits.get(runId);
        if (!list) {
          list = new Map();
          waits.set(runId, list);
        }
        for (const w of c.waits) {
          // A step already memoized (resolved meanwhile) waits no more.
          if (list.has(w.stepId) || steps.get(runId)?.has(w.stepId)) continue;
          const stored: WaitRow = {
            seq: ++lastWaitSeq,
            run_id: runId,
            step_id: w.stepId,
            env: row.env,
            kind: w.kind,
            event: w.event,
            expression: w.expression,
            created_at: c.now,
            expires_at: w.expiresAt,
            name: w.name,
          };
          list.set(w.stepId, stored);
          waitSeqs.set(stored.seq, stored);
          waitLog.push(stored);
        }
        if (list.size === 0) waits.delete(runId);
        if (c.hold) return true;
        let due =
          list.size === 0 ? c.now : Math.min(...[...list.values()].map((w) => w.expires_at));
        if (c.dueBy !== null) due = Math.min(due, c.dueBy);
        if ((steps.get(runId)?.size ?? 0) > c.stepsSeen) due = c.now;
        row.status = "queued";
        row.lease_owner = null;
        row.lease_until = null;
        row.ended_at = null;
        row.attempt = 0;
        setDue(row, due);
        return true;
      }),

    resolveWait: (runId: string, stepId: string, step: WaitResolution, now: number) =>
      call("resolveWait", () => {
        const c = checkResolveWait(DRIVER, runId, stepId, step, now);
        const list = waits.get(runId);
        const wait = list?.get(stepId);
        if (!list || !wait) return false;
        list.delete(stepId);
        waitSeqs.delete(wait.seq);
        if (list.size === 0) waits.delete(runId);
        const row = runs.get(runId);
        if (!row || (row.status !== "queued" && row.status !== "running")) return false;
        let memo = steps.get(runId);
        if (!memo) {
          memo = new Map();
          steps.set(runId, memo);
        }
        memo.set(stepId, {
          run_id: runId,
          step_id: stepId,
          op: c.op,
          data: c.data,
          error: c.error,
          attempts: 1,
          updated_at: c.now,
          name: wait.name,
          // The step started when the wait was recorded.
          started_at: wait.created_at,
        });
        if (row.status === "queued") setDue(row, c.now);
        return true;
      }),

    listWaits: (runId: string) =>
      call("listWaits", (): WaitRecord[] =>
        [...(waits.get(checkRunId(DRIVER, "runId", runId))?.values() ?? [])]
          .sort((a, b) => (a.step_id < b.step_id ? -1 : 1))
          .map(decodeWait),
      ),

    listWaitsSince: (afterSeq: number, alsoSeqs: readonly number[], limit: number) =>
      call("listWaitsSince", (): WaitRecord[] => {
        const c = checkWaitsSince(DRIVER, afterSeq, alsoSeqs, limit);
        const out: WaitRow[] = [];
        for (const seq of c.also) {
          const w = waitSeqs.get(seq);
          if (w && seq <= c.after) out.push(w);
        }
        if (waitLog.length > 64 && waitSeqs.size < waitLog.length / 2)
          waitLog = waitLog.filter((w) => waitSeqs.get(w.seq) === w);
        let lo = 0;
        let hi = waitLog.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (waitLog[mid]!.seq <= c.after) lo = mid + 1;
          else hi = mid;
        }
        for (let i = lo; i < waitLog.length && out.length < c.limit + c.also.length; i++) {
          const w = waitLog[i]!;
          if (waitSeqs.get(w.seq) === w) out.push(w);
        }
        return out
          .sort((a, b) => a.seq - b.seq)
          .slice(0, c.limit)
          .map(decodeWait);
      }),

    countWaits: () => call("countWaits", () => waitSeqs.size),

    // --- concurrency ---
    listConcurrencySlots: (runId: string) =>
      call("listConcurrencySlots", () =>
        (slots.get(checkRunId(DRIVER, "runId", runId)) ?? []).map((s) => ({ ...s })),
      ),

    // --- batching ---
    appendToBatch: (input: AppendToBatchInput) =>
      call("appendToBatch", (): AppendToBatchResult => {
        const b = checkAppendToBatch(DRIVER, input);
        const eventKey = `${b.functionId}\u0000${b.eventInternalId}`;
        const inBatch = batchOfEvent.get(eventKey);
        if (inBatch !== undefined) {
          const size = batchEvents.get(inBatch)!.length;
          return {
            run: decodeRun(runs.get(inBatch)!),
            appended: false,
            created: false,
            size,
            closed: !openIds.has(inBatch),
          };
        }
        const unbatched = byKey.get(eventKey);
        if (unbatched !== undefined) {
          return {
            run: decodeRun(runs.get(unbatched)!),
            appended: false,
            created: false,
            size: 0,
            closed: true,
          };
        }
        const slot = `${b.functionId}\u0000${b.batchKey}`;
        const openId = openBatches.get(slot);
        const row = openId === undefined ? undefined : runs.get(openId);
        const list = openId === undefined ? undefined : batchEvents.get(openId);
        const close = (id: string, r: RunRow) => {
          openBatches.delete(slot);
          openIds.delete(id);
          if (r.due_at !== null && r.due_at > b.now) setDue(r, b.now);
        };
        if (
          row !== undefined &&
          list !== undefined &&
          row.status === "queued" &&
          row.started_at === null &&
          row.due_at !== null &&
          row.due_at > b.now &&
          list.length < b.maxSize
        ) {
          list.push(b.eventInternalId);
          addBatchEvent(b.functionId, b.eventInternalId, row.run_id);
          const full = list.length >= b.maxSize;
          if (full) close(row.run_id, row);
          return {
            run: decodeRun(row),
            appended: true,
            created: false,
            size: list.length,
            closed: full,
          };
        }
        if (openId !== undefined) {
          openBatches.delete(slot);
          openIds.delete(openId);
        }
        const runId = b.runId ?? nextUlid();
        if (runs.has(runId)) {
          throw runIdTaken(DRIVER, runId);
        }
        const fresh: RunRow = {
          run_id: runId,
          function_id: b.functionId,
          event_internal_id: b.eventInternalId,
          env: b.env,
          status: "queued",
          attempt: 0,
          output: null,
          error: null,
          created_at: b.now,
          started_at: null,
          ended_at: null,
          due_at: null,
          lease_owner: null,
          lease_until: null,
        };
        runs.set(runId, fresh);
        byKey.set(eventKey, runId);
        const forEvent = byEvent.get(b.eventInternalId);
        if (forEvent) forEvent.push(runId);
        else byEvent.set(b.eventInternalId, [runId]);
        setDue(fresh, b.now + b.timeoutMs);
        batchEvents.set(runId, [b.eventInternalId]);
        addBatchEvent(b.functionId, b.eventInternalId, runId);
        openBatches.set(slot, runId);
        openIds.set(runId, slot);
        const full = b.maxSize <= 1;
        if (full) close(runId, fresh);
        return { run: decodeRun(fresh), appended: true, created: true, size: 1, closed: full };
      }),

    listBatchEvents: (runId: string) =>
      call("listBatchEvents", () => [
        ...(batchEvents.get(checkRunId(DRIVER, "runId", runId)) ?? []),
      ]),

    closeBatch: (runId: string) =>
      call("closeBatch", () => {
        const id = checkRunId(DRIVER, "runId", runId);
        const slot = openIds.get(id);
        if (slot === undefined) return;
        openIds.delete(id);
        if (openBatches.get(slot) === id) openBatches.delete(slot);
      }),

    listBatchRunsForEvent: (eventInternalId: string) =>
      call("listBatchRunsForEvent", (): RunRecord[] => {
        const id = checkToken(DRIVER, "eventInternalId", eventInternalId, 64);
        const out = (batchRunsOfEvent.get(id) ?? []).map((runId) => decodeRun(runs.get(runId)!));
        return out.sort((x, y) => (x.runId < y.runId ? -1 : 1));
      }),
    // --- flow control ---
    takeRateLimit: (input: RateLimitInput) =>
      call("takeRateLimit", () => {
        const r = checkRateLimitInput(DRIVER, input);
        const since = r.now - r.periodMs;
        const taken = (rateTaken.get(r.key) ?? []).filter((t) => t.at > since);
        if (taken.some((t) => t.event === r.eventInternalId)) return true;
        if (taken.length >= r.limit) {
          rateTaken.set(r.key, taken);
          return false;
        }
        taken.push({ event: r.eventInternalId, at: r.now });
        rateTaken.set(r.key, taken);
        return true;
      }),
    reserveThrottle: (input: ThrottleInput) =>
      call("reserveThrottle", () => {
        const t = checkThrottleInput(DRIVER, input);
        const step = throttleStep(throttleTat.get(t.key) ?? null, t);
        throttleTat.set(t.key, step.tat);
        return step.startAt;
      }),
    listFailedRuns: (limit: number) =>
      call("listFailedRuns", () => {
        const n = checkInteger(DRIVER, "limit", limit, 1, MAX_CLAIM_LIMIT);
        return [...runs.values()]
          .filter((row) => row.status === "failed")
          .sort((x, y) =>
            x.ended_at !== y.ended_at
              ? (y.ended_at ?? 0) - (x.ended_at ?? 0)
              : x.run_id < y.run_id
                ? 1
                : -1,
          )
          .slice(0, n)
          .map(decodeRun);
      }),
    recordAttempt: (input: AttemptInput) =>
      call("recordAttempt", () => {
        const a = checkAttempt(DRIVER, input);
        let history = attempts.get(a.runId);
        if (!history) {
          history = [];
          attempts.set(a.runId, history);
        }
        history.push({
          run_id: a.runId,
          attempt: a.attempt,
          outcome: a.outcome,
          started_at: a.startedAt,
          ended_at: a.endedAt,
          error: a.error,
        });
      }),
    listAttempts: (runId: string) =>
      call("listAttempts", (): AttemptRecord[] =>
        (attempts.get(checkRunId(DRIVER, "runId", runId)) ?? []).slice(-1000).map(decodeAttempt),
      ),
    debounceRun: (input: DebounceInput) =>
      call("debounceRun", () => {
        const d = checkDebounceInput(DRIVER, input);
        const row = runs.get(d.runId);
        if (row?.status !== "queued") {
          throw new FunctionsError(DRIVER, "invalid_input", `runId ${d.runId} is not a queued run`);
        }
        const slot = `${d.functionId}\u0000${d.key}`;
        const pending = debounces.get(slot);
        let first = d.now;
        let replaced: string | null = null;
        if (pending !== undefined && pending.runId === d.runId) first = pending.firstAt;
        else if (pending !== undefined) {
          const prev = runs.get(pending.runId);
          if (prev?.status === "queued" && prev.started_at === null) {
            prev.status = "cancelled";
            prev.ended_at = d.now;
            prev.lease_owner = null;
            prev.lease_until = null;
            setDue(prev, null);
            dropWaits(prev.run_id);
            slotted.delete(prev.run_id);
            replaced = prev.run_id;
            first = pending.firstAt;
          }
        }
        const dueAt = debounceDue(first, d);
        setDue(row, dueAt);
        debounces.set(slot, { runId: d.runId, firstAt: first });
        return { dueAt, replaced };
      }),
  };
}

import type {
  AttemptRecord,
  FunctionRecord,
  JsonValue,
  RunRecord,
  RunStatus,
  StepRecord,
  WaitRecord,
} from "./run-store";

/** A run's status as Inngest's REST API spells it. */
export type RunStatusName = "Running" | "Completed" | "Failed" | "Cancelled";

const STATUS: Record<RunStatus, RunStatusName> = {
  queued: "Running",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * A run as `GET /v1/events/:id/runs` lists it (Inngest's REST shape, times in ISO 8601).
 *
 * @example
 * ```ts
 * import { runView } from "@evt/functions";
 *
 * const data = (await runs.listRunsForEvent(internalId)).map(runView);
 * // [{ run_id, function_id, status: "Completed", output, started_at, ended_at, event_id, ... }]
 * ```
 *
 * `attempt` counts the calls of the current step from 0 (it starts again at 0 after each step,
 * as in Inngest); `error` is the error of a failed run, `null` otherwise; `last_error` is the
 * error of the latest failed attempt, kept when a retry then succeeded.
 */
export function runView(run: RunRecord): Record<string, JsonValue> {
  return {
    run_id: run.runId,
    function_id: run.functionId,
    status: STATUS[run.status],
    output: run.output,
    // The run's own error only once it failed: a run that retried and then completed (or is
    // running again) did not fail; what went wrong before is its `last_error`.
    error: run.status === "failed" ? run.error : null,
    attempt: run.attempt,
    last_error: run.error,
    env: run.env,
    event_id: run.eventInternalId,
    created_at: iso(run.createdAt),
    started_at: iso(run.startedAt),
    ended_at: iso(run.endedAt),
    next_at: run.status === "queued" ? iso(run.dueAt) : null,
  };
}

/**
 * A run with its memoized steps, as `GET /v1/runs/:id` answers it; a waiting run (status
 * still `Running`, as in Inngest) lists what it waits for in `waiting_for`, and `attempts` is
 * its history: how each attempt ended (`retried`, `failed`, `completed`), when, and its error.
 */
export function runDetailView(
  run: RunRecord,
  steps: readonly StepRecord[],
  waits: readonly WaitRecord[] = [],
  batchEventIds: readonly string[] = [],
  attempts: readonly AttemptRecord[] = [],
): Record<string, JsonValue> {
  return {
    ...runView(run),
    // The events of a batched run (batchEvents), in arrival order; `event_id` is the first.
    event_ids: batchEventIds.length > 0 ? [...batchEventIds] : [run.eventInternalId],
    waiting_for: waits.map((w) => ({
      step_id: w.stepId,
      name: w.name,
      kind: w.kind === "event" ? "waitForEvent" : "invoke",
      event: w.event,
      if: w.expression,
      since: iso(w.createdAt),
      timeout_at: iso(w.expiresAt),
    })),
    // How each attempt ended, in order (the counter starts again at 0 after a step completes).
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      outcome: a.outcome,
      started_at: iso(a.startedAt),
      ended_at: iso(a.endedAt),
      error: a.error,
    })),
    steps: steps.map((s) => ({
      id: s.stepId,
      name: s.name,
      op: s.op,
      data: s.data,
      error: s.error,
      attempts: s.attempts,
      started_at: iso(s.startedAt),
      updated_at: iso(s.updatedAt),
    })),
  };
}

/** Config keys of a registered function that evt does not act on yet, and what happens instead. */
const NOT_YET: Record<string, string> = {
  singleton: "singleton is not supported yet",
  timeouts: "timeouts are not enforced yet",
};

/**
 * What a registered function asks for that evt does not do yet (one line each): config keys
 * such as `rateLimit` or `throttle`. The function is accepted and runs
 * such as `singleton` or `timeouts`. The function is accepted and runs
 * on its events; these say what is not honoured, so that nothing is ignored silently.
 *
 * @example
 * ```ts
 * import { unsupportedFeatures } from "@evt/functions";
 *
 * unsupportedFeatures({ triggers: [{ cron: "0 * * * *" }], singleton: { mode: "skip" } });
 * // ["singleton is not supported yet"]
 * ```
 */
export function unsupportedFeatures(config: JsonValue): string[] {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return [];
  const out: string[] = [];
  for (const [key, why] of Object.entries(NOT_YET)) {
    const value = config[key];
    if (value === undefined || value === null) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out.push(why);
  }
  return out;
}

/** A function as `GET /v1/functions` lists it. */
export function functionView(fn: FunctionRecord, appId: string | null): Record<string, JsonValue> {
  const config =
    typeof fn.config === "object" && fn.config !== null && !Array.isArray(fn.config)
      ? fn.config
      : {};
  return {
    id: fn.id,
    name: fn.name,
    app_id: appId,
    app_url: fn.appUrl,
    triggers: config.triggers ?? [],
    version: fn.version,
    config: fn.config,
    warnings: unsupportedFeatures(fn.config),
  };
}

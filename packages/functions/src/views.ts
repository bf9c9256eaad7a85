import type { FunctionRecord, JsonValue, RunRecord, RunStatus, StepRecord } from "./run-store";

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
 */
export function runView(run: RunRecord): Record<string, JsonValue> {
  return {
    run_id: run.runId,
    function_id: run.functionId,
    status: STATUS[run.status],
    output: run.output,
    error: run.error,
    attempt: run.attempt,
    env: run.env,
    event_id: run.eventInternalId,
    created_at: iso(run.createdAt),
    started_at: iso(run.startedAt),
    ended_at: iso(run.endedAt),
    next_at: run.status === "queued" ? iso(run.dueAt) : null,
  };
}

/** A run with its memoized steps, as `GET /v1/runs/:id` answers it. */
export function runDetailView(
  run: RunRecord,
  steps: readonly StepRecord[],
): Record<string, JsonValue> {
  return {
    ...runView(run),
    steps: steps.map((s) => ({
      id: s.stepId,
      op: s.op,
      data: s.data,
      error: s.error,
      attempts: s.attempts,
      updated_at: iso(s.updatedAt),
    })),
  };
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
  };
}

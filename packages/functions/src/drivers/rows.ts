import type {
  AttemptOutcome,
  AttemptRecord,
  FunctionRecord,
  RunRecord,
  RunStatus,
  StepRecord,
} from "../run-store";
import { decodeJson } from "../validate";

/** A run as the drivers keep it: JSON columns as text. */
export interface RunRow {
  run_id: string;
  function_id: string;
  event_internal_id: string;
  env: string;
  status: RunStatus;
  attempt: number;
  output: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  due_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
}

export interface FunctionRow {
  id: string;
  app_url: string;
  name: string;
  config: string;
  step_url: string;
  version: number;
}

export interface StepRow {
  run_id: string;
  step_id: string;
  op: string;
  data: string | null;
  error: string | null;
  attempts: number;
  updated_at: number;
  name: string | null;
  started_at: number | null;
}

export function decodeRun(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    functionId: row.function_id,
    eventInternalId: row.event_internal_id,
    env: row.env,
    status: row.status,
    attempt: row.attempt,
    output: decodeJson(row.output),
    error: decodeJson(row.error),
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    dueAt: row.due_at,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
  };
}

export function decodeFunction(row: FunctionRow): FunctionRecord {
  return {
    id: row.id,
    appUrl: row.app_url,
    name: row.name,
    config: decodeJson(row.config),
    stepUrl: row.step_url,
    version: row.version,
  };
}

export function decodeStep(row: StepRow): StepRecord {
  return {
    runId: row.run_id,
    stepId: row.step_id,
    op: row.op,
    data: decodeJson(row.data),
    error: decodeJson(row.error),
    attempts: row.attempts,
    updatedAt: row.updated_at,
    name: row.name ?? null,
    startedAt: row.started_at ?? null,
  };
}

/** A row of the run attempts table. */
export interface AttemptRow {
  run_id: string;
  attempt: number;
  outcome: string;
  started_at: number | string | null;
  ended_at: number | string;
  error: string | null;
}

export function decodeAttempt(row: AttemptRow): AttemptRecord {
  return {
    runId: row.run_id,
    attempt: Number(row.attempt),
    outcome: row.outcome as AttemptOutcome,
    startedAt: row.started_at === null ? null : Number(row.started_at),
    endedAt: Number(row.ended_at),
    error: decodeJson(row.error),
  };
}

/** Statuses a run can be claimed in (and that the due index holds). */
export const ACTIVE: ReadonlySet<RunStatus> = new Set<RunStatus>(["queued", "running"]);

import { FunctionsError } from "../errors";
import type { WaitRecord, WaitResolution, WaitRunInput } from "../run-store";
import {
  checkInteger,
  checkRunId,
  checkStepName,
  checkSteps,
  checkTime,
  checkToken,
  decodeJson,
  MAX_CLAIM_LIMIT,
} from "../validate";

/** Most waits one {@link RunStore.waitRun} call records (parallel `step.waitForEvent`s). */
export const MAX_WAITS_PER_CALL = 100;
/** Longest `if` a wait stores. */
export const MAX_WAIT_IF_LENGTH = 16_384;

/** A wait as the drivers store it. */
export interface WaitRow {
  seq: number;
  run_id: string;
  step_id: string;
  env: string;
  kind: string;
  event: string;
  expression: string | null;
  created_at: number;
  expires_at: number;
  name: string | null;
}

export interface CheckedWait {
  stepId: string;
  kind: "event" | "invoke";
  event: string;
  expression: string | null;
  expiresAt: number;
  name: string | null;
}

function fail(where: string, message: string): never {
  throw new FunctionsError(where, "invalid_input", message);
}

function checkEventName(where: string, field: string, value: unknown): string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > 256 ||
    [...value].some((ch) => ch.charCodeAt(0) < 0x20)
  )
    fail(
      where,
      `${field} must be an event name of 1 to 256 characters without control characters, got ${JSON.stringify(value).slice(0, 300)}`,
    );
  return value;
}

/** Checks the arguments of `waitRun`. */
export function checkWaitRun(
  where: string,
  runId: string,
  owner: string,
  input: WaitRunInput,
): { waits: CheckedWait[]; now: number; stepsSeen: number; dueBy: number | null; hold: boolean } {
  checkRunId(where, "runId", runId);
  checkToken(where, "owner", owner);
  if (typeof input !== "object" || input === null) fail(where, "input must be an object");
  const now = checkTime(where, "input.now", input.now);
  const stepsSeen = checkInteger(where, "input.stepsSeen", input.stepsSeen, 0, 1_000_000);
  const dueBy = input.dueBy === undefined ? null : checkTime(where, "input.dueBy", input.dueBy);
  if (input.hold !== undefined && typeof input.hold !== "boolean")
    fail(where, "input.hold must be a boolean");
  const hold = input.hold === true;
  if (
    !Array.isArray(input.waits) ||
    input.waits.length === 0 ||
    input.waits.length > MAX_WAITS_PER_CALL
  )
    fail(where, `input.waits must be an array of 1 to ${MAX_WAITS_PER_CALL} waits`);
  const waits = input.waits.map((w, i): CheckedWait => {
    const at = `input.waits[${i}]`;
    if (typeof w !== "object" || w === null) fail(where, `${at} must be an object`);
    if (w.kind !== "event" && w.kind !== "invoke")
      fail(where, `${at}.kind must be "event" or "invoke", got ${JSON.stringify(w.kind)}`);
    const expression = w.expression ?? null;
    if (
      expression !== null &&
      (typeof expression !== "string" || expression.length > MAX_WAIT_IF_LENGTH)
    )
      fail(
        where,
        `${at}.expression must be null or a string of at most ${MAX_WAIT_IF_LENGTH} characters`,
      );
    return {
      stepId: checkToken(where, `${at}.stepId`, w.stepId),
      kind: w.kind,
      event: checkEventName(where, `${at}.event`, w.event),
      expression,
      expiresAt: checkTime(where, `${at}.expiresAt`, w.expiresAt),
      name: checkStepName(where, `${at}.name`, w.name),
    };
  });
  return { waits, now, stepsSeen, dueBy, hold };
}

/** Checks the arguments of `resolveWait`; the step's data and error come back encoded. */
export function checkResolveWait(
  where: string,
  runId: string,
  stepId: string,
  step: WaitResolution,
  now: number,
): { now: number; op: string; data: string | null; error: string | null } {
  checkRunId(where, "runId", runId);
  checkToken(where, "stepId", stepId);
  const at = checkTime(where, "now", now);
  if (typeof step !== "object" || step === null) fail(where, "step must be an object");
  const [checked] = checkSteps(where, [{ ...step, stepId, attempts: 1 }], at);
  return { now: at, op: checked!.op, data: checked!.data, error: checked!.error };
}

/** Checks the arguments of `listWaitsSince`. */
export function checkWaitsSince(
  where: string,
  afterSeq: number,
  alsoSeqs: readonly number[],
  limit: number,
): { after: number; also: number[]; limit: number } {
  const after = checkInteger(where, "afterSeq", afterSeq, 0, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(alsoSeqs) || alsoSeqs.length > 10_000)
    fail(where, "alsoSeqs must be an array of at most 10,000 seqs");
  const also = alsoSeqs.map((s, i) =>
    checkInteger(where, `alsoSeqs[${i}]`, s, 1, Number.MAX_SAFE_INTEGER),
  );
  return { after, also, limit: checkInteger(where, "limit", limit, 1, MAX_CLAIM_LIMIT * 10) };
}

export function decodeWait(row: WaitRow): WaitRecord {
  return {
    seq: Number(row.seq),
    runId: row.run_id,
    stepId: row.step_id,
    env: row.env,
    kind: row.kind === "invoke" ? "invoke" : "event",
    event: row.event,
    expression: row.expression,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    name: row.name ?? null,
  };
}

/** The JSON text of a checked step back as a value (the memory driver stores values). */
export const decodeText = decodeJson;

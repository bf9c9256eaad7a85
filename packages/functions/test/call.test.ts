import {
  type CallOutcome,
  callBody,
  readCallAnswer,
  type StepOp,
  type StepRecord,
  sdkEvent,
} from "@evt/functions";
import type { StoredEvent } from "@evt/schema";
import { describe, expect, it } from "vitest";

const NOW = Date.UTC(2030, 0, 1);

/** Headers as a case-insensitive lookup, the way `res.headers.get` answers. */
function headers(h: Record<string, string> = {}): (name: string) => string | null {
  const lower = new Map(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  return (name) => lower.get(name.toLowerCase()) ?? null;
}

function read(status: number, body: string, h: Record<string, string> = {}): CallOutcome {
  return readCallAnswer(status, headers(h), body, NOW);
}

function retryOf(outcome: CallOutcome) {
  if (outcome.kind !== "retry") throw new Error(`expected retry, got ${outcome.kind}`);
  return outcome;
}

function opsOf(outcome: CallOutcome): StepOp[] {
  if (outcome.kind !== "steps") throw new Error(`expected steps, got ${outcome.kind}`);
  return outcome.ops;
}

describe("readCallAnswer: 200", () => {
  it("completes with the JSON output", () => {
    expect(read(200, '{"ok":true,"n":[1,2]}')).toEqual({
      kind: "completed",
      output: { ok: true, n: [1, 2] },
    });
  });

  it("completes with null for an empty body (a function returning undefined)", () => {
    expect(read(200, "")).toEqual({ kind: "completed", output: null });
    expect(read(200, "  \n")).toEqual({ kind: "completed", output: null });
  });

  it("retries a body that is not JSON, quoting it", () => {
    const r = retryOf(read(200, "<html>oops</html>"));
    expect(r.status).toBe(200);
    expect(r.error.message).toContain("<html>oops</html>");
  });
});

describe("readCallAnswer: 206", () => {
  it("reads the ops, with nulls for absent fields", () => {
    const body = JSON.stringify([
      { id: "a1", op: "StepRun", name: "first", displayName: "First", data: "A" },
      { id: "b2", op: "Sleep", name: "5s", opts: {} },
      { id: "c3", op: "StepError", error: { name: "Error", message: "boom" } },
    ]);
    expect(opsOf(read(206, body))).toEqual([
      {
        id: "a1",
        op: "StepRun",
        name: "first",
        displayName: "First",
        opts: null,
        data: "A",
        error: null,
      },
      { id: "b2", op: "Sleep", name: "5s", displayName: null, opts: {}, data: null, error: null },
      {
        id: "c3",
        op: "StepError",
        name: null,
        displayName: null,
        opts: null,
        data: null,
        error: { name: "Error", message: "boom" },
      },
    ]);
  });

  it("retries a body that is not an array", () => {
    const r = retryOf(read(206, '{"id":"a","op":"StepRun"}'));
    expect(r.error.message).toMatch(/not an array/);
  });

  it("retries a body that is not JSON", () => {
    expect(retryOf(read(206, "nope")).error.message).toMatch(/not JSON: nope/);
  });

  it("retries when an op lacks its id or op", () => {
    const noId = retryOf(read(206, JSON.stringify([{ op: "StepRun" }])));
    expect(noId.error.message).toMatch(/op 0 has no string "id"/);
    const noOp = retryOf(read(206, JSON.stringify([{ id: "a", op: "StepRun" }, { id: "b" }])));
    expect(noOp.error.message).toMatch(/op 1 has no string "op"/);
    const notObject = retryOf(read(206, JSON.stringify(["StepRun"])));
    expect(notObject.error.message).toMatch(/op 0 is not an object/);
  });
});

describe("readCallAnswer: 201 (INNGEST_STREAMING)", () => {
  it("unwraps a streamed 200", () => {
    const streamed = `   ${JSON.stringify({ status: 200, headers: {}, body: '{"done":1}' })}`;
    expect(read(201, streamed)).toEqual({ kind: "completed", output: { done: 1 } });
  });

  it("unwraps a streamed 206", () => {
    const ops = JSON.stringify([{ id: "a1", op: "StepRun", name: "s", data: 7 }]);
    const streamed = JSON.stringify({ status: 206, headers: {}, body: ops });
    const [op] = opsOf(read(201, streamed));
    expect(op).toMatchObject({ id: "a1", op: "StepRun", data: 7 });
  });

  it("reads the streamed headers, in any case", () => {
    const streamed = JSON.stringify({
      status: 400,
      headers: { "X-Inngest-No-Retry": "true" },
      body: JSON.stringify({ name: "NonRetriableError", message: "no" }),
    });
    expect(read(201, streamed)).toEqual({
      kind: "failed",
      status: 400,
      error: { name: "NonRetriableError", message: "no" },
    });
  });
});

describe("readCallAnswer: errors", () => {
  const err = JSON.stringify({ name: "Error", message: "later", __serialized: true });

  it("retries a 500 after retry-after seconds", () => {
    const r = retryOf(read(500, err, { "x-inngest-no-retry": "false", "retry-after": "30" }));
    expect(r).toEqual({
      kind: "retry",
      status: 500,
      retryAfterMs: 30_000,
      error: { name: "Error", message: "later", __serialized: true },
    });
  });

  it("reads retry-after as an HTTP date", () => {
    const at = new Date(NOW + 45_000).toUTCString();
    expect(retryOf(read(500, err, { "retry-after": at })).retryAfterMs).toBe(45_000);
  });

  it("reads retry-after as an ISO date", () => {
    const at = new Date(NOW + 5_000).toISOString();
    expect(retryOf(read(500, err, { "retry-after": at })).retryAfterMs).toBe(5_000);
  });

  it("ignores a retry-after that is neither seconds nor a date (backoff applies)", () => {
    for (const value of ["later 5", "-5", "soon", "30s"])
      expect(retryOf(read(500, err, { "retry-after": value })).retryAfterMs).toBeNull();
  });

  it("keeps a huge retry-after within a due time the run store can hold", () => {
    const r = retryOf(read(500, err, { "retry-after": "99999999999999999999" }));
    expect(NOW + (r.retryAfterMs ?? 0)).toBe(8_640_000_000_000_000);
  });

  it("has no retry-after delay when none is sent", () => {
    expect(retryOf(read(500, err)).retryAfterMs).toBeNull();
  });

  it("fails for good on x-inngest-no-retry: true", () => {
    expect(read(400, err, { "x-inngest-no-retry": "true" })).toMatchObject({
      kind: "failed",
      status: 400,
      error: { message: "later" },
    });
  });

  it("retries a 4xx without the header (Go's rule)", () => {
    expect(read(400, err).kind).toBe("retry");
    expect(read(404, "").kind).toBe("retry");
  });

  it("retries a non-JSON 502, naming the status and quoting the body", () => {
    const r = retryOf(read(502, "Bad Gateway from nginx"));
    expect(r.status).toBe(502);
    expect(r.error.message).toBe("the app answered 502: Bad Gateway from nginx");
  });

  it("cuts a long body at 200 characters", () => {
    const long = "x".repeat(500);
    const message = retryOf(read(502, long)).error.message as string;
    expect(message).toContain(`${"x".repeat(200)}…`);
    expect(message).not.toContain("x".repeat(201));
  });
});

describe("readCallAnswer: oversized errors", () => {
  const huge = {
    name: "Error",
    message: "m".repeat(300_000),
    stack: "s".repeat(300_000),
    __serialized: true,
    extra: "e".repeat(300_000),
  };

  it("keeps the name and the start of message and stack of a huge error", () => {
    const r = retryOf(read(500, JSON.stringify(huge)));
    expect(JSON.stringify(r.error).length).toBeLessThan(10_000);
    expect(r.error).toMatchObject({ name: "Error", __serialized: true, evt_truncated: true });
    expect(r.error.message).toMatch(/^m{4096}…$/);
    expect(r.error.stack).toMatch(/^s{4096}…$/);
    expect(r.error).not.toHaveProperty("extra");
  });

  it("bounds a huge step error in a 206 too", () => {
    const [op] = opsOf(read(206, JSON.stringify([{ id: "a", op: "StepError", error: huge }])));
    expect(JSON.stringify(op!.error).length).toBeLessThan(10_000);
  });

  it("leaves an ordinary error as it is", () => {
    const small = { name: "TypeError", message: "x", stack: "at f", cause: { a: 1 } };
    expect(retryOf(read(500, JSON.stringify(small))).error).toEqual(small);
  });
});

describe("callBody", () => {
  const event = { id: "01EVT", name: "demo/a", data: { x: 1 }, user: {}, ts: 5 };
  const step = (stepId: string, op: string, data: unknown, error: unknown): StepRecord => ({
    runId: "01RUN",
    stepId,
    op,
    data: data as StepRecord["data"],
    error: error as StepRecord["error"],
    attempts: 1,
    updatedAt: 0,
    name: null,
    startedAt: null,
  });

  const body = JSON.parse(
    callBody({
      event,
      runId: "01RUN",
      attempt: 2,
      maxAttempts: 5,
      env: "production",
      steps: [
        step("s1", "StepRun", { v: "A" }, null),
        step("s2", "Sleep", null, null),
        step("s3", "StepFailed", null, { name: "Error", message: "bad" }),
      ],
    }),
  );

  it("sends the event as event and as the one-element events", () => {
    expect(body.event).toEqual(event);
    expect(body.events).toEqual([event]);
  });

  it("memoizes data as {data}, an error as {error}, and an elapsed sleep as null", () => {
    expect(body.steps).toEqual({
      s1: { data: { v: "A" } },
      s2: null,
      s3: { error: { name: "Error", message: "bad" } },
    });
  });

  it("lists the steps in stored order in the stack", () => {
    expect(body.ctx.stack).toEqual({ stack: ["s1", "s2", "s3"], current: 3 });
  });

  it("passes attempt and max_attempts, without fn_id (no checkpointing), version -1", () => {
    expect(body.ctx).toMatchObject({
      run_id: "01RUN",
      attempt: 2,
      max_attempts: 5,
      disable_immediate_execution: false,
      env: "production",
    });
    expect(body.ctx).not.toHaveProperty("fn_id");
    expect(body.version).toBe(-1);
  });

  it("asks for planning when told to", () => {
    const planned = JSON.parse(
      callBody({
        event,
        runId: "r",
        attempt: 0,
        maxAttempts: 1,
        env: "e",
        steps: [],
        disableImmediateExecution: true,
      }),
    );
    expect(planned.ctx.disable_immediate_execution).toBe(true);
    expect(planned.steps).toEqual({});
    expect(planned.ctx.stack).toEqual({ stack: [], current: 0 });
  });
});

describe("sdkEvent", () => {
  const stored: StoredEvent = {
    internal_id: "01INTERNAL",
    id: "sender-id",
    name: "demo/a",
    data: { x: 1 },
    user: null,
    ts: 1234,
    v: null,
    env: "production",
    received_at: 1300,
    source: null,
    source_id: null,
  };

  it("uses the internal id, user {} for none, and no v when unset", () => {
    expect(sdkEvent(stored)).toEqual({
      id: "01INTERNAL",
      name: "demo/a",
      data: { x: 1 },
      user: {},
      ts: 1234,
    });
  });

  it("keeps user and v when set", () => {
    const out = sdkEvent({ ...stored, user: { email: "a@b" }, v: "2024-01-01.1" });
    expect(out.user).toEqual({ email: "a@b" });
    expect(out.v).toBe("2024-01-01.1");
  });
});

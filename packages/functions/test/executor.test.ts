import {
  type AppRecord,
  createExecutor,
  createMemoryRunStore,
  type Executor,
  MAX_VALUE_BYTES,
  type RunRecord,
  type RunStore,
  type SystemEvent,
} from "@evt/functions";
import type { StoredEvent } from "@evt/schema";
import { afterEach, describe, expect, it } from "vitest";

const app: AppRecord = {
  url: "http://app.test/api/inngest",
  appId: "shop",
  sdk: "js:v4.24.0",
  framework: "nodejs",
  syncedAt: 0,
  lastError: null,
};

const stored: StoredEvent = {
  internal_id: "01J00000000000000000000001",
  id: null,
  name: "shop/order",
  data: { n: 1 },
  user: null,
  ts: 1,
  v: null,
  env: "production",
  received_at: 1,
  source: null,
  source_id: null,
};

type Answer = { status: number; body: string; headers?: Record<string, string> };

let executor: Executor | null = null;
afterEach(async () => {
  await executor?.stop(1_000);
  executor = null;
});

/** A run of `shop-a` (retries: `retries`) worked on by an executor whose app answers `answer`. */
async function runWith(retries: number, answer: (body: unknown, call: number) => Answer) {
  const runs: RunStore = createMemoryRunStore();
  await runs.syncApp(app, [
    {
      id: "shop-a",
      name: "a",
      config: {
        triggers: [{ event: "shop/order" }],
        steps: { step: { retries: { attempts: retries } } },
      },
      stepUrl: `${app.url}?fnId=shop-a&stepId=step`,
    },
  ]);
  const { run } = await runs.createRun({
    functionId: "shop-a",
    eventInternalId: stored.internal_id,
    env: "production",
    dueAt: Date.now(),
  });
  const bodies: unknown[] = [];
  const sent: SystemEvent[] = [];
  executor = createExecutor({
    runs,
    loadEvent: async () => stored,
    send: async (events) => {
      sent.push(...events);
    },
    leaseMs: 300,
    pollMs: 20,
    fetch: (async (_url: string, init: RequestInit) => {
      const body = JSON.parse(String(init.body));
      bodies.push(body);
      const a = answer(body, bodies.length - 1);
      return new Response(a.body, { status: a.status, headers: a.headers ?? {} });
    }) as typeof fetch,
  });
  executor.start();
  return { runs, runId: run.runId, bodies, sent };
}

/** Waits (polling) until the run is finished, or gives up and returns it as it is. */
async function settled(runs: RunStore, runId: string): Promise<RunRecord> {
  for (let i = 0; i < 150; i++) {
    const run = await runs.getRun(runId);
    if (run && run.status !== "queued" && run.status !== "running") return run;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await runs.getRun(runId))!;
}

describe("executor", () => {
  it("memoizes a step's data and sends it on the next call, then completes", async () => {
    const { runs, runId, bodies, sent } = await runWith(0, (_body, call) =>
      call === 0
        ? { status: 206, body: JSON.stringify([{ id: "s1", op: "StepRun", name: "s", data: "A" }]) }
        : { status: 200, body: '"done"' },
    );
    const run = await settled(runs, runId);
    expect(run.status).toBe("completed");
    expect(run.output).toBe("done");
    expect((bodies[1] as { steps: unknown }).steps).toEqual({ s1: { data: "A" } });
    expect(sent.map((e) => e.name)).toEqual(["inngest/function.finished"]);
  });

  // An error over the run store's limit made release() throw `too_large`, which the executor
  // does not catch: the run never finished and the app was called again after every lease.
  // readCallAnswer now bounds app errors; the executor itself still lets `too_large` escape.
  it("fails a run whose final error is too large to store, instead of calling the app forever", async () => {
    const huge = JSON.stringify({ name: "Error", message: "x".repeat(MAX_VALUE_BYTES + 10) });
    const { runs, runId } = await runWith(0, () => ({
      status: 500,
      body: huge,
      headers: { "x-inngest-no-retry": "true" },
    }));
    const run = await settled(runs, runId);
    expect(run.status).toBe("failed");
  });
});

describe("executor: concurrency limits", () => {
  it("a run held back by its limit is claimed when the slot frees here, without looking again and again meanwhile", async () => {
    const runs: RunStore = createMemoryRunStore();
    await runs.syncApp(app, [
      {
        id: "shop-a",
        name: "a",
        config: { triggers: [{ event: "shop/order" }], concurrency: 1 },
        stepUrl: `${app.url}?fnId=shop-a&stepId=step`,
      },
    ]);
    for (const n of [1, 2]) {
      await runs.createRun({
        functionId: "shop-a",
        eventInternalId: `01J0000000000000000000000${n}`,
        env: "production",
        dueAt: Date.now(),
        concurrency: [{ idx: 0, key: "shop-a" }],
      });
    }
    let claims = 0;
    const counted: RunStore = {
      ...runs,
      claimDue: (...args) => {
        claims++;
        return runs.claimDue(...args);
      },
    };
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    let releaseFirst: () => void = () => {};
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      firstStarted = resolve;
    });
    executor = createExecutor({
      runs: counted,
      loadEvent: async () => stored,
      send: async () => {},
      // A long poll: the second run can only start this soon if the release looks again.
      pollMs: 60_000,
      fetch: (async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        calls++;
        if (calls === 1) {
          firstStarted();
          await firstHeld;
        }
        inFlight--;
        return new Response(JSON.stringify({ ok: true }), { status: 200 });
      }) as typeof fetch,
    });
    executor.start();
    await started;
    // The second run is due but at its limit: the executor waits, it does not spin.
    await new Promise((r) => setTimeout(r, 200));
    expect(claims).toBeLessThanOrEqual(3);
    releaseFirst();
    const done = async () => {
      for (;;) {
        const [a, b] = await Promise.all(
          [1, 2].map((n) => runs.listRunsForEvent(`01J0000000000000000000000${n}`)),
        );
        if (a?.[0]?.status === "completed" && b?.[0]?.status === "completed") return;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await done();
    expect(maxInFlight).toBe(1);
  });
});

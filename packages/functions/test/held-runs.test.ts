import {
  type AppRecord,
  createDispatcher,
  createExecutor,
  createMemoryRunStore,
  type Dispatcher,
  type Executor,
  type JsonValue,
  type RunStore,
} from "@evt/functions";
import type { StoredEvent } from "@evt/schema";
import { afterEach, describe, expect, it } from "vitest";

// Runs due now are created already held by the executor of the gateway that dispatched them
// (`createRun`'s lease): the first call follows the commit with no claim and no reads.

const app: AppRecord = {
  url: "http://app.test/api/inngest",
  appId: "shop",
  sdk: "js:v4.24.0",
  framework: "nodejs",
  syncedAt: 0,
  lastError: null,
};

let seq = 0;
function event(ts = Date.now()): StoredEvent {
  seq++;
  return {
    internal_id: `01J0000000000000000000${String(seq).padStart(4, "0")}`,
    id: null,
    name: "shop/order",
    data: { n: seq },
    user: null,
    ts,
    v: null,
    env: "production",
    received_at: Date.now(),
    source: null,
    source_id: null,
  };
}

const executors: Executor[] = [];
afterEach(async () => {
  await Promise.all(executors.splice(0).map((e) => e.stop(1_000)));
});

interface Rig {
  runs: RunStore;
  dispatcher: Dispatcher;
  executor: Executor;
  counts: {
    claimed: number;
    loads: number;
    stepReads: number;
    waitReads: number;
    batchReads: number;
    calls: number;
  };
  /** The bodies the app was called with, parsed. */
  bodies: { event: { data: JsonValue }; steps: Record<string, JsonValue> }[];
  /** Resolves the app's pending calls (when `hold` is set). */
  releaseCalls(): void;
}

async function rig(
  config: Record<string, JsonValue>,
  opts: { concurrency?: number; hold?: boolean; expect?: boolean; exclusive?: boolean } = {},
): Promise<Rig> {
  const base = createMemoryRunStore();
  const counts = { claimed: 0, loads: 0, stepReads: 0, waitReads: 0, batchReads: 0, calls: 0 };
  const bodies: Rig["bodies"] = [];
  const runs: RunStore = Object.assign(Object.create(base) as RunStore, {
    claimDue: async (...args: Parameters<RunStore["claimDue"]>) => {
      const got = await base.claimDue(...args);
      counts.claimed += got.length;
      return got;
    },
    listSteps: (runId: string) => {
      counts.stepReads++;
      return base.listSteps(runId);
    },
    listWaits: (runId: string) => {
      counts.waitReads++;
      return base.listWaits(runId);
    },
    listBatchEvents: (runId: string) => {
      counts.batchReads++;
      return base.listBatchEvents(runId);
    },
  });
  await base.syncApp(app, [
    {
      id: "shop-a",
      name: "a",
      config: { triggers: [{ event: "shop/order" }], ...config },
      stepUrl: `${app.url}?fnId=shop-a&stepId=step`,
    },
  ]);
  const events = new Map<string, StoredEvent>();
  let waiting: (() => void)[] = [];
  const dispatcher = createDispatcher({
    runs,
    holder: {
      reserve: () => executor.reserve(),
      adopt: (run, ev) => executor.adopt(run, ev),
      unreserve: () => executor.unreserve(),
      ...(opts.expect ? { expect: (run, ev) => executor.expect(run, ev) } : {}),
    },
  });
  await dispatcher.refresh();
  const executor: Executor = createExecutor({
    runs,
    loadEvent: async (id) => {
      counts.loads++;
      return events.get(id) ?? null;
    },
    send: async () => {},
    concurrency: opts.concurrency ?? 8,
    ...(opts.exclusive !== undefined ? { exclusive: opts.exclusive } : {}),
    leaseMs: 5_000,
    pollMs: 20,
    fetch: (async (_url: string, init: RequestInit) => {
      counts.calls++;
      bodies.push(JSON.parse(String(init.body)));
      if (opts.hold) await new Promise<void>((resolve) => waiting.push(resolve));
      return new Response(JSON.stringify({ ok: true }), { status: 200 });
    }) as typeof fetch,
  });
  executors.push(executor);
  executor.start();
  const remember = dispatcher.dispatch.bind(dispatcher);
  dispatcher.dispatch = (env, list) => {
    for (const e of list) events.set(e.internal_id, e);
    return remember(env, list);
  };
  return {
    runs: base,
    dispatcher,
    executor,
    counts,
    bodies,
    releaseCalls() {
      for (const w of waiting) w();
      waiting = [];
    },
  };
}

async function until(check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("runs created held by the dispatching executor", () => {
  it("a run due now is created held and called without a claim, an event read or a steps read", async () => {
    const r = await rig({});
    const ev = event();
    const { created } = await r.dispatcher.dispatch("production", [ev]);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ status: "running", leaseOwner: r.executor.owner });
    await until(async () => (await r.runs.getRun(created[0]!.runId))?.status === "completed");
    expect(r.counts).toMatchObject({ claimed: 0, loads: 0, stepReads: 0, calls: 1 });
  });

  it("a repeated dispatch of the same event gives its slot back: the next event is still created held", async () => {
    const r = await rig({}, { concurrency: 1 });
    const ev = event();
    const [first] = (await r.dispatcher.dispatch("production", [ev])).created;
    await until(async () => (await r.runs.getRun(first!.runId))?.status === "completed");
    const again = await r.dispatcher.dispatch("production", [ev]);
    expect(again).toMatchObject({ created: [], existing: 1 });
    const [next] = (await r.dispatcher.dispatch("production", [event()])).created;
    expect(next).toMatchObject({ status: "running", leaseOwner: r.executor.owner });
    await until(async () => (await r.runs.getRun(next!.runId))?.status === "completed");
    expect(r.counts.claimed).toBe(0);
  });

  it("with every slot taken, a run is created queued and claimed when a slot frees", async () => {
    const r = await rig({}, { concurrency: 1, hold: true });
    const [first] = (await r.dispatcher.dispatch("production", [event()])).created;
    expect(first!.status).toBe("running");
    await until(() => r.counts.calls === 1);
    const [second] = (await r.dispatcher.dispatch("production", [event()])).created;
    expect(second).toMatchObject({ status: "queued", leaseOwner: null });
    r.releaseCalls();
    await until(() => r.counts.calls === 2);
    r.releaseCalls();
    await until(async () => (await r.runs.getRun(second!.runId))?.status === "completed");
    expect(r.counts.claimed).toBe(1);
    expect(r.counts.loads).toBe(1);
  });

  it("a run of an event with a future ts, or of a function with flow control, is created queued", async () => {
    const r = await rig({ concurrency: [{ limit: 5 }] });
    const [limited] = (await r.dispatcher.dispatch("production", [event()])).created;
    expect(limited).toMatchObject({ status: "queued", leaseOwner: null });
    const plain = await rig({});
    const [later] = (await plain.dispatcher.dispatch("production", [event(Date.now() + 60_000)]))
      .created;
    expect(later).toMatchObject({ status: "queued", leaseOwner: null });
  });
});

describe("runs created queued, then claimed by the executor that created them", () => {
  /** One held run takes the only slot; the next is created queued and told to `expect`. */
  async function queuedBehindOne(opts: { exclusive: boolean }) {
    const r = await rig({}, { concurrency: 1, hold: true, expect: true, ...opts });
    const [first] = (await r.dispatcher.dispatch("production", [event()])).created;
    expect(first!.status).toBe("running");
    await until(() => r.counts.calls === 1);
    const ev = event();
    const [second] = (await r.dispatcher.dispatch("production", [ev])).created;
    expect(second).toMatchObject({ status: "queued", leaseOwner: null });
    /** Lets the first run end, then the second (claimed once the slot frees). */
    const finish = async () => {
      r.releaseCalls();
      await until(() => r.counts.calls === 2);
      r.releaseCalls();
      await until(async () => (await r.runs.getRun(second!.runId))?.status === "completed");
    };
    return { r, second: second!, ev, finish };
  }

  it("on a store it alone claims from, the claimed run is called with no event, steps, waits or batch read", async () => {
    const { r, ev, finish } = await queuedBehindOne({ exclusive: true });
    await finish();
    expect(r.counts).toMatchObject({
      claimed: 1,
      loads: 0,
      stepReads: 0,
      waitReads: 0,
      batchReads: 0,
    });
    expect(r.bodies[1]!.event.data).toEqual(ev.data);
  });

  it("on a shared store, the event is not read back but the steps and waits are", async () => {
    const { r, ev, finish } = await queuedBehindOne({ exclusive: false });
    await finish();
    expect(r.counts).toMatchObject({ claimed: 1, loads: 0, stepReads: 1, waitReads: 1 });
    expect(r.bodies[1]!.event.data).toEqual(ev.data);
  });

  it("keeps 16 MiB of their events at once: the claims of the runs past them read theirs", async () => {
    const opts = { concurrency: 1, hold: true, expect: true, exclusive: true };
    const r = await rig({}, opts);
    await r.dispatcher.dispatch("production", [event()]);
    await until(() => r.counts.calls === 1);
    // 1 MB each: 16 fit in 16 MiB, the 4 after them do not.
    const big = Array.from({ length: 20 }, () => ({
      ...event(),
      data: { blob: "x".repeat(1_000_000) },
    }));
    const { created } = await r.dispatcher.dispatch("production", big);
    expect(created.every((run) => run.status === "queued")).toBe(true);
    opts.hold = false;
    r.releaseCalls();
    await until(() => r.counts.calls === 21);
    expect(r.counts).toMatchObject({ loads: 4, stepReads: 0, waitReads: 0, batchReads: 0 });
  });

  it("a run started elsewhere since it was created has its steps read, even on an exclusive store", async () => {
    const { r, second, finish } = await queuedBehindOne({ exclusive: true });
    // Another claimer (which an exclusive store should not have) starts it and memoizes a step.
    const [taken] = await r.runs.claimDue(Date.now(), "other", 5_000, 10);
    expect(taken!.runId).toBe(second.runId);
    await r.runs.saveSteps(second.runId, "other", [
      { stepId: "s1", op: "StepRun", data: { done: true }, error: null, attempts: 1 },
    ]);
    await r.runs.release(second.runId, "other", { status: "queued", now: Date.now() - 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await finish();
    expect(r.counts.stepReads).toBe(1);
    expect(r.bodies[1]!.steps).toEqual({ s1: { data: { done: true } } });
  });
});

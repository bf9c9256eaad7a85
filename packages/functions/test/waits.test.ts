import type { StoredEvent } from "@evt/schema";
import { describe, expect, it } from "vitest";
import { createMemoryRunStore } from "../src/drivers/memory";
import { createWaitMatcher, type RunStore } from "../src/index";

const T0 = 1_750_000_000_000;
let n = 0;

function stored(
  name: string,
  data: Record<string, unknown>,
  receivedAt: number,
  env = "production",
): StoredEvent {
  n++;
  return {
    internal_id: `01JEVT${String(n).padStart(20, "0")}`.slice(0, 26),
    id: `e${n}`,
    name,
    data,
    user: null,
    ts: receivedAt,
    v: null,
    received_at: receivedAt,
    env,
  } as unknown as StoredEvent;
}

/** `count` runs waiting for `app/paid` with `async.data.id == "<id i>"`, recorded at T0. */
async function waiting(runs: RunStore, count: number, expiresAt = T0 + 60_000): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { run } = await runs.createRun({
      functionId: "app-waiter",
      eventInternalId: `01JRUN${String(i).padStart(20, "0")}`.slice(0, 26),
      env: "production",
      dueAt: T0,
      now: T0,
    });
    ids.push(run.runId);
  }
  const claimed = await runs.claimDue(T0, "w", 60_000, 1000);
  expect(claimed).toHaveLength(count);
  for (const [i, runId] of ids.entries()) {
    await runs.waitRun(runId, "w", {
      waits: [
        {
          stepId: "wait",
          kind: "event",
          event: "app/paid",
          expression: `async.data.id == "u${i}"`,
          expiresAt,
        },
      ],
      now: T0,
      stepsSeen: 0,
    });
  }
  return ids;
}

describe("createWaitMatcher", () => {
  it("resumes the one matching run among 1,000 through the index, with no CEL evaluation", async () => {
    const runs = createMemoryRunStore();
    const ids = await waiting(runs, 1000);
    const resolved: string[] = [];
    const matcher = createWaitMatcher({ runs, onResolved: (w) => resolved.push(w.runId) });
    expect(
      await matcher.match("production", [stored("app/paid", { id: "u437", n: 1 }, T0 + 5)]),
    ).toBe(1);
    expect(resolved).toEqual([ids[437]]);
    expect(matcher.stats()).toMatchObject({ waits: 999, evaluations: 0 });
    const steps = await runs.listSteps(ids[437]!);
    expect(steps).toMatchObject([
      {
        stepId: "wait",
        op: "WaitForEvent",
        data: { name: "app/paid", data: { id: "u437", n: 1 } },
      },
    ]);
    expect(await runs.getRun(ids[437]!)).toMatchObject({
      status: "queued",
      dueAt: expect.any(Number),
    });
    // Not again; not another env; not an event received before the wait; not after its timeout.
    expect(await matcher.match("production", [stored("app/paid", { id: "u437" }, T0 + 6)])).toBe(0);
    expect(
      await matcher.match("staging", [stored("app/paid", { id: "u1" }, T0 + 6, "staging")]),
    ).toBe(0);
    expect(await matcher.match("production", [stored("app/paid", { id: "u2" }, T0 - 1)])).toBe(0);
    expect(await matcher.match("production", [stored("app/paid", { id: "u3" }, T0 + 60_000)])).toBe(
      0,
    );
    expect(await matcher.match("production", [stored("app/other", { id: "u4" }, T0 + 7)])).toBe(0);
    expect(await runs.countWaits()).toBe(999);
  });

  it("two matchers (two gateways) racing on one event resolve the wait once; a wait stored later is found by both", async () => {
    const runs = createMemoryRunStore();
    const [runId] = await waiting(runs, 1);
    const a = createWaitMatcher({ runs, shared: true });
    const b = createWaitMatcher({ runs, shared: true });
    const ev = stored("app/paid", { id: "u0" }, T0 + 1);
    const got = await Promise.all([a.match("production", [ev]), b.match("production", [ev])]);
    expect(got[0]! + got[1]!).toBe(1);
    expect((await runs.listSteps(runId!)).length).toBe(1);
    // After both have looked once, a new wait appears in each through its cursor.
    const { run } = await runs.createRun({
      functionId: "app-waiter",
      eventInternalId: "01JRUNLATER000000000000000",
      env: "production",
      dueAt: T0,
      now: T0,
    });
    await runs.claimDue(T0, "w", 60_000, 10);
    await runs.waitRun(run.runId, "w", {
      waits: [
        {
          stepId: "s",
          kind: "event",
          event: "app/later",
          expression: null,
          expiresAt: T0 + 10_000,
        },
      ],
      now: T0 + 2,
      stepsSeen: 0,
    });
    await a.sync();
    expect(a.size).toBe(1);
    expect(await b.match("production", [stored("app/later", {}, T0 + 3)])).toBe(1);
    expect(await a.match("production", [stored("app/later", {}, T0 + 4)])).toBe(0);
    expect(a.size).toBe(0);
  });

  it("a shared index drops, every few minutes, the waits another gateway resolved (an invoke's would otherwise stay a year)", async () => {
    const runs = createMemoryRunStore();
    // A year ahead, as an invoke's wait: only the sweep takes them out of B's index.
    await waiting(runs, 3, T0 + 365 * 86_400_000);
    let clock = T0 + 1;
    const a = createWaitMatcher({ runs, shared: true, now: () => clock });
    const b = createWaitMatcher({ runs, shared: true, now: () => clock });
    await Promise.all([a.sync(), b.sync()]);
    expect([a.size, b.size]).toEqual([3, 3]);
    expect(await a.match("production", [stored("app/paid", { id: "u1" }, T0 + 2)])).toBe(1);
    // B never sees that event: it still holds the wait, until its sweep.
    expect(b.size).toBe(3);
    expect(await b.sweep()).toBe(1);
    expect(b.size).toBe(2);
    expect(await b.sweep()).toBe(0);
    // match starts the sweep by itself once the interval passed.
    expect(await a.match("production", [stored("app/paid", { id: "u2" }, T0 + 3)])).toBe(1);
    clock += 5 * 60_000;
    await b.match("production", [stored("app/other", {}, clock)]);
    await new Promise((r) => setTimeout(r, 10));
    expect(b.size).toBe(1);
  });
});

import {
  type AppRecord,
  createDispatcher,
  createMemoryRunStore,
  type FunctionInput,
  type JsonValue,
  type RunStore,
  retriesOf,
} from "@evt/functions";
import type { StoredEvent } from "@evt/schema";
import { beforeEach, describe, expect, it } from "vitest";

const T0 = Date.UTC(2030, 0, 1);
const app: AppRecord = {
  url: "http://127.0.0.1:3000/api/inngest",
  appId: "shop",
  sdk: "js:v4.24.0",
  framework: "nodejs",
  syncedAt: T0,
  lastError: null,
};

function fn(id: string, triggers: JsonValue[]): FunctionInput {
  return {
    id,
    name: id,
    config: { id, triggers },
    stepUrl: `${app.url}?fnId=${id}&stepId=step`,
  };
}

let seq = 0;
function event(name: string, data: Record<string, unknown> = {}): StoredEvent {
  seq++;
  return {
    internal_id: `01J0000000000000000000${String(seq).padStart(4, "0")}`,
    id: null,
    name,
    data,
    user: null,
    ts: T0,
    v: null,
    env: "production",
    received_at: T0,
    source: null,
    source_id: null,
  };
}

let runs: RunStore;
beforeEach(() => {
  runs = createMemoryRunStore();
});

function dispatcherOver(store: RunStore) {
  return createDispatcher({ runs: store, now: () => T0 });
}

describe("createDispatcher", () => {
  it("indexes the stored functions on refresh", async () => {
    await runs.syncApp(app, [fn("shop-a", [{ event: "shop/a" }]), fn("shop-b", [{ event: "x" }])]);
    const d = dispatcherOver(runs);
    expect(d.size).toBe(0);
    await d.refresh();
    expect(d.size).toBe(2);
    expect(d.functionById("shop-a")?.stepUrl).toBe(`${app.url}?fnId=shop-a&stepId=step`);
  });

  it("creates one run per matching function and event", async () => {
    await runs.syncApp(app, [
      fn("shop-a", [{ event: "shop/order" }]),
      fn("shop-b", [{ event: "shop/order" }, { event: "shop/other" }]),
      fn("shop-c", [{ event: "shop/unrelated" }]),
    ]);
    const d = dispatcherOver(runs);
    await d.refresh();
    const e1 = event("shop/order");
    const e2 = event("shop/other");
    const { created, existing } = await d.dispatch("production", [e1, e2]);
    expect(existing).toBe(0);
    expect(created.map((r) => [r.functionId, r.eventInternalId])).toEqual([
      ["shop-a", e1.internal_id],
      ["shop-b", e1.internal_id],
      ["shop-b", e2.internal_id],
    ]);
    expect(created[0]).toMatchObject({ env: "production", status: "queued", dueAt: T0 });
    expect(await runs.listRunsForEvent(e1.internal_id)).toHaveLength(2);
  });

  it("creates no run for events it already dispatched, counting them as existing", async () => {
    await runs.syncApp(app, [fn("shop-a", [{ event: "shop/order" }])]);
    const d = dispatcherOver(runs);
    await d.refresh();
    const e = event("shop/order");
    expect((await d.dispatch("production", [e])).created).toHaveLength(1);
    expect(await d.dispatch("production", [e])).toEqual({
      created: [],
      existing: 1,
      skipped: [],
      appended: [],
    });
    expect(await runs.listRunsForEvent(e.internal_id)).toHaveLength(1);
  });

  it("matches wildcard triggers and `if` expressions", async () => {
    await runs.syncApp(app, [
      fn("shop-any", [{ event: "shop/*" }]),
      fn("shop-big", [{ event: "shop/order", expression: "event.data.total > 100" }]),
    ]);
    const d = dispatcherOver(runs);
    await d.refresh();
    const small = event("shop/order", { total: 5 });
    const big = event("shop/order", { total: 500 });
    const other = event("mail/sent");
    const { created } = await d.dispatch("production", [small, big, other]);
    expect(created.map((r) => [r.functionId, r.eventInternalId])).toEqual([
      ["shop-any", small.internal_id],
      ["shop-any", big.internal_id],
      ["shop-big", big.internal_id],
    ]);
  });

  it("re-indexes a function whose triggers a later sync changed", async () => {
    await runs.syncApp(app, [fn("shop-a", [{ event: "old" }])]);
    const d = dispatcherOver(runs);
    await d.refresh();
    await runs.syncApp(app, [fn("shop-a", [{ event: "new" }])]);
    await d.refresh();
    expect(d.functionById("shop-a")?.version).toBe(2);
    const oldEvent = event("old");
    const newEvent = event("new");
    const { created } = await d.dispatch("production", [oldEvent, newEvent]);
    expect(created.map((r) => r.eventInternalId)).toEqual([newEvent.internal_id]);
  });

  it("re-indexes a function removed and re-added between two refreshes (its version restarts at 1)", async () => {
    await runs.syncApp(app, [fn("shop-a", [{ event: "old" }])]);
    const d = dispatcherOver(runs);
    await d.refresh();
    await runs.syncApp(app, []);
    await runs.syncApp(app, [fn("shop-a", [{ event: "new" }])]);
    await d.refresh();
    expect(d.functionById("shop-a")?.version).toBe(1);
    const oldEvent = event("old");
    const newEvent = event("new");
    const { created } = await d.dispatch("production", [oldEvent, newEvent]);
    expect(created.map((r) => r.eventInternalId)).toEqual([newEvent.internal_id]);
  });

  it("stops matching a function a later sync removed", async () => {
    await runs.syncApp(app, [fn("shop-a", [{ event: "e" }]), fn("shop-b", [{ event: "e" }])]);
    const d = dispatcherOver(runs);
    await d.refresh();
    await runs.syncApp(app, [fn("shop-b", [{ event: "e" }])]);
    await d.refresh();
    expect(d.functionById("shop-a")).toBeUndefined();
    const { created } = await d.dispatch("production", [event("e")]);
    expect(created.map((r) => r.functionId)).toEqual(["shop-b"]);
  });

  it("makes no store call for a dispatch when no function is registered", async () => {
    const calls: string[] = [];
    const spied = new Proxy(runs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return value.apply(target, args);
        };
      },
    });
    const d = dispatcherOver(spied);
    await d.refresh();
    calls.length = 0;
    expect(await d.dispatch("production", [event("e"), event("f")])).toEqual({
      created: [],
      existing: 0,
      skipped: [],
      appended: [],
    });
    expect(calls).toEqual([]);
  });
});

describe("retriesOf", () => {
  it("defaults to 4 retries", () => {
    expect(retriesOf({ id: "x", triggers: [] })).toBe(4);
    expect(retriesOf(null)).toBe(4);
    expect(retriesOf({ steps: { step: { id: "step" } } })).toBe(4);
  });

  it("reads steps.step.retries.attempts", () => {
    expect(retriesOf({ steps: { step: { retries: { attempts: 2 } } } })).toBe(2);
    expect(retriesOf({ steps: { step: { retries: { attempts: 0 } } } })).toBe(0);
  });
});

describe("createDispatcher: idempotency keys", () => {
  it("claims the key of a function with idempotency: a taken key starts no run; the same event again does; a failing key goes ahead", async () => {
    await runs.syncApp(app, [
      {
        ...fn("shop-once", [{ event: "shop/once" }]),
        config: {
          id: "shop-once",
          triggers: [{ event: "shop/once" }],
          idempotency: "event.data.user",
        },
      },
      fn("shop-any", [{ event: "shop/once" }]),
    ]);
    const taken = new Map<string, string>();
    const keyErrors: string[] = [];
    const d = createDispatcher({
      runs,
      now: () => T0,
      claimIdempotencyKey: async (functionId, key, eventId) => {
        const k = `${functionId}/${key}`;
        const holder = taken.get(k);
        if (holder === undefined) taken.set(k, eventId);
        return holder === undefined || holder === eventId;
      },
      onKeyError: (info) => keyErrors.push(info.functionId),
    });
    await d.refresh();
    const first = event("shop/once", { user: "u1" });
    const second = event("shop/once", { user: "u1" });
    const other = event("shop/once", { user: "u2" });
    const r1 = await d.dispatch("production", [first]);
    expect(r1.created.map((r) => r.functionId).sort()).toEqual(["shop-any", "shop-once"]);
    const r2 = await d.dispatch("production", [second, other]);
    expect(r2.skipped).toEqual(["shop-once"]);
    expect((await runs.listRunsForEvent(second.internal_id)).map((r) => r.functionId)).toEqual([
      "shop-any",
    ]);
    expect(
      (await runs.listRunsForEvent(other.internal_id)).map((r) => r.functionId).sort(),
    ).toEqual(["shop-any", "shop-once"]);
    // A retried request: same event, the key is its own: no second run, nothing skipped.
    const again = await d.dispatch("production", [first]);
    expect(again).toMatchObject({ created: [], skipped: [], existing: 2 });
    // No key (a missing field) runs without claiming.
    const noKey = await d.dispatch("production", [event("shop/once", {})]);
    expect(noKey.created).toHaveLength(2);
    expect(keyErrors).toEqual([]);
  });
});

describe("createDispatcher: concurrency keys", () => {
  it("stores each run's concurrency slots: the key evaluated on its event, per scope; a key that fails takes the function-level slot", async () => {
    await runs.syncApp(app, [
      {
        ...fn("shop-limited", [{ event: "shop/go" }]),
        config: {
          triggers: [{ event: "shop/go" }],
          concurrency: [
            { limit: 1, key: "event.data.user" },
            { limit: 5, key: "int(event.data.n)", scope: "env" },
          ],
        },
      },
      {
        ...fn("shop-shared", [{ event: "shop/go" }]),
        config: {
          triggers: [{ event: "shop/go" }],
          concurrency: { limit: 5, key: "int(event.data.n)", scope: "env" },
        },
      },
      fn("shop-free", [{ event: "shop/go" }]),
    ]);
    const keyErrors: string[] = [];
    const d = createDispatcher({
      runs,
      now: () => T0,
      onKeyError: (info) => keyErrors.push(`${info.kind}:${info.functionId}`),
    });
    await d.refresh();
    const slotsOf = async (e: StoredEvent, functionId: string) => {
      const run = (await runs.listRunsForEvent(e.internal_id)).find(
        (r) => r.functionId === functionId,
      )!;
      return (await runs.listConcurrencySlots(run.runId)).map((s) => s.key);
    };
    const a1 = event("shop/go", { user: "a", n: 1 });
    const a2 = event("shop/go", { user: "a", n: 2 });
    const b1 = event("shop/go", { user: "b", n: 1 });
    const bad = event("shop/go", { user: "c", n: "not a number" });
    await d.dispatch("production", [a1, a2, b1, bad]);
    const [ka1, ka2, kb1] = [
      await slotsOf(a1, "shop-limited"),
      await slotsOf(a2, "shop-limited"),
      await slotsOf(b1, "shop-limited"),
    ];
    expect(ka1[0]).toBe(ka2[0]); // one user, one key
    expect(ka1[0]).not.toBe(kb1[0]); // another user, another key
    expect(ka1[1]).toBe(kb1[1]); // n = 1 in both
    expect(ka1[1]).not.toBe(ka2[1]);
    // An env-scoped key is shared by the functions using the same expression.
    expect((await slotsOf(a1, "shop-shared"))[0]).toBe(ka1[1]);
    expect(await slotsOf(a1, "shop-free")).toEqual([]);
    // The failing key: logged, and the function-level slot of that limit instead.
    expect(keyErrors).toEqual(["concurrency:shop-limited", "concurrency:shop-shared"]);
    const kbad = await slotsOf(bad, "shop-limited");
    expect(kbad[1]).toBe(JSON.stringify(["f", "shop-limited", 1]));
    expect(JSON.parse(kbad[0]!)).toEqual(["f", "shop-limited", 0, "event.data.user", "c"]);
  });
});

describe("createDispatcher: batchEvents", () => {
  const batched = (id: string, batchEvents: JsonValue): FunctionInput => ({
    ...fn(id, [{ event: "shop/order" }]),
    config: { id, triggers: [{ event: "shop/order" }], batchEvents },
  });

  it("appends matching events to one batch, in order; a retried dispatch adds nothing", async () => {
    await runs.syncApp(app, [batched("shop-batch", { maxSize: 3, timeout: "5s" })]);
    const d = dispatcherOver(runs);
    await d.refresh();
    const events = [event("shop/order"), event("shop/order"), event("shop/order")];
    const first = await d.dispatch("production", events);
    expect(first.created).toHaveLength(1);
    expect(first.appended).toHaveLength(2);
    const runId = first.created[0]!.runId;
    expect(await runs.listBatchEvents(runId)).toEqual(events.map((e) => e.internal_id));
    // Full at 3: due now rather than after the timeout.
    expect((await runs.getRun(runId))!.dueAt).toBe(T0);
    const again = await d.dispatch("production", events);
    expect(again).toMatchObject({ created: [], appended: [], existing: 3 });
    expect(await runs.listBatchEvents(runId)).toHaveLength(3);
  });

  it("an event whose `if` is false runs alone at once; `key` keeps one batch per value", async () => {
    await runs.syncApp(app, [
      batched("shop-batch", {
        maxSize: 10,
        timeout: "5s",
        key: "event.data.user",
        if: "event.data.vip == false",
      }),
    ]);
    const d = dispatcherOver(runs);
    await d.refresh();
    const [a1, b1, a2, vip] = [
      event("shop/order", { user: "a", vip: false }),
      event("shop/order", { user: "b", vip: false }),
      event("shop/order", { user: "a", vip: false }),
      event("shop/order", { user: "a", vip: true }),
    ];
    const result = await d.dispatch("production", [a1!, b1!, a2!, vip!]);
    expect(result.created).toHaveLength(3);
    const [ofA] = await runs.listBatchRunsForEvent(a1!.internal_id);
    expect(await runs.listBatchEvents(ofA!.runId)).toEqual([a1!.internal_id, a2!.internal_id]);
    expect(ofA!.dueAt).toBe(T0 + 5_000);
    const [alone] = await runs.listRunsForEvent(vip!.internal_id);
    expect(alone!.dueAt).toBe(T0);
    expect(await runs.listBatchEvents(alone!.runId)).toEqual([]);
  });
});

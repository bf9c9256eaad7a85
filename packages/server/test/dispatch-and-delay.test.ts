import { createMemoryStore } from "@evt/dedup";
import { createEventApi, type DispatchBatch, ServerError } from "@evt/server";
import { createMemoryEventStore } from "@evt/store";
import { describe, expect, it } from "vitest";

const NOW = Date.UTC(2026, 11, 2, 12);
const post = (body: unknown) => ({
  method: "POST",
  url: "/e/key",
  headers: { "content-type": "application/json" },
  body: new TextEncoder().encode(JSON.stringify(body)),
});

describe("dispatch: the runs of stored events are queued before the answer", () => {
  it("is awaited with every event of the request as stored (duplicates under the first id) before the 200", async () => {
    const batches: DispatchBatch[] = [];
    let answered = false;
    const api = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      now: () => NOW,
      dispatch: async (batch) => {
        await new Promise((r) => setTimeout(r, 20));
        expect(answered).toBe(false);
        batches.push(batch);
      },
    });
    const first = await api.handle(post([{ id: "a", name: "app/x" }, { name: "app/y" }]));
    answered = true;
    expect(first.status).toBe(200);
    const ids = JSON.parse(first.body as string).ids as string[];
    answered = false;
    const again = await api.handle(post({ id: "a", name: "app/x" }));
    answered = true;
    expect(JSON.parse(again.body as string).ids).toEqual([ids[0]]);
    expect(batches.map((b) => b.events.map((e) => e.internal_id))).toEqual([ids, [ids[0]]]);
    expect(batches[0]!.env).toBe("production");
  });

  it("a failing dispatch answers 503 with Retry-After: the events stay stored, and a retry dispatches them again", async () => {
    const store = createMemoryEventStore();
    let fail = true;
    const seen: string[][] = [];
    const api = createEventApi({
      dedup: createMemoryStore(),
      store,
      dispatch: (batch) => {
        seen.push(batch.events.map((e) => e.internal_id));
        if (fail) throw new Error("run store down");
      },
    });
    const res = await api.handle(post({ id: "x1", name: "app/x" }));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(JSON.parse(res.body as string).error).toContain("retry the request");
    fail = false;
    const retry = await api.handle(post({ id: "x1", name: "app/x" }));
    expect(retry.status).toBe(200);
    expect(seen[1]).toEqual(seen[0]);
    expect(await store.get(seen[0]![0]!, "production")).not.toBeNull();
  });

  it("refuses a dispatch option that is not a function", () => {
    expect(() =>
      createEventApi({
        dedup: createMemoryStore(),
        store: createMemoryEventStore(),
        dispatch: "nope" as never,
      }),
    ).toThrow(/dispatch must be a function/);
  });
});

describe("maxEventDelayMs: how far ahead an event's ts may be", () => {
  const api = createEventApi({
    dedup: createMemoryStore(),
    store: createMemoryEventStore(),
    now: () => NOW,
    maxEventDelayMs: 10_000,
  });

  it("accepts ts up to the bound, refuses past it with the index, the times and the limit", async () => {
    expect((await api.handle(post({ name: "app/x", ts: NOW + 10_000 }))).status).toBe(200);
    const res = await api.handle(post([{ name: "app/x" }, { name: "app/x", ts: NOW + 10_001 }]));
    expect(res.status).toBe(400);
    const error = JSON.parse(res.body as string).error as string;
    expect(error).toContain("events[1].ts");
    expect(error).toContain("more than 10 s ahead");
    expect(error).toContain(new Date(NOW + 10_000).toISOString());
  });

  it("refuses a bad option", () => {
    expect(() =>
      createEventApi({
        dedup: createMemoryStore(),
        store: createMemoryEventStore(),
        maxEventDelayMs: -1,
      }),
    ).toThrow(ServerError);
  });
});

describe("api.send: the server's own events", () => {
  it("stores reserved names with their ids, deduplicates a repeat, dispatches them, and refuses bad shapes", async () => {
    const dispatched: string[] = [];
    const store = createMemoryEventStore();
    const api = createEventApi({
      dedup: createMemoryStore(),
      store,
      dispatch: (b) => {
        dispatched.push(...b.events.map((e) => e.name));
      },
    });
    const [id] = await api.send([
      { id: "failed:r1", name: "inngest/function.failed", data: { run_id: "r1" } },
    ]);
    const [again] = await api.send([
      { id: "failed:r1", name: "inngest/function.failed", data: {} },
    ]);
    expect(again).toBe(id);
    expect(await store.get(id!, "production")).toMatchObject({
      name: "inngest/function.failed",
      id: "failed:r1",
    });
    expect(dispatched).toEqual(["inngest/function.failed", "inngest/function.failed"]);
    await expect(api.send([{ name: "" }])).rejects.toThrow(/events\[0\]\.name/);
    await expect(api.send([{ name: "x", data: [1] }])).rejects.toThrow(
      /events\[0\]\.data must be an object/,
    );
    await expect(api.send([{ name: "x" }], { env: "bad env!" })).rejects.toThrow(/env/);
  });

  it("keeps an event's user object (webhook events carry one)", async () => {
    const store = createMemoryEventStore();
    const api = createEventApi({ dedup: createMemoryStore(), store });
    const [id] = await api.send([{ name: "app/x", data: {}, user: { id: "u1" } }]);
    const [none] = await api.send([{ name: "app/y", data: {}, user: [1] }]);
    expect((await store.get(id!, "production"))?.user).toEqual({ id: "u1" });
    expect((await store.get(none!, "production"))?.user).toBeNull();
  });
});

import { createMemoryStore } from "@evt/dedup";
import { createEventApi, type EventOrigin, ServerError } from "@evt/server";
import { createMemoryEventStore, type StoredEvent } from "@evt/store";
import { describe, expect, it } from "vitest";

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  url: "/e/key",
  headers: { "content-type": "application/json", ...headers },
  body: new TextEncoder().encode(JSON.stringify(body)),
});

function setup(originOf?: (req: { headers: Record<string, string | undefined> }) => EventOrigin) {
  const store = createMemoryEventStore();
  const api = createEventApi({
    dedup: createMemoryStore(),
    store,
    ...(originOf ? { originOf } : {}),
  });
  const stored = async (ids: string[]) =>
    Promise.all(ids.map(async (id) => (await store.get(id, "production")) as StoredEvent));
  return { api, store, stored };
}

const idsOf = (res: { body: unknown }) => JSON.parse(res.body as string).ids as string[];

describe("event source: stored by the server, never taken from the sender", () => {
  it("stores POST /e/ events as source api, whatever source fields their JSON carries", async () => {
    const { api, stored } = setup();
    const res = await api.handle(
      post([
        { name: "app/a", data: {}, source: "webhook", source_id: "wh_forged" },
        { name: "app/b", data: { source: "cron" }, source: "evt" },
      ]),
    );
    expect(res.status).toBe(200);
    const events = await stored(idsOf(res));
    expect(events.map((e) => [e.source, e.source_id])).toEqual([
      ["api", null],
      ["api", null],
    ]);
    // The sender's data is kept as sent: only the top-level fields are the server's.
    expect(events[1]!.data).toEqual({ source: "cron" });
  });

  it("stores what originOf decides from the request (an adapter telling its senders apart)", async () => {
    const { api, stored } = setup((req) =>
      req.headers["x-test-run"] === undefined
        ? { source: "api", sourceId: null }
        : { source: "function", sourceId: req.headers["x-test-run"]! },
    );
    const fromRun = await api.handle(post({ name: "app/a" }, { "x-test-run": "01RUN" }));
    const plain = await api.handle(post({ name: "app/b" }));
    const [a] = await stored(idsOf(fromRun));
    const [b] = await stored(idsOf(plain));
    expect([a!.source, a!.source_id]).toEqual(["function", "01RUN"]);
    expect([b!.source, b!.source_id]).toEqual(["api", null]);
  });

  it("answers 500 and stores nothing when originOf fails", async () => {
    const { api, store } = setup(() => {
      throw new Error("run store down");
    });
    const res = await api.handle(post({ name: "app/a" }));
    expect(res.status).toBe(500);
    expect((await store.list({ env: "production", limit: 10 })).events).toEqual([]);
  });

  it("send() stores the server's own events as evt, or as the source it is given", async () => {
    const { api, stored } = setup();
    const own = await api.send([{ name: "inngest/function.finished" }]);
    const hook = await api.send([{ name: "shop/paid" }], { source: "webhook", sourceId: "wh_1" });
    const tick = await api.send([{ name: "inngest/scheduled.timer" }], { source: "cron" });
    const all = await stored([...own, ...hook, ...tick]);
    expect(all.map((e) => [e.source, e.source_id])).toEqual([
      ["evt", null],
      ["webhook", "wh_1"],
      ["cron", null],
    ]);
  });

  it("send() refuses an unknown source with what is allowed, storing nothing", async () => {
    const { api, store } = setup();
    const error = await api
      .send([{ name: "app/a" }], { source: "admin" as EventOrigin["source"] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).message).toContain('options.source "admin"');
    expect((error as ServerError).message).toContain("api, webhook, function, cron, evt");
    const badId = await api
      .send([{ name: "app/a" }], { source: "webhook", sourceId: 5 as unknown as string })
      .catch((e: unknown) => e);
    expect((badId as ServerError).message).toContain("options.sourceId");
    expect((await store.list({ env: "production", limit: 10 })).events).toEqual([]);
  });
});

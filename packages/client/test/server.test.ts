// End to end against the real Event API of this repository (memory stores), not a stand-in.
import { EventClient, EventSendError } from "@evt/client";
import { createMemoryStore } from "@evt/dedup";
import type { StoredEvent } from "@evt/schema";
import { createEventApi } from "@evt/server";
import { type Listener, listen } from "@evt/server/node";
import { createMemoryEventStore } from "@evt/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let gw: Listener;
let api: ReturnType<typeof createEventApi>;

beforeAll(async () => {
  api = createEventApi({
    dedup: createMemoryStore(),
    store: createMemoryEventStore(),
    eventKeys: ["secret-key"],
  });
  gw = await listen(api, { port: 0 });
});
afterAll(async () => {
  await gw.close();
  await api.close();
});

async function stored(id: string, env = "production"): Promise<StoredEvent> {
  const res = await fetch(`${gw.url}/v1/events/${id}?env=${env}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: StoredEvent }).data;
}

describe("against @evt/server", () => {
  it("sends events and the gateway stores them with the client's ts", async () => {
    const evt = new EventClient({ baseUrl: gw.url, eventKey: "secret-key" });
    const before = Date.now();
    const { ids } = await evt.send([
      { name: "app/user.signup", data: { userId: "u1" } },
      { name: "app/user.signup", data: { userId: "u2" }, ts: 1_700_000_000_000, v: "1" },
    ]);
    expect(ids).toHaveLength(2);
    const [a, b] = [await stored(ids[0]!), await stored(ids[1]!)];
    expect(a).toMatchObject({
      name: "app/user.signup",
      data: { userId: "u1" },
      internal_id: ids[0],
    });
    expect(a.ts).toBeGreaterThanOrEqual(before);
    expect(a.ts).toBeLessThanOrEqual(a.received_at);
    expect(b).toMatchObject({ ts: 1_700_000_000_000, v: "1" });
  });

  it("a retry after a lost answer gets the same ids and stores nothing twice", async () => {
    let calls = 0;
    // Delivers the first request to the gateway, then loses its answer.
    const lossyFetch: typeof fetch = async (input, init) => {
      calls++;
      const res = await fetch(input, init);
      if (calls === 1) {
        await res.text();
        throw new TypeError("fetch failed: connection reset after the request was sent");
      }
      return res;
    };
    const evt = new EventClient({
      baseUrl: gw.url,
      eventKey: "secret-key",
      env: "retry-test",
      fetch: lossyFetch,
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
    });
    const { ids } = await evt.send([{ name: "app/a" }, { name: "app/b" }, { name: "app/c" }]);
    expect(calls).toBe(2);
    const list = await fetch(`${gw.url}/v1/events?env=retry-test&limit=100`);
    const page = (await list.json()) as { data: StoredEvent[] };
    expect(page.data).toHaveLength(3);
    expect(page.data.map((e) => e.internal_id).sort()).toEqual([...ids].sort());
  });

  it("splits a large send into requests the gateway accepts", async () => {
    const evt = new EventClient({ baseUrl: gw.url, eventKey: "secret-key", env: "chunks" });
    const events = Array.from({ length: 6_000 }, (_, i) => ({ name: "app/bulk", data: { i } }));
    const { ids } = await evt.send(events);
    expect(new Set(ids).size).toBe(6_000);
    expect((await stored(ids[5_999]!, "chunks")).data).toEqual({ i: 5_999 });
  });

  it("a batcher drains into the gateway on close", async () => {
    const evt = new EventClient({ baseUrl: gw.url, eventKey: "secret-key" });
    const b = evt.batcher({ maxEvents: 100, flushIntervalMs: 60_000 });
    const adds = Array.from({ length: 1_000 }, (_, i) =>
      b.add({ name: "app/batched", data: { i } }),
    );
    await b.close();
    const ids = await Promise.all(adds);
    expect((await stored(ids[999]!)).data).toEqual({ i: 999 });
  });

  it("an unknown event key is one attempt with the gateway's message", async () => {
    const evt = new EventClient({ baseUrl: gw.url, eventKey: "wrong" });
    const err = (await evt.send({ name: "app/x" }).catch((e: unknown) => e)) as EventSendError;
    expect(err).toBeInstanceOf(EventSendError);
    expect(err).toMatchObject({ status: 401, retryable: false, attempts: 1 });
    expect(err.serverMessage).toMatch(/event key/i);
  });
});

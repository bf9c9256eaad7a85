import { createMemoryStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { createMemoryEventStore } from "@evt/store";
import { describe, expect, it } from "vitest";

function post(api: ReturnType<typeof createEventApi>, text: string) {
  return api.handle({
    method: "POST",
    url: "/e/k",
    headers: { "content-type": "application/json" },
    body: new TextEncoder().encode(text),
  });
}

describe("numbers JSON.parse would change", () => {
  it("refuses the request with 400 naming the path, and stores nothing of it", async () => {
    const store = createMemoryEventStore();
    const api = createEventApi({ dedup: createMemoryStore(), store });
    const res = await post(
      api,
      '[{"name":"ok.first"},{"name":"pay","data":{"amount":12345678901234567891}}]',
    );
    expect(res.status).toBe(400);
    const body = JSON.parse(res.body as string) as { error: string };
    expect(body.error).toContain("events[1].data.amount: the number 12345678901234567891");
    expect(body.error).toContain("send it as a string");
    expect((await store.list({ env: "production", limit: 10 })).events).toHaveLength(0);
  });

  it("keeps safe integers and ordinary fractions exactly", async () => {
    const store = createMemoryEventStore();
    const api = createEventApi({ dedup: createMemoryStore(), store });
    const res = await post(
      api,
      '{"name":"pay","data":{"max":9007199254740991,"f":0.1,"big":1e300}}',
    );
    expect(res.status).toBe(200);
    const [stored] = (await store.list({ env: "production", limit: 10 })).events;
    expect(stored?.data).toEqual({ max: 9007199254740991, f: 0.1, big: 1e300 });
  });
});

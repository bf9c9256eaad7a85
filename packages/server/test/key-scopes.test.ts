import { createMemoryStore } from "@evt/dedup";
import { createEventIdSeed } from "@evt/schema";
import { createEventApi, type EventApiOptions, ServerError } from "@evt/server";
import { createMemoryEventStore } from "@evt/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisPostgres, type Stores, sqlite } from "./support/drivers.js";
import { get, send } from "./support/http.js";

const PUBLIC = "pk-browser-storefront";
const PRIVATE = "sk-backend-orders";
const OTHER = "sk-backend-billing";

function make(eventKeys: EventApiOptions["eventKeys"]) {
  return createEventApi({
    dedup: createMemoryStore(),
    store: createMemoryEventStore(),
    eventKeys,
  });
}

async function stored(api: ReturnType<typeof make>, env = "production") {
  const res = await get(api, `/v1/events?env=${env}`);
  expect(res.status).toBe(200);
  return res.json.data as { internal_id: string; id: string | null; name: string }[];
}

describe("event key scopes: environments", () => {
  const api = () =>
    make([{ key: PUBLIC, envs: ["production", "preview/pr-1"] }, PRIVATE, { key: OTHER }]);

  it("lets a key write to its environments (production when no header is sent)", async () => {
    const a = api();
    expect((await send(a, { name: "a" }, { key: PUBLIC })).status).toBe(200);
    expect((await send(a, { name: "a" }, { key: PUBLIC, env: "preview/pr-1" })).status).toBe(200);
  });

  it("answers 403 for another environment, stores nothing and says what is allowed", async () => {
    const a = api();
    const res = await send(a, { name: "a" }, { key: PUBLIC, env: "staging" });
    expect(res.status).toBe(403);
    expect(res.json.error).toContain('environment "staging"');
    expect(res.json.error).toContain('"production", "preview/pr-1"');
    expect(res.json.error).not.toContain(PUBLIC);
    expect(res.headers["access-control-allow-origin"]).toBe("*");
    expect(await stored(a, "staging")).toEqual([]);
    // The x-evt-env header is scoped the same way.
    const evt = await send(a, { name: "a" }, { key: PUBLIC, headers: { "x-evt-env": "dev" } });
    expect(evt.status).toBe(403);
  });

  it("refuses the environment before looking at the body", async () => {
    const res = await send(api(), "{not json", { key: PUBLIC, env: "staging", raw: true });
    expect(res.status).toBe(403);
  });

  it("refuses the environment from the headers alone, before the body size is looked at", async () => {
    const a = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      eventKeys: [{ key: PUBLIC, envs: ["production"] }],
      maxRequestBytes: 1024,
    });
    const res = await a.handle({
      method: "POST",
      url: `/e/${PUBLIC}`,
      headers: { "x-inngest-env": "staging", "content-length": "999999" },
      body: null,
    });
    expect(res.status).toBe(403);
    // Within its scope the same request is refused for its size, as before.
    const big = await a.handle({
      method: "POST",
      url: `/e/${PUBLIC}`,
      headers: { "content-length": "999999" },
      body: null,
    });
    expect(big.status).toBe(413);
  });

  it("leaves plain keys and keys without envs unscoped", async () => {
    const a = api();
    expect((await send(a, { name: "a" }, { key: PRIVATE, env: "staging" })).status).toBe(200);
    expect((await send(a, { name: "a" }, { key: OTHER, env: "staging" })).status).toBe(200);
  });
});

describe("event key scopes: event names", () => {
  const api = () => make([{ key: PUBLIC, names: ["shop/*", "app/user.signup"] }, PRIVATE]);

  it("accepts names that match a pattern", async () => {
    const a = api();
    const res = await send(a, [{ name: "shop/cart.viewed" }, { name: "app/user.signup" }], {
      key: PUBLIC,
    });
    expect(res.status).toBe(200);
    expect((await stored(a)).length).toBe(2);
  });

  it("refuses the whole request when one name is outside the patterns", async () => {
    const a = api();
    const res = await send(
      a,
      [{ name: "shop/cart.viewed" }, { name: "billing/invoice.paid" }, { name: "shop/x" }],
      { key: PUBLIC },
    );
    expect(res.status).toBe(403);
    expect(res.json.error).toContain("index 1");
    expect(res.json.error).toContain('"billing/invoice.paid"');
    expect(res.json.error).toContain('"shop/*", "app/user.signup"');
    expect(res.json.ids).toEqual([]);
    expect(await stored(a)).toEqual([]);
    // `shop/*` matches by prefix only: `shopping/x` and `app/user.signup.extra` are outside.
    expect((await send(a, { name: "shopping/x" }, { key: PUBLIC })).status).toBe(403);
    expect((await send(a, { name: "app/user.signupx" }, { key: PUBLIC })).status).toBe(403);
  });

  it("quotes a hostile name in the refusal, escaped and shortened", async () => {
    const a = api();
    const hostile = `"}\n<script>${"x".repeat(240)}`;
    const res = await send(a, { name: hostile }, { key: PUBLIC });
    expect(res.status).toBe(403);
    expect(res.json.error).toContain('index 0 has name "\\"}\\n<script>');
    expect(res.json.error).toContain('..."');
    expect(res.json.error.length).toBeLessThan(300);
    expect(res.json.error).not.toContain("\n");
  });

  it("leaves a plain key free to send any name", async () => {
    const a = api();
    expect((await send(a, { name: "billing/invoice.paid" }, { key: PRIVATE })).status).toBe(200);
  });
});

describe("event key scopes: dedup namespaces", () => {
  it("keeps a namespaced key's ids apart: public sends X, then private sends X, both stored", async () => {
    const a = make([{ key: PUBLIC, dedupNamespace: "key:storefront" }, PRIVATE]);
    const pub = await send(a, { name: "shop/order", id: "order-1" }, { key: PUBLIC });
    const priv = await send(a, { name: "shop/order", id: "order-1" }, { key: PRIVATE });
    expect(pub.status).toBe(200);
    expect(priv.status).toBe(200);
    expect(priv.json.ids[0]).not.toBe(pub.json.ids[0]);
    const rows = await stored(a);
    expect(rows.map((r) => r.internal_id).sort()).toEqual(
      [pub.json.ids[0], priv.json.ids[0]].sort(),
    );
  });

  it("does not let a namespaced key probe the shared namespace (private first)", async () => {
    const a = make([{ key: PUBLIC, dedupNamespace: "key:storefront" }, PRIVATE]);
    const priv = await send(a, { name: "shop/order", id: "order-2" }, { key: PRIVATE });
    const pub = await send(a, { name: "shop/order", id: "order-2" }, { key: PUBLIC });
    expect(pub.json.ids[0]).not.toBe(priv.json.ids[0]);
    expect((await stored(a)).length).toBe(2);
  });

  it("still deduplicates a namespaced key against itself and keys of its namespace", async () => {
    const a = make([
      { key: PUBLIC, dedupNamespace: "storefront" },
      { key: OTHER, dedupNamespace: "storefront" },
    ]);
    const first = await send(a, { name: "shop/order", id: "o" }, { key: PUBLIC });
    const again = await send(a, { name: "shop/order", id: "o" }, { key: PUBLIC });
    const sibling = await send(a, { name: "shop/order", id: "o" }, { key: OTHER });
    expect(again.json.ids).toEqual(first.json.ids);
    expect(sibling.json.ids).toEqual(first.json.ids);
    expect((await stored(a)).length).toBe(1);
  });

  it("shares one namespace between keys without one, as before", async () => {
    const a = make([PRIVATE, { key: OTHER, envs: ["production"] }]);
    const first = await send(a, { name: "shop/order", id: "shared-1" }, { key: PRIVATE });
    const second = await send(a, { name: "shop/order", id: "shared-1" }, { key: OTHER });
    expect(second.status).toBe(200);
    expect(second.json.ids).toEqual(first.json.ids);
    expect((await stored(a)).length).toBe(1);
  });

  it("gives a namespaced key other ids for the same retry seed, and the same ids on its retry", async () => {
    const a = make([{ key: PUBLIC, dedupNamespace: "key:storefront" }, PRIVATE]);
    const seed = createEventIdSeed();
    const pub = await send(a, [{ name: "a" }, { name: "b" }], { key: PUBLIC, seed });
    const priv = await send(a, [{ name: "a" }, { name: "b" }], { key: PRIVATE, seed });
    const retry = await send(a, [{ name: "a" }, { name: "b" }], { key: PUBLIC, seed });
    expect(retry.json.ids).toEqual(pub.json.ids);
    expect(priv.json.ids.filter((id: string) => pub.json.ids.includes(id))).toEqual([]);
    expect((await stored(a)).length).toBe(4);
  });
});

describe("event key scopes: options", () => {
  const base = { dedup: createMemoryStore(), store: createMemoryEventStore() };
  const secret = "very-secret-key-123";
  const failure = (eventKeys: unknown): string => {
    try {
      createEventApi({ ...base, eventKeys: eventKeys as EventApiOptions["eventKeys"] });
    } catch (err) {
      expect(err).toBeInstanceOf(ServerError);
      expect((err as ServerError).code).toBe("invalid_options");
      const message = (err as Error).message;
      expect(message).not.toContain(secret);
      return message;
    }
    throw new Error("expected createEventApi to throw");
  };

  it("names the entry and field of a bad pattern and says where wildcards go", () => {
    const message = failure(["k0", { key: secret, names: ["shop/*", "shop*"] }]);
    expect(message).toContain('options.eventKeys[1].names[1] "shop*"');
    expect(message).toContain('may only end a pattern, right after "/" or "."');
  });

  it("refuses bad envs, namespaces, unknown fields, empty lists and repeated keys", () => {
    expect(failure([{ key: secret, envs: ["prod uction"] }])).toContain(
      'options.eventKeys[0].envs[0] "prod uction" contains " " at position 4',
    );
    expect(failure([{ key: secret, envs: [] }])).toContain(
      "options.eventKeys[0].envs must be a non-empty array",
    );
    expect(failure([{ key: secret, names: "shop/*" }])).toContain(
      "options.eventKeys[0].names must be a non-empty array",
    );
    expect(failure([{ key: secret, dedupNamespace: "" }])).toContain(
      "options.eventKeys[0].dedupNamespace must be 1..64 printable ASCII",
    );
    expect(failure([{ key: secret, env: ["x"] }])).toContain('unknown field "env"');
    expect(failure([{ key: "" }])).toContain("options.eventKeys[0].key must be a non-empty");
    expect(failure([secret, { key: secret, envs: ["x"] }])).toContain(
      "options.eventKeys[1] repeats the key of options.eventKeys[0]",
    );
    expect(failure("k1,k2")).toContain("options.eventKeys must be an array");
  });
});

for (const combo of [sqlite, redisPostgres]) {
  describe(`event key scopes: dedup namespaces on ${combo.name}`, () => {
    let stores: Stores;
    beforeAll(async () => {
      stores = await combo.create("keyscopes");
    });
    afterAll(async () => {
      await stores?.close();
    });

    it("stores both when a namespaced key and a shared key send the same id and seed", async () => {
      const a = createEventApi({
        dedup: stores.dedup,
        store: stores.store,
        eventKeys: [{ key: PUBLIC, dedupNamespace: "key:storefront" }, PRIVATE, OTHER],
      });
      const event = { name: "shop/order", id: "order-db-1" };
      const pub = await send(a, event, { key: PUBLIC });
      const priv = await send(a, event, { key: PRIVATE });
      const other = await send(a, event, { key: OTHER });
      expect(priv.json.ids[0]).not.toBe(pub.json.ids[0]);
      expect(other.json.ids).toEqual(priv.json.ids);
      const seed = createEventIdSeed();
      const pubSeeded = await send(a, { name: "shop/seeded" }, { key: PUBLIC, seed });
      const privSeeded = await send(a, { name: "shop/seeded" }, { key: PRIVATE, seed });
      expect(privSeeded.json.ids[0]).not.toBe(pubSeeded.json.ids[0]);
      const ids = [pub, priv, pubSeeded, privSeeded].map((r) => r.json.ids[0] as string);
      expect((await stores.store.has(ids, "production")).size).toBe(4);
    });
  });
}

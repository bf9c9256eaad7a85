import { type EventBatcher, EventClient } from "@evt/client";
import { defineEvents, type EventPayload } from "@evt/schema";
import { describe, expectTypeOf, it } from "vitest";
import * as z from "zod";

const catalog = defineEvents({
  "app/user.signup": z.object({ userId: z.string(), plan: z.enum(["free", "pro"]).optional() }),
  "app/page.viewed": z.object({ path: z.string().optional() }),
});

describe("EventClient without a catalog", () => {
  const evt = new EventClient({ baseUrl: "http://127.0.0.1:8288" });

  it("accepts any event payload, one or many", () => {
    expectTypeOf(evt.send).parameter(0).toEqualTypeOf<EventPayload | readonly EventPayload[]>();
    expectTypeOf(evt.send({ name: "anything", data: { x: 1 } })).resolves.toEqualTypeOf<{
      ids: string[];
    }>();
    expectTypeOf(evt.batcher()).toEqualTypeOf<EventBatcher<EventPayload>>();
  });

  it("still requires a name and an object for data", () => {
    // @ts-expect-error name is required
    void evt.send({ data: {} });
    // @ts-expect-error data must be an object
    void evt.send({ name: "a/b", data: "text" });
  });
});

describe("EventClient with a catalog", () => {
  const evt = new EventClient({ baseUrl: "http://127.0.0.1:8288", events: catalog });

  it("accepts the catalog's names with their data", () => {
    void evt.send({ name: "app/user.signup", data: { userId: "u1", plan: "pro" } });
    void evt.send([
      { name: "app/user.signup", data: { userId: "u1" } },
      { name: "app/page.viewed" },
    ]);
    void evt.batcher().add({ name: "app/page.viewed", data: { path: "/" } });
  });

  it("rejects unknown names and wrong data", () => {
    // @ts-expect-error not a name of the catalog
    void evt.send({ name: "app/unknown", data: {} });
    // @ts-expect-error userId must be a string
    void evt.send({ name: "app/user.signup", data: { userId: 1 } });
    // @ts-expect-error data is required when its schema has required keys
    void evt.send({ name: "app/user.signup" });
    // @ts-expect-error plan is "free" | "pro"
    void evt.batcher().add({ name: "app/user.signup", data: { userId: "u1", plan: "gold" } });
  });

  it("resolves add() with the id", () => {
    expectTypeOf(evt.batcher().add).returns.resolves.toEqualTypeOf<string>();
  });
});

import { defineEvents, EvtSchemaError, parseEvent, parseEvents } from "@evt/schema";
import { describe, expect, it } from "vitest";
import * as z from "zod";

const events = defineEvents({
  "app/user.signup": z.object({ userId: z.string(), plan: z.enum(["free", "pro"]).optional() }),
  "app/order.placed": z.object({
    total: z.number().min(0),
    items: z.array(z.object({ sku: z.string() })),
  }),
  "app/ping": z.object({}),
});

describe("defineEvents at runtime", () => {
  it("lists its names", () => {
    expect(events.names).toEqual(["app/user.signup", "app/order.placed", "app/ping"]);
    expect(events.has("app/ping")).toBe(true);
    expect(events.has("constructor")).toBe(false);
    expect(events.strict).toBe(false);
  });

  it("accepts conforming data and keeps it as sent", () => {
    const data = { userId: "u1", extra: "kept" };
    const result = parseEvents([{ name: "app/user.signup", data }, { name: "app/ping" }], {
      catalog: events,
    });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.events[0]!.data).toBe(data);
  });

  it("reports data issues with paths under events[i].data", () => {
    const result = parseEvents(
      [
        { name: "app/user.signup", data: { userId: "u1" } },
        { name: "app/user.signup", data: { userId: 42, plan: "gold" } },
        { name: "app/order.placed", data: { total: -1, items: [{ sku: "a" }, { sku: 7 }] } },
        { name: "app/user.signup" },
      ],
      { catalog: events },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byPath = Object.fromEntries(result.issues.map((i) => [i.path, i]));
    expect(Object.keys(byPath)).toEqual([
      "events[1].data.userId",
      "events[1].data.plan",
      "events[2].data.total",
      "events[2].data.items[1].sku",
      "events[3].data.userId",
    ]);
    expect(byPath["events[1].data.userId"]).toMatchObject({
      index: 1,
      allowed: "a value of type string",
    });
    expect(byPath["events[1].data.userId"]!.message).toMatch(/expected string, received number/);
    expect(byPath["events[1].data.plan"]!.allowed).toBe('one of "free", "pro"');
    expect(byPath["events[2].data.total"]!.allowed).toBe("number >= 0");
    expect(byPath["events[3].data.userId"]!.index).toBe(3);
  });

  it("checks the payload rules before the catalog", () => {
    const result = parseEvent({ name: "app/user.signup", data: [1] }, { catalog: events });
    expect(!result.ok && result.issues.map((i) => i.path)).toEqual(["events[0].data"]);
  });

  it("lets unknown names through unless strict", () => {
    expect(parseEvent({ name: "app/other" }, { catalog: events }).ok).toBe(true);
    const strict = defineEvents({ "app/a": z.object({}), "app/b": z.object({}) }, { strict: true });
    const result = parseEvent({ name: "app/other" }, { catalog: strict, index: 4 });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues[0]).toEqual({
        index: 4,
        path: "events[4].name",
        message: '"app/other" is not an event of the catalog',
        allowed: 'one of "app/a", "app/b"',
      });
    }
    expect(parseEvent({ name: "constructor" }, { catalog: strict }).ok).toBe(false);
  });

  it("turns a throwing schema into an issue", () => {
    const asyncCatalog = defineEvents({
      "app/a": z.object({ x: z.string() }).refine(async () => true),
    });
    const result = parseEvent({ name: "app/a", data: { x: "1" } }, { catalog: asyncCatalog });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]!.allowed).toMatch(/synchronous zod schema/);
  });

  it("refuses names that can never be sent and values that are not schemas", () => {
    const bad: [unknown, RegExp][] = [
      [{ "inngest/x": z.object({}) }, /"inngest\/x" can never be sent/],
      [{ "EVT/x": z.object({}) }, /"EVT\/x" can never be sent/],
      [{ "": z.object({}) }, /"" can never be sent/],
      [{ ["a".repeat(257)]: z.object({}) }, /can never be sent.*1\.\.256/],
      [{ "app/a": { userId: "string" } }, /"app\/a" is not a zod schema/],
      [null, /expected an object mapping event names/],
    ];
    for (const [schemas, message] of bad) {
      let caught: unknown;
      try {
        defineEvents(schemas as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(EvtSchemaError);
      expect((caught as EvtSchemaError).code).toBe("invalid_catalog");
      expect((caught as EvtSchemaError).message).toMatch(message);
    }
  });
});

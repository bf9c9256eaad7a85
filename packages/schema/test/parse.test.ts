import { readFileSync } from "node:fs";
import {
  EvtSchemaError,
  eventByteLength,
  eventPayloadJsonSchema,
  formatIssues,
  LIMITS,
  parseEvent,
  parseEvents,
} from "@evt/schema";
import { describe, expect, it } from "vitest";
import { eventSchemaFileText } from "../scripts/json-schema";
import { explainEvent, fastNormalize } from "../src/validate";

const receivedAt = Date.UTC(2025, 0, 1);

describe("parseEvents normalises", () => {
  it("fills data, user, id, ts and v and drops unknown fields", () => {
    const result = parseEvents({ name: "app/a", meta: { x: 1 }, sessions: [] }, { receivedAt });
    expect(result).toEqual({
      ok: true,
      events: [{ name: "app/a", data: {}, user: null, id: null, ts: receivedAt, v: null }],
    });
  });

  it("keeps the sender's fields and the data object itself", () => {
    const data = { userId: "u1" };
    const result = parseEvents(
      [{ name: "app/a", data, user: { e: 1 }, id: "dedup-1", ts: 1_700_000_000_000, v: "1" }],
      { receivedAt },
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.events[0]).toEqual({
      name: "app/a",
      data: { userId: "u1" },
      user: { e: 1 },
      id: "dedup-1",
      ts: 1_700_000_000_000,
      v: "1",
    });
    expect(result.events[0]!.data).toBe(data);
  });

  it("treats null and empty strings as absent", () => {
    const result = parseEvents(
      [
        { name: "a", data: null, user: null, id: null, ts: null, v: null },
        { name: "b", id: "", v: "" },
      ],
      { receivedAt },
    );
    expect(result.ok && result.events.map((e) => [e.data, e.user, e.id, e.ts, e.v])).toEqual([
      [{}, null, null, receivedAt, null],
      [{}, null, null, receivedAt, null],
    ]);
  });

  it("accepts an empty array as no events", () => {
    expect(parseEvents([])).toEqual({ ok: true, events: [] });
  });

  it("uses Date.now() when no receivedAt is given", () => {
    const before = Date.now();
    const result = parseEvents({ name: "a" });
    expect(result.ok && result.events[0]!.ts).toBeGreaterThanOrEqual(before);
  });

  it("accepts exactly 5000 events", () => {
    const body = Array.from({ length: 5000 }, (_, i) => ({ name: "a", id: String(i) }));
    const result = parseEvents(body, { receivedAt });
    expect(result.ok && result.events.length).toBe(5000);
  });

  it("applies overridden limits", () => {
    const limits = { nameMaxLength: 5, maxEventsPerRequest: 2, maxDepth: 2, tsMin: 0 };
    const tooLong = parseEvents([{ name: "abcdef" }], { limits });
    expect(!tooLong.ok && tooLong.issues[0]!.allowed).toMatch(/1\.\.5 characters/);
    const tooMany = parseEvents([{ name: "a" }, { name: "b" }, { name: "c" }], { limits });
    expect(!tooMany.ok && tooMany.issues[0]!.allowed).toBe("at most 2 events per request");
    const deep = parseEvents([{ name: "a", data: { a: { b: {} } } }], { limits });
    expect(!deep.ok && deep.issues[0]!.path).toBe("events[0].data.a.b");
    const early = parseEvents([{ name: "a", ts: 1000 }], { limits });
    expect(early.ok).toBe(true);
  });
});

describe("prototype keys in data", () => {
  // Decision: kept as plain own data properties (stored as sent); nothing is polluted.
  it("keeps __proto__ and constructor as own data properties and pollutes nothing", () => {
    const body = JSON.parse(
      '[{"name":"a","data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}},"user":{"__proto__":{"isAdmin":true}}}]',
    );
    const result = parseEvents(body, { receivedAt });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { data, user } = result.events[0]!;
    expect(Object.hasOwn(data, "__proto__")).toBe(true);
    expect(Object.hasOwn(data, "constructor")).toBe(true);
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.hasOwn(user!, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(JSON.stringify(data)).toBe(
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    );
  });
});

describe("event size", () => {
  it("eventByteLength counts UTF-8 bytes of the JSON", () => {
    const samples = [{ a: "é" }, "😀", "\u0001", "\ud800", { k: [1, 2.5, null, true] }, null, 12];
    for (const value of samples) {
      expect(eventByteLength(value)).toBe(Buffer.byteLength(JSON.stringify(value), "utf8"));
    }
    expect(eventByteLength(undefined)).toBe(0);
  });

  // Each character kind takes a different number of JSON bytes: 1, 2, 4 (pair), 6 (escaped).
  const kinds = ["x", "é", "😀", "\u0001", "\u001f", '"', "\n"];
  const maxEventBytes = 1000;
  for (const kind of kinds) {
    it(`is checked exactly at the limit with ${JSON.stringify(kind)} characters`, () => {
      const base = { name: "a", data: { s: "" }, id: null, ts: receivedAt };
      const overhead = eventByteLength({ ...base, user: null, v: null });
      const per = eventByteLength(kind) - 2;
      for (let extra = -2; extra <= 2; extra++) {
        const padding = Math.max(0, Math.floor((maxEventBytes - overhead) / per) + extra);
        const raw = { name: "a", data: { s: kind.repeat(padding) }, ts: receivedAt };
        const normalized = {
          name: "a",
          data: raw.data,
          user: null,
          id: null,
          ts: receivedAt,
          v: null,
        };
        const fits = eventByteLength(normalized) <= maxEventBytes;
        const limits = { ...LIMITS, maxEventBytes };
        expect(fastNormalize(raw, receivedAt, limits) !== undefined).toBe(fits);
        expect(explainEvent(raw, 0, receivedAt, limits).event !== undefined).toBe(fits);
        const result = parseEvent(raw, { receivedAt, limits: { maxEventBytes } });
        expect(result.ok).toBe(fits);
        if (!result.ok) expect(result.issues[0]!.path).toBe("events[0]");
      }
    });
  }
});

describe("parseEvent", () => {
  it("uses the given index in paths", () => {
    const result = parseEvent({ name: "a", ts: 1_700_000_000 }, { index: 7 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]).toMatchObject({ index: 7, path: "events[7].ts" });
  });

  it("returns the normalised event", () => {
    expect(parseEvent({ name: "a" }, { receivedAt })).toEqual({
      ok: true,
      event: { name: "a", data: {}, user: null, id: null, ts: receivedAt, v: null },
    });
  });
});

describe("formatIssues", () => {
  it("writes one line with paths, messages and what is allowed", () => {
    const result = parseEvents([{ name: "a", ts: 1_700_000_000 }, { name: "b" }, { name: "" }]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(formatIssues(result.issues)).toBe(
      '2 invalid events: events[0].ts: expected an integer number of milliseconds since epoch, got 1700000000 (seconds?) (allowed: integer ms since epoch in [1980-01-01, 2100-01-01), null or absent (the receive time)); events[2].name: must not be empty (allowed: a string of 1..256 characters, not starting with "inngest/" or "evt/" (any case))',
    );
  });

  it("cuts the list at max and says how many more", () => {
    const result = parseEvents(Array.from({ length: 15 }, () => ({ name: "" })));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const line = formatIssues(result.issues, 3);
    expect(line.startsWith("15 invalid events: events[0].name")).toBe(true);
    expect(line.endsWith("; and 12 more")).toBe(true);
    expect(line.split("must not be empty").length - 1).toBe(3);
  });

  it("names whole-request problems", () => {
    const result = parseEvents("nope");
    expect(!result.ok && formatIssues(result.issues)).toMatch(/^invalid request: events: expected/);
  });
});

describe("EvtSchemaError", () => {
  it("carries code, issues and cause with a prefixed message", () => {
    const cause = new Error("root");
    const issues = [
      { index: 0, path: "events[0].name", message: "must not be empty", allowed: "x" },
    ];
    const error = new EvtSchemaError("invalid_event", formatIssues(issues), { issues, cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("EvtSchemaError");
    expect(error.code).toBe("invalid_event");
    expect(error.issues).toBe(issues);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      "[evt/schema] 1 invalid event: events[0].name: must not be empty (allowed: x)",
    );
  });
});

describe("JSON Schema", () => {
  it("ships event.schema.json equal to what the zod schema generates", () => {
    const shipped = readFileSync(new URL("../event.schema.json", import.meta.url), "utf8");
    expect(shipped).toBe(eventSchemaFileText());
    expect(JSON.parse(shipped)).toEqual(eventPayloadJsonSchema);
  });

  it("states the rules senders need", () => {
    const schema = eventPayloadJsonSchema as {
      required: string[];
      properties: Record<
        string,
        { anyOf?: { minimum?: number; exclusiveMaximum?: number }[]; maxLength?: number }
      >;
    };
    expect(schema.required).toEqual(["name"]);
    expect(schema.properties.name!.maxLength).toBe(256);
    expect(schema.properties.ts!.anyOf![0]).toMatchObject({
      type: "integer",
      minimum: LIMITS.tsMin,
      exclusiveMaximum: LIMITS.tsMax,
    });
    const pattern = new RegExp((schema.properties.name as { pattern: string }).pattern);
    expect(pattern.test("app/x")).toBe(true);
    expect(pattern.test("InNgEsT/x")).toBe(false);
    expect(pattern.test("EVT/x")).toBe(false);
  });
});

describe("limits", () => {
  it("reports a nonsensical override instead of throwing", () => {
    const result = parseEvents([{ name: "a" }], { limits: { maxDepth: Number.NaN } });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues[0]).toMatchObject({ index: -1, path: "events" });
      expect(result.issues[0]!.message).toMatch(
        /limits\.maxDepth is NaN \(allowed: a number >= 0\)/,
      );
    }
  });

  it("is frozen", () => {
    expect(Object.isFrozen(LIMITS)).toBe(true);
    expect(LIMITS).toEqual({
      nameMaxLength: 256,
      idMaxLength: 256,
      versionMaxLength: 128,
      tsMin: Date.UTC(1980, 0, 1),
      tsMax: Date.UTC(2100, 0, 1),
      maxEventsPerRequest: 5000,
      maxEventBytes: 524288,
      maxDepth: 64,
    });
  });
});

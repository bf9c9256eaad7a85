import { LIMITS, parseEvents } from "@evt/schema";
import { describe, expect, it } from "vitest";
import { explainEvent, fastNormalize } from "../src/validate";
import { badCases as cases, receivedAt, validCases as valid } from "./cases";

describe("bad input gets a precise issue", () => {
  it("has at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)("$label", ({ body, index, path, message, allowed }) => {
    const result = parseEvents(body, { receivedAt });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const issue = result.issues.find((i) => i.path === path);
    expect(issue, `issues: ${JSON.stringify(result.issues).slice(0, 500)}`).toBeDefined();
    expect(issue!.index).toBe(index);
    expect(issue!.message).toMatch(message);
    expect(issue!.allowed).toMatch(allowed);
    // Messages stay readable whatever the input size.
    for (const i of result.issues) expect(i.message.length).toBeLessThan(300);
  });
});

describe("fast path and zod path agree", () => {
  const eventCases = cases.filter((c) => Array.isArray(c.body) && c.index >= 0);

  it.each(eventCases)("rejects: $label", ({ body, index }) => {
    const raw = (body as unknown[])[index];
    expect(fastNormalize(raw, receivedAt, LIMITS)).toBeUndefined();
    const slow = explainEvent(raw, index, receivedAt, LIMITS);
    expect(slow.event).toBeUndefined();
    expect(slow.issues.length).toBeGreaterThan(0);
  });

  it.each(valid)("accepts: %s", (_label, raw) => {
    const fast = fastNormalize(raw, receivedAt, LIMITS);
    const slow = explainEvent(raw, 0, receivedAt, LIMITS);
    expect(slow.issues).toEqual([]);
    expect(fast).toBeDefined();
    expect(fast).toEqual(slow.event);
  });
});

describe("whole requests", () => {
  it("reports every bad event, not only the first", () => {
    const result = parseEvents(
      [{ name: "ok" }, { name: "" }, { name: "ok", ts: 1 }, { name: "ok" }, { name: 1, data: [] }],
      { receivedAt },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path)).toEqual([
      "events[1].name",
      "events[2].ts",
      "events[4].name",
      "events[4].data",
    ]);
  });

  it("never throws, even on hostile objects", () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("boom");
        },
      },
    );
    const getter = Object.defineProperty({}, "name", {
      enumerable: true,
      get() {
        throw new Error("getter exploded");
      },
    });
    const keysThrow = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("boom");
        },
      },
    );
    for (const body of [[hostile], hostile, [getter], [{ name: "a", data: keysThrow }]]) {
      const result = parseEvents(body, { receivedAt });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.issues[0]!.message).toMatch(/boom|getter exploded|could not/);
    }
  });

  it("handles cycles and shared references without hanging", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cyc = parseEvents([{ name: "a", data: cyclic }], { receivedAt });
    expect(cyc.ok).toBe(false);
    if (!cyc.ok) expect(cyc.issues[0]!.message).toMatch(/nested deeper than 64 levels/);

    // 2^60 paths through 60 shared levels: the walks must stop on their budgets.
    let shared: unknown = { leaf: 1 };
    for (let i = 0; i < 60; i++) shared = { l: shared, r: shared };
    const dag = parseEvents([{ name: "a", data: shared as object }], { receivedAt });
    expect(dag.ok).toBe(false);
    if (!dag.ok) expect(dag.issues[0]!.path).toBe("events[0].data");
  });
});

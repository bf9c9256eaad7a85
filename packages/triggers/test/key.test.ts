import { compileFilter, compileKey, TriggerError } from "@evt/triggers";
import { describe, expect, it } from "vitest";

describe("compileKey: a CEL key expression (idempotency, concurrency keys)", () => {
  const event = {
    name: "a/b",
    data: { userId: "u1", n: 3, ok: true, tags: ["x", "y"], a: "x", b: "y" },
  };

  it("gives strings as they are, numbers and bools as text, lists and maps as JSON, a missing field as null", () => {
    expect(compileKey("event.data.userId").evaluate(event)).toEqual({ ok: true, key: "u1" });
    expect(compileKey("event.data.n").evaluate(event)).toEqual({ ok: true, key: "3" });
    expect(compileKey("event.data.ok").evaluate(event)).toEqual({ ok: true, key: "true" });
    expect(compileKey("event.data.tags").evaluate(event)).toEqual({ ok: true, key: '["x","y"]' });
    expect(compileKey("event.data.missing").evaluate(event)).toEqual({ ok: true, key: null });
    expect(compileKey('event.data.a + "-" + event.data.b').evaluate(event)).toEqual({
      ok: true,
      key: "x-y",
    });
  });

  it("reports a run-time error instead of throwing, and refuses what does not compile with the reason", () => {
    const result = compileKey("event.data.n + 1").evaluate(event);
    expect(result.ok).toBe(false);
    expect(() => compileKey("event.data.")).toThrow(TriggerError);
    expect(() => compileKey(42 as never)).toThrow(/must be a string/);
  });

  it("does not share a program with a bool filter of the same shape (a key is not checked for bool)", () => {
    // The key's program is cached first; the filter of the same text must still be checked.
    expect(compileKey('event.data.a + "-"').evaluate(event)).toEqual({ ok: true, key: "x-" });
    expect(() => compileFilter('event.data.a + "-"')).toThrow(/must evaluate to a bool/);
  });
});

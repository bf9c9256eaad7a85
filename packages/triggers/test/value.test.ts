import { compileFilter, compileKey, compileValue, TriggerError } from "@evt/triggers";
import { describe, expect, it } from "vitest";

const VARS = ["body", "headers", "query"] as const;
const input = {
  body: { type: "user.created", data: { id: "u1", n: 3, tags: ["a"] }, list: [1, 2] },
  headers: { "svix-id": "msg_1" },
  query: { source: "test" },
};

describe("compileValue: CEL value expressions over named variables (webhook transforms)", () => {
  it("computes strings, maps, lists and numbers as JSON from the variables", () => {
    expect(compileValue('"clerk/" + body.type', VARS).evaluate(input)).toEqual({
      ok: true,
      value: "clerk/user.created",
    });
    expect(compileValue("body.data", VARS).evaluate(input)).toEqual({
      ok: true,
      value: { id: "u1", n: 3, tags: ["a"] },
    });
    expect(compileValue('headers["svix-id"]', VARS).evaluate(input)).toEqual({
      ok: true,
      value: "msg_1",
    });
    expect(
      compileValue("{'src': query.source, 'n': int(body.data.n) + 1}", VARS).evaluate(input),
    ).toEqual({
      ok: true,
      value: { src: "test", n: 4 },
    });
  });

  it("reads a missing field as null, like trigger expressions", () => {
    expect(compileValue("body.nope.deeper", VARS).evaluate(input)).toEqual({
      ok: true,
      value: null,
    });
  });

  it("reports run-time errors with the reason on one line, never throwing", () => {
    const zero = compileValue("1 / 0", VARS).evaluate(input);
    expect(zero.ok).toBe(false);
    if (!zero.ok) expect(zero.error.message).toBe("division by zero");
    const inf = compileValue("body.data.n / 0.0", VARS).evaluate(input);
    expect(inf.ok).toBe(false);
    if (!inf.ok) expect(inf.error.message).toMatch(/Infinity, which JSON cannot hold/);
    const big = compileValue("9223372036854775807", VARS).evaluate(input);
    expect(big.ok).toBe(false);
    const bytes = compileValue('b"abc"', VARS).evaluate(input);
    expect(bytes.ok).toBe(false);
  });

  it("refuses variables it was not given and text that does not compile", () => {
    expect(() => compileValue("event.data", VARS)).toThrow(/Unknown variable: event/);
    expect(() => compileValue("body.", VARS)).toThrow(TriggerError);
    expect(() => compileValue(7 as never, VARS)).toThrow(/must be a string/);
  });

  it("keeps trigger expressions apart: event and async still compile there, not body", () => {
    compileValue("body.type", VARS);
    expect(compileKey("event.data.id").evaluate({ data: { id: "x" } })).toEqual({
      ok: true,
      key: "x",
    });
    expect(() => compileFilter("body.type == 'a'")).toThrow(/Unknown variable: body/);
  });
});

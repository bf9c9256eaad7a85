import { describe, expect, it } from "vitest";
import {
  createTriggerIndex,
  interpolateWaitExpression,
  TriggerError,
  waitMatchExpression,
} from "../src/index";

describe("wait expressions", () => {
  it("puts the run's event in as literals and keeps async", () => {
    const ev = { name: "a/b", data: { id: "u1", n: 3, nested: { ok: true }, list: [1, "x"] } };
    expect(interpolateWaitExpression("async.data.id == event.data.id", ev)).toBe(
      'async.data.id == "u1"',
    );
    expect(interpolateWaitExpression("async.data.n > event.data.n && async.data.ok", ev)).toBe(
      "async.data.n > 3.0 && async.data.ok",
    );
    expect(interpolateWaitExpression("event.data.missing == async.data.x", ev)).toBe(
      "null == async.data.x",
    );
    expect(interpolateWaitExpression('async.data["k"] in event.data.list', ev)).toBe(
      'async.data["k"] in [1.0, "x"]',
    );
    expect(interpolateWaitExpression("async.data.o == event.data.nested", ev)).toBe(
      'async.data.o == {"ok": true}',
    );
  });

  it("refuses what does not parse, clearly", () => {
    expect(() => interpolateWaitExpression("async.data.id ==", {})).toThrow(TriggerError);
    expect(() => interpolateWaitExpression("async.data.id ==", {})).toThrow(/does not compile/);
    expect(() => interpolateWaitExpression("", {})).toThrow(/non-empty/);
    expect(() =>
      interpolateWaitExpression("async.data == event.data", { data: { big: "x".repeat(20_000) } }),
    ).toThrow(/once the run's event is put in; at most 16384/);
  });

  it("gives an index expression looked up by value", () => {
    const expr = waitMatchExpression(
      interpolateWaitExpression("async.data.id == event.data.id", { data: { id: "u7" } }),
    );
    expect(expr).toBe('event.data.id == "u7"');
    const index = createTriggerIndex([
      { id: "w1", triggers: [{ event: "app/paid", expression: expr }] },
      { id: "w2", triggers: [{ event: "app/paid", expression: 'event.data.id == "u8"' }] },
    ]);
    expect(index.stats().exactExpressions).toBe(2);
    expect(index.match({ name: "app/paid", data: { id: "u7" } }).map((m) => m.functionId)).toEqual([
      "w1",
    ]);
    expect(index.stats().evaluations).toBe(0);
    expect(() => waitMatchExpression("async.x == event.y")).toThrow(/still reads/);
  });
});

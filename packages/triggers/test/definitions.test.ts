import { describe, expect, it } from "vitest";
import { createTriggerIndex, type FunctionDefinition, TriggerError } from "../src/index";

function thrown(fn: () => unknown): TriggerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TriggerError);
    return err as TriggerError;
  }
  throw new Error("expected a TriggerError");
}

const eleven = Array.from({ length: 11 }, (_, i) => ({ event: `e${i}` }));

describe("definitions", () => {
  const bad: [string, unknown, { path: string; message: RegExp }[]][] = [
    ["not an array", { id: "f" }, [{ path: "functions", message: /must be an array/ }]],
    [
      "a function that is not an object",
      [42],
      [{ path: "functions[0]", message: /must be an object like \{ id, triggers/ }],
    ],
    [
      "no id",
      [{ triggers: [{ event: "a" }] }],
      [{ path: "functions[0].id", message: /must be a string/ }],
    ],
    [
      "an empty id",
      [{ id: "", triggers: [{ event: "a" }] }],
      [{ path: "functions[0].id", message: /must not be empty/ }],
    ],
    [
      "no triggers",
      [{ id: "f", triggers: [] }],
      [{ path: "functions[0].triggers", message: /at least one trigger/ }],
    ],
    [
      "11 triggers",
      [{ id: "f", triggers: eleven }],
      [
        {
          path: "functions[0].triggers",
          message: /more than 10 triggers; a function may have 1 to 10/,
        },
      ],
    ],
    [
      "both event and cron",
      [{ id: "f", triggers: [{ event: "a", cron: "* * * * *" }] }],
      [{ path: "functions[0].triggers[0]", message: /both "event" and "cron"/ }],
    ],
    [
      "neither",
      [{ id: "f", triggers: [{ expression: "true" }] }],
      [{ path: "functions[0].triggers[0]", message: /neither "event" nor "cron"/ }],
    ],
    [
      "a trigger that is a string",
      [{ id: "f", triggers: ["app/x"] }],
      [{ path: "functions[0].triggers[0]", message: /must be an object like \{ event/ }],
    ],
    [
      "event not a string",
      [{ id: "f", triggers: [{ event: 5 }] }],
      [{ path: "functions[0].triggers[0].event", message: /expected string/ }],
    ],
    [
      "a 256-character name",
      [{ id: "f", triggers: [{ event: "n".repeat(256) }] }],
      [{ path: "functions[0].triggers[0].event", message: /256 characters long; at most 255/ }],
    ],
    [
      "a duplicate trigger",
      [{ id: "f", triggers: [{ event: "a" }, { event: "b" }, { event: "a" }] }],
      [{ path: "functions[0].triggers[2]", message: /same as triggers\[0\]/ }],
    ],
    [
      "the same cron twice with another jitter",
      [{ id: "f", triggers: [{ cron: "0 * * * *" }, { cron: "0 * * * *", jitter: "10s" }] }],
      [{ path: "functions[0].triggers[1].cron", message: /repeats the cron of triggers\[0\]/ }],
    ],
    [
      "jitter on an event trigger",
      [{ id: "f", triggers: [{ event: "a", jitter: "5s" }] }],
      [{ path: "functions[0].triggers[0].jitter", message: /only to cron triggers/ }],
    ],
    [
      "an expression on a cron",
      [{ id: "f", triggers: [{ cron: "* * * * *", expression: "true" }] }],
      [{ path: "functions[0].triggers[0].expression", message: /only to event triggers/ }],
    ],
    [
      "two functions with one id",
      [
        { id: "f", triggers: [{ event: "a" }] },
        { id: "f", triggers: [{ event: "b" }] },
      ],
      [{ path: "functions[1].id", message: /"f" is also the id of functions\[0\]/ }],
    ],
  ];

  it.each(bad)("%s", (_, input, issues) => {
    const err = thrown(() => createTriggerIndex(input as FunctionDefinition[]));
    expect(err.code).toBe("invalid_definition");
    expect(err.issues).toEqual(
      issues.map((i) => ({ path: i.path, message: expect.stringMatching(i.message) })),
    );
    expect(err.message).toMatch(/^\[evt\/triggers\] 1 problem in the function definitions: /);
    expect(err.message).toContain(issues[0]!.path);
  });

  it("reports every problem of a call at once, each at its path", () => {
    const err = thrown(() =>
      createTriggerIndex([
        { id: "ok", triggers: [{ event: "a" }] },
        { id: "f1", triggers: [{ event: "a*" }, { event: "b", expression: "event.data.x ==" }] },
        { id: "f2", triggers: [{ cron: "* * *" }] },
        { id: 7, triggers: [{ event: "c" }] } as unknown as FunctionDefinition,
      ]),
    );
    expect(err.issues.map((i) => i.path)).toEqual([
      "functions[1].triggers[0].event",
      "functions[1].triggers[1].expression",
      "functions[2].triggers[0].cron",
      "functions[3].id",
    ]);
    expect(err.message).toMatch(
      /^\[evt\/triggers\] 4 problems in the function definitions: functions\[1\]\.triggers\[0\]\.event: /,
    );
  });

  it("the SDK's extra fields (name, steps, ...) are allowed and ignored", () => {
    const index = createTriggerIndex([
      {
        id: "f",
        name: "F",
        steps: {},
        triggers: [{ event: "a", extra: 1 }],
      } as unknown as FunctionDefinition,
    ]);
    expect(index.match({ name: "a" })).toEqual([{ functionId: "f", triggerIndex: 0 }]);
  });
});

describe("add and remove", () => {
  it("a failing add stores nothing of that call, and the index keeps working", () => {
    const index = createTriggerIndex([{ id: "a", triggers: [{ event: "x" }] }]);
    const before = index.stats();
    const err = thrown(() =>
      index.add([
        { id: "b", triggers: [{ event: "x" }] }, // valid on its own
        { id: "c", triggers: [{ event: "x", expression: "event.data.n >" }] },
      ]),
    );
    expect(err.issues).toEqual([
      {
        path: "functions[1].triggers[0].expression",
        message: expect.stringMatching(/does not compile/),
      },
    ]);
    expect(index.has("b")).toBe(false);
    expect(index.match({ name: "x" })).toEqual([{ functionId: "a", triggerIndex: 0 }]);
    expect(index.stats()).toEqual({ ...before, events: before.events + 1 });
    // an id that is already in the index fails the same way
    const clash = thrown(() =>
      index.add([
        { id: "d", triggers: [{ event: "x" }] },
        { id: "a", triggers: [{ event: "y" }] },
      ]),
    );
    expect(clash.issues).toEqual([
      { path: "functions[1].id", message: expect.stringMatching(/"a" is already in the index/) },
    ]);
    expect(index.has("d")).toBe(false);
    expect(index.match({ name: "y" })).toEqual([]);
  });

  it("adds and removes one app's functions without touching the others", () => {
    const index = createTriggerIndex([
      { id: "app1-a", triggers: [{ event: "shop/*" }] },
      {
        id: "app1-b",
        triggers: [{ event: "shop/order.created", expression: "event.data.shop == 'a'" }],
      },
      {
        id: "app2-a",
        triggers: [{ event: "shop/order.created", expression: "event.data.shop == 'a'" }],
      },
    ]);
    const e = { name: "shop/order.created", data: { shop: "a" } };
    expect(index.match(e).map((m) => m.functionId)).toEqual(["app1-a", "app1-b", "app2-a"]);
    expect(index.remove(["app1-a", "app1-b", "nope"])).toBe(2);
    expect(index.match(e).map((m) => m.functionId)).toEqual(["app2-a"]);
    expect(index.stats()).toMatchObject({
      functions: 1,
      eventTriggers: 1,
      wildcardPrefixes: 0,
      exactNames: 1,
      expressions: 1,
      indexedExpressions: 1,
    });
    index.add([
      { id: "app1-a", triggers: [{ event: "shop/order.created" }, { cron: "0 * * * *" }] },
    ]);
    expect(index.match(e).map((m) => m.functionId)).toEqual(["app2-a", "app1-a"]);
    expect(index.stats()).toMatchObject({ functions: 2, cronTriggers: 1 });
    expect(index.remove(["app2-a", "app1-a"])).toBe(2);
    expect(index.stats()).toMatchObject({
      functions: 0,
      eventTriggers: 0,
      cronTriggers: 0,
      exactNames: 0,
      expressions: 0,
      indexedExpressions: 0,
    });
    expect(index.match(e)).toEqual([]);
  });

  it("triggers combine as OR; one event starts a function once, by its first matching trigger", () => {
    const index = createTriggerIndex([
      {
        id: "f",
        triggers: [
          { event: "shop/order.created", expression: "event.data.amount > 1000" },
          { event: "shop/*", expression: "event.data.vip == true" },
          { event: "shop/order.created" },
        ],
      },
    ]);
    expect(index.match({ name: "shop/order.created", data: { amount: 5000, vip: true } })).toEqual([
      { functionId: "f", triggerIndex: 0 },
    ]);
    expect(index.match({ name: "shop/order.created", data: { amount: 5, vip: true } })).toEqual([
      { functionId: "f", triggerIndex: 1 },
    ]);
    expect(index.match({ name: "shop/order.created", data: {} })).toEqual([
      { functionId: "f", triggerIndex: 2 },
    ]);
    expect(index.match({ name: "shop/refund", data: { vip: true } })).toEqual([
      { functionId: "f", triggerIndex: 1 },
    ]);
    expect(index.match({ name: "shop/refund", data: {} })).toEqual([]);
  });

  it("each trigger's expression applies to its own trigger only (Inngest PR #2951)", () => {
    const index = createTriggerIndex([
      { id: "f", triggers: [{ event: "a", expression: "event.data.ok == true" }, { event: "b" }] },
    ]);
    expect(index.match({ name: "b", data: { ok: false } })).toEqual([
      { functionId: "f", triggerIndex: 1 },
    ]);
    expect(index.match({ name: "a", data: { ok: false } })).toEqual([]);
  });

  it("hostile events never throw", () => {
    const index = createTriggerIndex([
      {
        id: "f",
        triggers: [
          { event: "a", expression: "event.data.x.y == 'z'" },
          { event: "a", expression: "event.data.n > 1" },
        ],
      },
    ]);
    for (const e of [
      { name: "a", data: { x: "str" } },
      { name: "a", data: { x: [1, 2] } },
      { name: "a", data: { x: { y: { z: 1 } }, n: "2" } },
      { name: "a", data: { n: Number.NaN } },
      { name: "a", data: null },
      { name: 5 },
      null,
      {},
    ]) {
      expect(() => index.match(e as never)).not.toThrow();
    }
    expect(index.match({ name: "a", data: { x: { y: "z" } } })).toEqual([
      { functionId: "f", triggerIndex: 0 },
    ]);
  });
});

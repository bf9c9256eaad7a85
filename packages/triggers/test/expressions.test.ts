import { describe, expect, it } from "vitest";
import {
  compileFilter,
  createTriggerIndex,
  type EvaluationErrorInfo,
  type TriggerEvent,
} from "../src/index";

const event: TriggerEvent = {
  name: "shop/order.created",
  data: {
    plan: "pro",
    shop: "shop-7",
    amount: 1500,
    price: 9.99,
    count: 3,
    big: 2 ** 60,
    flag: true,
    nothing: null,
    tags: ["vip", "eu"],
    ids: [1, 2, 3],
    items: [
      { sku: "a-1", qty: 2 },
      { sku: "b-2", qty: 5 },
    ],
    customer: { address: { country: "FR", zip: "75001" }, email: "Ann@Example.com" },
  },
  user: { id: "u1" },
  ts: 1_767_225_600_000,
};

// [expression, expected]: true/false is the result; "error" is a run-time error (no match, hook).
const table: [string, boolean | "error"][] = [
  // missing fields read as null, not an error
  ["event.data.plan == 'pro'", true],
  ["event.data.billingPlan == 'enterprise'", false],
  ["event.data.billingPlan != 'enterprise'", true],
  ["event.data.billingPlan == null", true],
  ["event.data.nothing == null", true],
  ["event.data.plan == null", false],
  ["event.data.missing.deeper.still == null", true],
  ["event.data.missing.deeper == 'x'", false],
  ["event.v == null && event.id == null", true], // fields the caller does not pass
  ["event.user.id == 'u1'", true],
  ["event.data['plan'] == 'pro'", true],
  ["has(event.data.plan) && !has(event.data.billingPlan)", true],
  ["has(event.data.missing.deeper)", false],
  // nested maps
  ["event.data.customer.address.country == 'FR'", true],
  ["event.data.customer.address.country == 'DE'", false],
  ["event.data.customer.address.zip.startsWith('75')", true],
  // lists
  ["'vip' in event.data.tags", true],
  ["'us' in event.data.tags", false],
  ["2 in event.data.ids", true],
  ["size(event.data.tags) == 2", true],
  ["event.data.items.exists(i, i.sku == 'b-2' && i.qty > 4)", true],
  ["event.data.items.all(i, i.qty > 2)", false],
  ["event.data.items[0].sku == 'a-1'", true],
  ["event.data.items[9].sku == null", true], // out of range reads as null too
  ["event.data.items.map(i, i.qty).exists(q, q == 5)", true],
  // in over literals
  ["event.data.plan in ['pro', 'enterprise']", true],
  ["event.data.plan in ['free']", false],
  ["event.data.count in [1, 2, 3]", true],
  // string functions
  ["event.data.shop.startsWith('shop-')", true],
  ["event.data.shop.endsWith('-7')", true],
  ["event.data.shop.contains('op-')", true],
  ["event.data.shop.matches('^shop-[0-9]+$')", true],
  ["lowercase(event.data.customer.email) == 'ann@example.com'", true],
  ["uppercase(event.data.plan) == 'PRO'", true],
  ["size(event.data.shop) == 6", true],
  // numbers vs doubles: JSON integers read as int, other numbers as double
  ["event.data.amount > 1000", true],
  ["event.data.amount == 1500", true],
  ["event.data.amount == 1500.0", true],
  ["event.data.amount + 1.0 == 1501.0", true],
  ["event.data.amount + 1 == 1501", "error"], // JSON numbers are doubles (as in Inngest): double + int has no overload
  ["int(event.data.count) * 2 == 6", true],
  ["event.data.price > 9", true],
  ["event.data.price < 10.0", true],
  ["event.data.price == 9.99", true],
  ["event.data.big > 1000", true],
  ["event.ts > 1700000000000", true],
  ["-event.data.count < -2", true],
  // && / ||
  ["event.data.plan == 'pro' && event.data.amount > 1000", true],
  ["event.data.plan == 'pro' && event.data.amount > 2000", false],
  ["event.data.plan != 'pro' || event.data.amount < 300", false],
  ["event.data.plan == 'free' || event.data.shop == 'shop-7'", true],
  ["event.data.flag", true],
  ["!event.data.flag || event.data.plan == 'pro'", true],
  ["event.data.amount > 1000 ? event.data.plan == 'pro' : false", true],
  // errors absorbed by && and || as CEL does
  ["event.data.plan > 5 || event.data.plan == 'pro'", true],
  ["event.data.plan > 5 && event.data.plan == 'free'", false],
  // run-time type errors: no match
  ["event.data.plan > 5", "error"],
  ["event.data.missing > 5", "error"], // null is not a number
  ["event.data.price + 1 > 2", "error"], // double + int has no overload in CEL
  ["event.data.plan.size == null", true], // selecting from a string reads as null too
  ["event.data.tags.first == null", true], // and from a list
  ["event.data.plan.size > 1", "error"], // null is not a number
  ["event.data.missing", "error"], // null is not a bool
  ["event.data.shop.startsWith(event.data.count)", "error"],
  ["int(event.data.plan) == 1", "error"],
];

describe("if expressions", () => {
  it.each(table)("%s -> %s", (expression, expected) => {
    const filter = compileFilter(expression);
    const r = filter.evaluate({ event: { ...event, id: null, v: null } });
    if (expected === "error") expect(r.ok).toBe(false);
    else expect(r).toEqual({ ok: true, value: expected });

    // through the index: the same answer, and run-time errors reach the hook
    const errors: EvaluationErrorInfo[] = [];
    const index = createTriggerIndex([{ id: "f", triggers: [{ event: event.name, expression }] }], {
      onEvaluationError: (e) => errors.push(e),
    });
    const matched = index.match(event);
    expect(matched).toEqual(expected === true ? [{ functionId: "f", triggerIndex: 0 }] : []);
    if (expected !== "error") expect(errors).toEqual([]);
    // The prefilter may skip an expression that could only have failed (event.data.plan > 5 on a
    // string): an error is reported when the expression was evaluated.
    if (errors.length > 0) {
      expect(errors[0]).toMatchObject({
        functionId: "f",
        triggerIndex: 0,
        expression,
        eventName: event.name,
      });
      expect(errors[0]!.error).toBeInstanceOf(Error);
      expect(index.stats().runtimeErrors).toBe(1);
    }
  });

  it("a fallback expression that fails reaches the hook with the error, and never throws", () => {
    const errors: EvaluationErrorInfo[] = [];
    const index = createTriggerIndex(
      [
        { id: "bad", triggers: [{ event: "a", expression: "event.data.plan + 1 > 2" }] },
        { id: "good", triggers: [{ event: "a" }] },
      ],
      {
        onEvaluationError: (e) => {
          errors.push(e);
          throw new Error("a hook that throws must not break matching");
        },
      },
    );
    expect(index.match({ name: "a", data: { plan: "pro" } })).toEqual([
      { functionId: "good", triggerIndex: 0 },
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/overload/);
    expect(index.stats()).toMatchObject({
      runtimeErrors: 1,
      evaluations: 1,
      fallbackExpressions: 1,
    });
  });

  const bad: [string, RegExp][] = [
    ["event.data.plan ==", /does not compile: Unexpected token/],
    ["evnt.data.plan == 'pro'", /does not compile: Unknown variable: evnt/],
    ["vars.a == 'x'", /Unknown variable: vars/],
    ["event.data.plan", /./], // dyn is accepted at compile time (checked at run time)
    ["'pro'", /must evaluate to a bool .* gives string/],
    ["1 + 1", /gives int/],
    ["event.data.x == 1 + 'a'", /does not compile/],
    ["nosuchfn(event.data.x)", /does not compile/],
    ["event.data.s == '\ud800'", /well-formed Unicode/],
  ];
  it.each(bad)("%j at definition time: %s", (expression, why) => {
    if (expression === "event.data.plan") {
      expect(() => compileFilter(expression)).not.toThrow();
      return;
    }
    expect(() => compileFilter(expression)).toThrow(why);
    expect(() => createTriggerIndex([{ id: "f", triggers: [{ event: "a", expression }] }])).toThrow(
      expect.objectContaining({
        code: "invalid_definition",
        issues: [
          { path: "functions[0].triggers[0].expression", message: expect.stringMatching(why) },
        ],
      }),
    );
  });

  it("async is available for wait-for-event matching, and null for triggers", () => {
    const f = compileFilter("event.data.userId == async.data.userId");
    const e = { name: "a", data: { userId: "u1" } };
    expect(f.evaluate({ event: e, async: { name: "b", data: { userId: "u1" } } })).toEqual({
      ok: true,
      value: true,
    });
    expect(f.evaluate({ event: e, async: { name: "b", data: { userId: "u2" } } })).toEqual({
      ok: true,
      value: false,
    });
    expect(f.evaluate({ event: e })).toEqual({ ok: true, value: false });
  });

  it("filters that differ only in their literals share a program, each with its own literals", () => {
    const index = createTriggerIndex(
      ["a", "b", "c"].map((shop, i) => ({
        id: shop,
        triggers: [
          { event: "e", expression: `event.data.shop == '${shop}' && event.data.n > ${i}` },
        ],
      })),
    );
    expect(index.match({ name: "e", data: { shop: "b", n: 2 } })).toEqual([
      { functionId: "b", triggerIndex: 0 },
    ]);
    expect(index.match({ name: "e", data: { shop: "c", n: 2 } })).toEqual([]);
    expect(index.match({ name: "e", data: { shop: "a", n: 0.5 } })).toEqual([
      { functionId: "a", triggerIndex: 0 },
    ]);
    // the same shape with a literal of another type is checked on its own
    expect(() => compileFilter("event.data.shop == 'a' && event.data.n > 'x' + 1")).toThrow(
      /does not compile/,
    );
  });

  it("odd but valid shapes compile and run: typed literals, optional syntax, precedence, ternaries", () => {
    const data = { x: 5, items: [{ sku: "a" }] };
    for (const expression of [
      "{'a': 1}['a'] == 1 && {'a': 1}.b == null",
      "[{'a': 1}].exists(m, m.a == 1 && m.b == null)",
      "event.?data.?x.orValue(0) == 5 && event.data[?'x'].hasValue()",
      "(event.data.x > 1 ? 'a' : 'b') == 'a' && (true ? event.data.x : 0) == 5",
      "event.data.x - 1.0 - 1.0 == 3.0 && !(event.data.x == 4) && event.data.x * (2.0 + 1.0) == 15.0",
      "string(event.data.x).startsWith('5') && (event.data.x in [5]) == true",
      "event.data.items.exists(i, i.sku == 'a') && has(event.data.x)",
      Array.from({ length: 200 }, (_, i) => `event.data.x == ${i}`).join(" || "),
    ]) {
      expect(
        compileFilter(expression).evaluate({ event: { name: "a", data } }),
        expression,
      ).toEqual({ ok: true, value: true });
    }
  });

  it("an expression nested deeper than 250 levels is rejected at definition time, saying what to write", () => {
    const long = Array.from({ length: 2000 }, (_, i) => `event.data.x == ${i}`).join(" || ");
    expect(() => compileFilter(long)).toThrow(
      /nests 2003 levels deep; at most 250 are allowed .*in \[/,
    );
    expect(() => compileFilter(`${"(".repeat(300)}true${")".repeat(300)}`)).toThrow(
      /does not compile: Exceeded maxDepth/,
    );
  });

  it("literals survive the rewrite exactly (tiny doubles, escapes, unicode, bytes)", () => {
    const cases: [string, Record<string, unknown>, boolean][] = [
      ["event.data.x > 0.0000000001", { x: 0.00000000005 }, false],
      ["event.data.x > 0.0000000001", { x: 0.0000000002 }, true],
      ['event.data.s == "a\\"b\\\\c\\n"', { s: 'a"b\\c\n' }, true],
      ["event.data.s == 'é🎉'", { s: "é🎉" }, true],
      ["event.data.n == 18446744073709551615u || true", { n: 1 }, true],
      ["b'ab' == b'\\x61\\x62'", {}, true],
      ["event.data.x == -5", { x: -5 }, true],
    ];
    for (const [expression, data, expected] of cases) {
      expect(
        compileFilter(expression).evaluate({ event: { name: "a", data } }),
        expression,
      ).toEqual({
        ok: true,
        value: expected,
      });
    }
  });
});

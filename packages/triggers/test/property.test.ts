import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileEventPattern,
  compileFilter,
  createTriggerIndex,
  type FunctionDefinition,
  type TriggerEvent,
  type TriggerMatch,
} from "../src/index";

// The index must return exactly what evaluating every trigger of every function returns: the
// prefilter may only skip triggers that could not have matched.

const patterns = ["a/b", "a/*", "a/b.*", "a.*", "a/b.c", "a/b.c/*", "x", "x.*", ".*"];
const names = ["a/b", "a/b.c", "a/b.c.d", "a.b/c", "a/", "a/b.c/d", "x", "x.y", ".x", "zz"];

const atoms = [
  "event.data.s == 'a'",
  "'b' == event.data.s",
  "event.data.s in ['a', 'c']",
  "event.data.s != 'a'",
  "event.data['s'] == 'c'",
  "event.data.n == 1",
  "event.data.n == 1.5",
  "event.data.n > 1",
  "event.data.n <= 2.5",
  "3 > event.data.n",
  "event.data.n >= -1",
  "event.data.n < 0",
  "event.data.n in [2, 3]",
  "event.data.m == null",
  "null == event.data.s",
  "event.data.flag",
  "event.data.flag == true",
  "event.data.flag == false",
  "!event.data.flag",
  "event.data.o.k == 'x'",
  "event.name == 'a/b'",
  "event.user.id == 'u'",
  "event.user.id == null",
  "event.data.o.k == null",
  "event.data.s.startsWith('a')",
  "size(event.data.l) > 1",
  "event.data.n + 1 > 2",
  "true",
  "false",
];

const expression: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...atoms),
    fc
      .tuple(tie("e"), fc.constantFrom("&&", "||"), tie("e"))
      .map(([l, op, r]) => `(${l}) ${op} (${r})`),
  ),
})).e;

const trigger = fc.oneof(
  fc.record({ event: fc.constantFrom(...patterns) }),
  fc.record({ event: fc.constantFrom(...patterns), expression }),
);

const fnList = fc
  .array(fc.array(trigger, { minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 25 })
  .map((lists) =>
    lists.map((triggers, i): FunctionDefinition => {
      // drop duplicate triggers (a definition error, tested elsewhere)
      const seen = new Set<string>();
      const unique = triggers.filter((t) => {
        const k = JSON.stringify(t);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      return { id: `f${i}`, triggers: unique };
    }),
  );

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const eventArb: fc.Arbitrary<TriggerEvent> = fc.record(
  {
    name: fc.constantFrom(...names),
    data: fc.record(
      {
        s: maybe(fc.constantFrom<unknown>("a", "b", "c", 1, null)),
        n: maybe(fc.constantFrom<unknown>(0, 1, 1.5, 2, 2.5, 3, -1, "1", null, true)),
        m: maybe(fc.constantFrom<unknown>(null, 0, "m")),
        flag: maybe(fc.constantFrom<unknown>(true, false, "true", null)),
        o: maybe(fc.constantFrom<unknown>({ k: "x" }, { k: "y" }, "str", [1], null)),
        l: maybe(fc.constantFrom<unknown>([1, 2], [1], "ab", null)),
      },
      { requiredKeys: [] },
    ),
    user: maybe(fc.constantFrom<Record<string, unknown> | null>({ id: "u" }, { id: "v" }, null)),
  },
  { requiredKeys: ["name"] },
) as fc.Arbitrary<TriggerEvent>;

function bruteForce(functions: FunctionDefinition[], event: TriggerEvent): TriggerMatch[] {
  const out: TriggerMatch[] = [];
  const view = {
    name: event.name,
    data: event.data ?? {},
    user: event.user ?? null,
    id: event.id ?? null,
    ts: event.ts ?? null,
    v: event.v ?? null,
  };
  for (const fn of functions) {
    for (const [triggerIndex, t] of fn.triggers.entries()) {
      if (!("event" in t) || !compileEventPattern(t.event).matches(event.name)) continue;
      if (t.expression !== undefined) {
        const r = compileFilter(t.expression).evaluate({ event: view });
        if (!r.ok || !r.value) continue;
      }
      out.push({ functionId: fn.id, triggerIndex });
      break;
    }
  }
  return out;
}

describe("the index against brute force", () => {
  it("returns what evaluating every trigger returns, for random functions and events", () => {
    fc.assert(
      fc.property(
        fnList,
        fc.array(eventArb, { minLength: 1, maxLength: 8 }),
        (functions, events) => {
          const index = createTriggerIndex(functions);
          for (const e of events) expect(index.match(e)).toEqual(bruteForce(functions, e));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("still does after incremental adds and removes", () => {
    fc.assert(
      fc.property(
        fnList,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.array(eventArb, { minLength: 1, maxLength: 6 }),
        (functions, drops, events) => {
          const half = Math.floor(functions.length / 2);
          const index = createTriggerIndex(functions.slice(0, half));
          index.add(functions.slice(half));
          const gone = new Set(drops.map((d) => `f${d % Math.max(1, functions.length)}`));
          index.remove(gone);
          const left = functions.filter((f) => !gone.has(f.id));
          for (const e of events) expect(index.match(e)).toEqual(bruteForce(left, e));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("uses the prefilter: a hash hit on a single comparison is a match, && is confirmed by CEL", () => {
    const functions = Array.from({ length: 1000 }, (_, i) => ({
      id: `shop-${i}`,
      triggers: [{ event: "shop/order.created", expression: `event.data.shop == "shop-${i}"` }],
    }));
    const index = createTriggerIndex(functions);
    expect(index.match({ name: "shop/order.created", data: { shop: "shop-42" } })).toEqual([
      { functionId: "shop-42", triggerIndex: 0 },
    ]);
    expect(index.stats()).toMatchObject({
      indexedExpressions: 1000,
      exactExpressions: 1000,
      fallbackExpressions: 0,
      evaluations: 0,
    });
    index.add([
      {
        id: "and",
        triggers: [
          {
            event: "shop/order.created",
            expression: "event.data.shop == 'shop-1' && event.data.n > 1",
          },
        ],
      },
      {
        id: "slow",
        triggers: [{ event: "shop/*", expression: "event.data.shop.startsWith('x')" }],
      },
    ]);
    expect(index.stats()).toMatchObject({
      indexedExpressions: 1001,
      exactExpressions: 1000,
      fallbackExpressions: 1,
    });
    index.match({ name: "shop/order.created", data: { shop: "shop-2" } }); // only "slow" is evaluated
    expect(index.stats().evaluations).toBe(1);
    expect(
      index
        .match({ name: "shop/order.created", data: { shop: "shop-1", n: 2 } })
        .map((m) => m.functionId),
    ).toEqual(["shop-1", "and"]);
    expect(index.stats().evaluations).toBe(3); // "and" confirmed by CEL, "slow" evaluated
  });
});

import { LIMITS, parseEvents } from "@evt/schema";
import { describe, expect, it } from "vitest";
import { explainEvent, fastNormalize } from "../src/validate";

const receivedAt = Date.UTC(2025, 0, 1);

/** `{ a: { a: ... {} } }` with `levels` objects in total. */
function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

interface BadCase {
  label: string;
  body: unknown;
  index: number;
  path: string;
  message: RegExp;
  allowed: RegExp;
}

const deepPath = `events[0].data${".a".repeat(64)}`;
const nameAllowed = /1\.\.256 characters, not starting with "inngest\/" or "evt\/"/;
const tsAllowed = /integer ms since epoch in \[1980-01-01, 2100-01-01\)/;
const jsonOnly = /JSON values only/;
const objAllowed = /a JSON object/;

const one = (event: unknown): unknown[] => [event];
const textAllowed = /^well-formed Unicode text without U\+0000$/;

const cases: BadCase[] = [
  // name
  {
    label: "name missing",
    body: one({ data: {} }),
    index: 0,
    path: "events[0].name",
    message: /is required/,
    allowed: nameAllowed,
  },
  {
    label: "name number",
    body: one({ name: 42 }),
    index: 0,
    path: "events[0].name",
    message: /expected a string, got number 42/,
    allowed: nameAllowed,
  },
  {
    label: "name null",
    body: one({ name: null }),
    index: 0,
    path: "events[0].name",
    message: /expected a string, got null/,
    allowed: nameAllowed,
  },
  {
    label: "name boolean",
    body: one({ name: true }),
    index: 0,
    path: "events[0].name",
    message: /got boolean true/,
    allowed: nameAllowed,
  },
  {
    label: "name object",
    body: one({ name: { first: "a" } }),
    index: 0,
    path: "events[0].name",
    message: /got an object/,
    allowed: nameAllowed,
  },
  {
    label: "name array",
    body: one({ name: ["a"] }),
    index: 0,
    path: "events[0].name",
    message: /got an array of 1/,
    allowed: nameAllowed,
  },
  {
    label: "name empty",
    body: one({ name: "" }),
    index: 0,
    path: "events[0].name",
    message: /must not be empty/,
    allowed: nameAllowed,
  },
  {
    label: "name 257 characters",
    body: one({ name: "a".repeat(257) }),
    index: 0,
    path: "events[0].name",
    message: /is 257 characters long/,
    allowed: nameAllowed,
  },
  {
    label: "name reserved inngest/",
    body: one({ name: "inngest/function.finished" }),
    index: 0,
    path: "events[0].name",
    message: /reserved prefix "inngest\/"/,
    allowed: nameAllowed,
  },
  {
    label: "name reserved INNGEST/ (case)",
    body: one({ name: "INNGEST/x" }),
    index: 0,
    path: "events[0].name",
    message: /reserved prefix "INNGEST\/"/,
    allowed: nameAllowed,
  },
  {
    label: "name reserved evt/",
    body: one({ name: "evt/internal" }),
    index: 0,
    path: "events[0].name",
    message: /reserved prefix "evt\/"/,
    allowed: nameAllowed,
  },
  {
    label: "name reserved Evt/ (case)",
    body: one({ name: "Evt/x" }),
    index: 0,
    path: "events[0].name",
    message: /reserved prefix "Evt\/"/,
    allowed: nameAllowed,
  },
  {
    label: "name huge string",
    body: one({ name: "x".repeat(1_000_000) }),
    index: 0,
    path: "events[0].name",
    message: /is 1000000 characters long/,
    allowed: nameAllowed,
  },
  // data
  {
    label: "data array",
    body: one({ name: "a", data: [1, 2] }),
    index: 0,
    path: "events[0].data",
    message: /expected a JSON object, got an array of 2/,
    allowed: objAllowed,
  },
  {
    label: "data string",
    body: one({ name: "a", data: "hello" }),
    index: 0,
    path: "events[0].data",
    message: /got string "hello"/,
    allowed: objAllowed,
  },
  {
    label: "data number",
    body: one({ name: "a", data: 5 }),
    index: 0,
    path: "events[0].data",
    message: /got number 5/,
    allowed: objAllowed,
  },
  {
    label: "data boolean",
    body: one({ name: "a", data: false }),
    index: 0,
    path: "events[0].data",
    message: /got boolean false/,
    allowed: objAllowed,
  },
  {
    label: "data Date instance",
    body: one({ name: "a", data: new Date(0) }),
    index: 0,
    path: "events[0].data",
    message: /got a Date object \(send date\.toISOString\(\)\)/,
    allowed: objAllowed,
  },
  {
    label: "data Map instance",
    body: one({ name: "a", data: new Map() }),
    index: 0,
    path: "events[0].data",
    message: /got a Map object/,
    allowed: objAllowed,
  },
  {
    label: "data value symbol",
    body: one({ name: "a", data: { s: Symbol("x") } }),
    index: 0,
    path: "events[0].data.s",
    message: /not a JSON value: got a symbol/,
    allowed: jsonOnly,
  },
  {
    label: "data value function",
    body: one({ name: "a", data: { f: () => 1 } }),
    index: 0,
    path: "events[0].data.f",
    message: /got a function/,
    allowed: jsonOnly,
  },
  {
    label: "data value NaN",
    body: one({ name: "a", data: { n: Number.NaN } }),
    index: 0,
    path: "events[0].data.n",
    message: /got number NaN/,
    allowed: jsonOnly,
  },
  {
    label: "data value Infinity",
    body: one({ name: "a", data: { n: Number.POSITIVE_INFINITY } }),
    index: 0,
    path: "events[0].data.n",
    message: /got number Infinity/,
    allowed: jsonOnly,
  },
  {
    label: "data value bigint",
    body: one({ name: "a", data: { big: 10n } }),
    index: 0,
    path: "events[0].data.big",
    message: /got bigint 10n/,
    allowed: jsonOnly,
  },
  {
    label: "data nested Date",
    body: one({ name: "a", data: { at: { when: new Date(0) } } }),
    index: 0,
    path: "events[0].data.at.when",
    message: /got a Date object/,
    allowed: jsonOnly,
  },
  {
    label: "data array element undefined",
    body: one({ name: "a", data: { list: [1, undefined] } }),
    index: 0,
    path: "events[0].data.list[1]",
    message: /got undefined/,
    allowed: jsonOnly,
  },
  {
    label: "data quoted key path",
    body: one({ name: "a", data: { "first name": { x: Symbol("s") } } }),
    index: 0,
    path: 'events[0].data["first name"].x',
    message: /got a symbol/,
    allowed: jsonOnly,
  },
  {
    label: "data 65 levels deep",
    body: one({ name: "a", data: nest(65) }),
    index: 0,
    path: deepPath,
    message: /nested deeper than 64 levels/,
    allowed: /at most 64 levels/,
  },
  {
    label: "data 100000 levels deep",
    body: one({ name: "a", data: nest(100_000) }),
    index: 0,
    path: deepPath,
    message: /nested deeper than 64 levels/,
    allowed: /at most 64 levels/,
  },
  {
    label: "data huge string",
    body: one({ name: "a", data: { blob: "x".repeat(600_000) } }),
    index: 0,
    path: "events[0]",
    message: /is 6000\d\d bytes as JSON/,
    allowed: /at most 524288 bytes/,
  },
  {
    label: "data many multibyte chars",
    body: one({ name: "a", data: { blob: "😀".repeat(140_000) } }),
    index: 0,
    path: "events[0]",
    message: /is 5600\d\d bytes as JSON/,
    allowed: /at most 524288 bytes/,
  },
  // user
  {
    label: "user array",
    body: one({ name: "a", user: [] }),
    index: 0,
    path: "events[0].user",
    message: /got an array of 0/,
    allowed: /a JSON object/,
  },
  {
    label: "user string",
    body: one({ name: "a", user: "ada" }),
    index: 0,
    path: "events[0].user",
    message: /got string "ada"/,
    allowed: /a JSON object/,
  },
  {
    label: "user number",
    body: one({ name: "a", user: 7 }),
    index: 0,
    path: "events[0].user",
    message: /got number 7/,
    allowed: /a JSON object/,
  },
  {
    label: "user value function",
    body: one({ name: "a", user: { email: () => "x" } }),
    index: 0,
    path: "events[0].user.email",
    message: /got a function/,
    allowed: jsonOnly,
  },
  // id
  {
    label: "id number",
    body: one({ name: "a", id: 3 }),
    index: 0,
    path: "events[0].id",
    message: /expected a string, got number 3/,
    allowed: /at most 256 characters/,
  },
  {
    label: "id object",
    body: one({ name: "a", id: { k: 1 } }),
    index: 0,
    path: "events[0].id",
    message: /got an object/,
    allowed: /at most 256 characters/,
  },
  {
    label: "id 257 characters",
    body: one({ name: "a", id: "i".repeat(257) }),
    index: 0,
    path: "events[0].id",
    message: /is 257 characters long/,
    allowed: /at most 256 characters/,
  },
  // ts
  {
    label: "ts in seconds",
    body: one({ name: "a", ts: 1_700_000_000 }),
    index: 0,
    path: "events[0].ts",
    message: /got 1700000000 \(seconds\?\)/,
    allowed: tsAllowed,
  },
  {
    label: "ts float seconds",
    body: one({ name: "a", ts: 1_700_000_000.25 }),
    index: 0,
    path: "events[0].ts",
    message: /got 1700000000.25 \(seconds\?\)/,
    allowed: tsAllowed,
  },
  {
    label: "ts float",
    body: one({ name: "a", ts: 1.5 }),
    index: 0,
    path: "events[0].ts",
    message: /expected an integer number of milliseconds since epoch, got 1.5$/,
    allowed: tsAllowed,
  },
  {
    label: "ts float ms",
    body: one({ name: "a", ts: 1_700_000_000_000.5 }),
    index: 0,
    path: "events[0].ts",
    message: /got 1700000000000.5/,
    allowed: tsAllowed,
  },
  {
    label: "ts negative",
    body: one({ name: "a", ts: -1 }),
    index: 0,
    path: "events[0].ts",
    message: /got -1, before 1980-01-01/,
    allowed: tsAllowed,
  },
  {
    label: "ts zero",
    body: one({ name: "a", ts: 0 }),
    index: 0,
    path: "events[0].ts",
    message: /got 0, before 1980-01-01/,
    allowed: tsAllowed,
  },
  {
    label: "ts just before 1980",
    body: one({ name: "a", ts: LIMITS.tsMin - 1 }),
    index: 0,
    path: "events[0].ts",
    message: /before 1980-01-01/,
    allowed: tsAllowed,
  },
  {
    label: "ts at 2100",
    body: one({ name: "a", ts: LIMITS.tsMax }),
    index: 0,
    path: "events[0].ts",
    message: /not before 2100-01-01$/,
    allowed: tsAllowed,
  },
  {
    label: "ts in microseconds",
    body: one({ name: "a", ts: 1_700_000_000_000_000 }),
    index: 0,
    path: "events[0].ts",
    message: /\(microseconds\?\)/,
    allowed: tsAllowed,
  },
  {
    label: "ts string",
    body: one({ name: "a", ts: "2024-01-01T00:00:00Z" }),
    index: 0,
    path: "events[0].ts",
    message: /got string "2024-01-01T00:00:00Z"/,
    allowed: tsAllowed,
  },
  {
    label: "ts NaN",
    body: one({ name: "a", ts: Number.NaN }),
    index: 0,
    path: "events[0].ts",
    message: /got NaN/,
    allowed: tsAllowed,
  },
  {
    label: "ts boolean",
    body: one({ name: "a", ts: true }),
    index: 0,
    path: "events[0].ts",
    message: /got boolean true/,
    allowed: tsAllowed,
  },
  // v
  {
    label: "v number",
    body: one({ name: "a", v: 1 }),
    index: 0,
    path: "events[0].v",
    message: /expected a string, got number 1/,
    allowed: /at most 128 characters/,
  },
  {
    label: "v 129 characters",
    body: one({ name: "a", v: "v".repeat(129) }),
    index: 0,
    path: "events[0].v",
    message: /is 129 characters long/,
    allowed: /at most 128 characters/,
  },
  // characters every store can hold: well-formed Unicode without U+0000
  {
    label: "name with a lone high surrogate",
    body: one({ name: "app/\ud800x" }),
    index: 0,
    path: "events[0].name",
    message: /^contains a lone surrogate \(\\ud800\) at character 4$/,
    allowed: textAllowed,
  },
  {
    label: "name with a lone low surrogate",
    body: one({ name: "app/x\udc00" }),
    index: 0,
    path: "events[0].name",
    message: /^contains a lone surrogate \(\\udc00\) at character 5$/,
    allowed: textAllowed,
  },
  {
    label: "name with U+0000",
    body: one({ name: "app/a\u0000b" }),
    index: 0,
    path: "events[0].name",
    message: /^contains U\+0000 \(NUL\) at character 5$/,
    allowed: textAllowed,
  },
  {
    label: "id with a lone high surrogate (an emoji cut in half)",
    body: one({ name: "a", id: "order-\ud83d" }),
    index: 0,
    path: "events[0].id",
    message: /^contains a lone surrogate \(\\ud83d\) at character 6$/,
    allowed: textAllowed,
  },
  {
    label: "id of a lone surrogate only",
    body: one({ name: "a", id: "\ud800" }),
    index: 0,
    path: "events[0].id",
    message: /^contains a lone surrogate \(\\ud800\) at character 0$/,
    allowed: textAllowed,
  },
  {
    label: "id with U+0000",
    body: one({ name: "a", id: "a\u0000" }),
    index: 0,
    path: "events[0].id",
    message: /^contains U\+0000 \(NUL\) at character 1$/,
    allowed: textAllowed,
  },
  {
    label: "v with U+0000",
    body: one({ name: "a", v: "\u00002024" }),
    index: 0,
    path: "events[0].v",
    message: /^contains U\+0000 \(NUL\) at character 0$/,
    allowed: textAllowed,
  },
  {
    label: "v with a lone low surrogate",
    body: one({ name: "a", v: "1.\udfff" }),
    index: 0,
    path: "events[0].v",
    message: /^contains a lone surrogate \(\\udfff\) at character 2$/,
    allowed: textAllowed,
  },
  {
    label: "data value with U+0000",
    body: one({ name: "a", data: { k: "ab\u0000" } }),
    index: 0,
    path: "events[0].data.k",
    message: /^contains U\+0000 \(NUL\) at character 2$/,
    allowed: textAllowed,
  },
  {
    label: "data value with a lone high surrogate",
    body: one({ name: "a", data: { k: "\ud800" } }),
    index: 0,
    path: "events[0].data.k",
    message: /^contains a lone surrogate \(\\ud800\) at character 0$/,
    allowed: textAllowed,
  },
  {
    label: "data value with a low surrogate before a high one (both lone)",
    body: one({ name: "a", data: { k: "x\udc00\ud800" } }),
    index: 0,
    path: "events[0].data.k",
    message: /^contains a lone surrogate \(\\udc00\) at character 1$/,
    allowed: textAllowed,
  },
  {
    label: "data key with U+0000",
    body: one({ name: "a", data: { ok: 1, "a\u0000b": 1 } }),
    index: 0,
    path: 'events[0].data["a\\u0000b"]',
    message: /^the key contains U\+0000 \(NUL\) at character 1$/,
    allowed: textAllowed,
  },
  {
    label: "data key with a lone surrogate, nested",
    body: one({ name: "a", data: { outer: { "\udc00k": "v" } } }),
    index: 0,
    path: 'events[0].data.outer["\\udc00k"]',
    message: /^the key contains a lone surrogate \(\\udc00\) at character 0$/,
    allowed: textAllowed,
  },
  {
    label: "string in a nested array, third event of a batch",
    body: [
      { name: "ok" },
      { name: "ok", data: { items: [{ label: "fine" }] } },
      { name: "ok", data: { items: [{ label: "x\u0000y" }, { label: "fine" }] } },
    ],
    index: 2,
    path: "events[2].data.items[0].label",
    message: /^contains U\+0000 \(NUL\) at character 1$/,
    allowed: textAllowed,
  },
  {
    label: "string in an array of strings",
    body: one({ name: "a", data: { tags: ["a", "b", "\ud83d"] } }),
    index: 0,
    path: "events[0].data.tags[2]",
    message: /^contains a lone surrogate \(\\ud83d\) at character 0$/,
    allowed: textAllowed,
  },
  {
    label: "user value with U+0000",
    body: one({ name: "a", user: { email: "ada\u0000@example.com" } }),
    index: 0,
    path: "events[0].user.email",
    message: /^contains U\+0000 \(NUL\) at character 3$/,
    allowed: textAllowed,
  },
  {
    label: "user key with a lone surrogate",
    body: one({ name: "a", user: { "\ud800": "x" } }),
    index: 0,
    path: 'events[0].user["\\ud800"]',
    message: /^the key contains a lone surrogate \(\\ud800\) at character 0$/,
    allowed: textAllowed,
  },
  // elements of the request
  {
    label: "number element",
    body: [{ name: "ok" }, 5],
    index: 1,
    path: "events[1]",
    message: /expected an event object, got number 5/,
    allowed: /"name"/,
  },
  {
    label: "null element",
    body: [null],
    index: 0,
    path: "events[0]",
    message: /got null/,
    allowed: /"name"/,
  },
  {
    label: "string element",
    body: [{ name: "ok" }, { name: "ok" }, "app/x"],
    index: 2,
    path: "events[2]",
    message: /got string "app\/x"/,
    allowed: /"name"/,
  },
  {
    label: "nested array element",
    body: [[{ name: "a" }]],
    index: 0,
    path: "events[0]",
    message: /got an array of 1/,
    allowed: /"name"/,
  },
  // the request
  {
    label: "5001 events",
    body: Array.from({ length: 5001 }, () => ({ name: "a" })),
    index: -1,
    path: "events",
    message: /holds 5001 events/,
    allowed: /at most 5000 events per request/,
  },
  {
    label: "body string",
    body: "app/x",
    index: -1,
    path: "events",
    message: /got string "app\/x"/,
    allowed: /an event object, or a JSON array/,
  },
  {
    label: "body number",
    body: 12,
    index: -1,
    path: "events",
    message: /got number 12/,
    allowed: /an event object, or a JSON array/,
  },
  {
    label: "body null",
    body: null,
    index: -1,
    path: "events",
    message: /got null/,
    allowed: /an event object, or a JSON array/,
  },
  {
    label: "body undefined",
    body: undefined,
    index: -1,
    path: "events",
    message: /got undefined/,
    allowed: /an event object, or a JSON array/,
  },
];

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

  const valid: [string, unknown][] = [
    ["minimal", { name: "a" }],
    [
      "all fields",
      {
        name: "app/user.signup",
        data: { a: 1 },
        user: { e: "x" },
        id: "i",
        ts: receivedAt,
        v: "2024-01-14.1",
      },
    ],
    ["nulls", { name: "a", data: null, user: null, id: null, ts: null, v: null }],
    ["empty id and v", { name: "a", id: "", v: "" }],
    ["unknown top-level fields", { name: "a", meta: { x: 1 }, extra: [1, 2] }],
    ["name of 256", { name: "n".repeat(256) }],
    ["id of 256, v of 128", { name: "a", id: "i".repeat(256), v: "v".repeat(128) }],
    ["ts at tsMin", { name: "a", ts: LIMITS.tsMin }],
    ["ts just before tsMax", { name: "a", ts: LIMITS.tsMax - 1 }],
    ["name like a reserved one", { name: "inngest.app/x" }],
    ["name evt without slash", { name: "evt.signup" }],
    ["data 64 levels deep", { name: "a", data: nest(64) }],
    ["null-prototype data", { name: "a", data: Object.assign(Object.create(null), { k: 1 }) }],
    [
      "prototype-looking keys",
      JSON.parse('{"name":"a","data":{"__proto__":{"p":1},"constructor":{"prototype":{}}}}'),
    ],
    [
      "unicode everywhere",
      { name: "app/日本", data: { ключ: "😀é\u00e9", n: -0, f: 1e-7, big: 1e21 } },
    ],
    [
      "surrogate pairs (emoji) in every string",
      {
        name: "app/😀",
        data: { "😀": "👍🏽", list: ["𝄞", { "🎉k": "x😀" }] },
        user: { "😀": "😀" },
        id: "😀",
        v: "😀",
      },
    ],
    [
      "control characters other than U+0000",
      {
        name: "app/\u0001\t",
        data: { "\u0001": "\t\n\r\u0001\u001f\u007f", k: ["\u0008"] },
        user: { e: "\u0002" },
        id: "\u0001\t",
        v: "\t",
      },
    ],
    [
      "a lone surrogate or U+0000 in a property left out (undefined value)",
      { name: "a", data: { "\ud800\u0000": undefined } },
    ],
    [
      "undefined properties (left out of the JSON)",
      { name: "a", data: { a: undefined, b: { c: undefined } }, user: { e: undefined } },
    ],
    ["arrays in data", { name: "a", data: { list: [1, "two", null, true, [], {}, [[[]]]] } }],
    ["near the size limit", { name: "a", data: { blob: "x".repeat(524_000) } }],
  ];

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

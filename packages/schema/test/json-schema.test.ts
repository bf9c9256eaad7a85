import { readFileSync } from "node:fs";
import { parseEvents } from "@evt/schema";
import Ajv2020 from "ajv/dist/2020";
import { describe, expect, it } from "vitest";
import { type BadCase, badCases, receivedAt, validCases } from "./cases";

// The shipped file, compiled by a real validator in strict mode (unknown keywords, ignored
// keywords and loose types would fail the compile).
const shipped = JSON.parse(readFileSync(new URL("../event.schema.json", import.meta.url), "utf8"));
const validate = new Ajv2020({ strict: true }).compile(shipped);

type Verdict = "accepted" | "rejected" | "stack overflow";

/** What ajv says about `events`: accepted when every one is valid. */
function ajvVerdict(events: readonly unknown[]): Verdict {
  try {
    return events.every((event) => validate(event)) ? "accepted" : "rejected";
  } catch (error) {
    if (error instanceof RangeError) return "stack overflow";
    throw error;
  }
}

/** What the schema (one event) is asked about: the event the issue is about, else every event. */
function eventsOf({ body, index }: BadCase): unknown[] {
  if (index >= 0) return [Array.isArray(body) ? body[index] : body];
  return Array.isArray(body) ? body : [body];
}

const notJson = "not JSON: to ajv an instance without own properties is an empty object";
const depth = "depth (at most 64 levels) is computed";
const size = "the size in UTF-8 bytes of the event's JSON is computed";
const units = "lengths count UTF-16 code units; JSON Schema's maxLength counts code points";
const text = "well-formed Unicode without U+0000 (text.ts) is not in the schema";

/**
 * Bad cases the JSON Schema cannot reject: the rules only `parseEvents` enforces, with ajv's
 * verdict. Both facts are asserted, so the list cannot drift from the schema or the tables.
 */
const parseEventsOnly: [label: string, ajv: Verdict, why: string][] = [
  ["data Date instance", "accepted", notJson],
  ["data Map instance", "accepted", notJson],
  ["data nested Date", "accepted", notJson],
  ["data 65 levels deep", "accepted", depth],
  ["data 100000 levels deep", "stack overflow", `${depth}; ajv recurses once per level`],
  ["data huge string", "accepted", size],
  ["data many multibyte chars", "accepted", size],
  ["name of 129 emoji (258 UTF-16 code units)", "accepted", units],
  ["id of 129 emoji (258 UTF-16 code units)", "accepted", units],
  ["v of 65 emoji (130 UTF-16 code units)", "accepted", units],
  ["name with a lone high surrogate", "accepted", text],
  ["name with a lone low surrogate", "accepted", text],
  ["name with U+0000", "accepted", text],
  ["id with a lone high surrogate (an emoji cut in half)", "accepted", text],
  ["id of a lone surrogate only", "accepted", text],
  ["id with U+0000", "accepted", text],
  ["v with U+0000", "accepted", text],
  ["v with a lone low surrogate", "accepted", text],
  ["data value with U+0000", "accepted", text],
  ["data value with a lone high surrogate", "accepted", text],
  ["data value with a low surrogate before a high one (both lone)", "accepted", text],
  ["data key with U+0000", "accepted", text],
  ["data key with a lone surrogate, nested", "accepted", text],
  ["string in a nested array, third event of a batch", "accepted", text],
  ["string in an array of strings", "accepted", text],
  ["user value with U+0000", "accepted", text],
  ["user key with a lone surrogate", "accepted", text],
  ["5001 events", "accepted", "the schema is one event; the request limit is in its description"],
];

/**
 * Valid cases that are JS values rather than JSON: `parseEvents` leaves `undefined`
 * properties out, as `JSON.stringify` does, so ajv checks the JSON text they become.
 */
const validAsJsonText = new Set([
  "a lone surrogate or U+0000 in a property left out (undefined value)",
  "undefined properties (left out of the JSON)",
]);

const caseByLabel = new Map(badCases.map((c) => [c.label, c]));
const onlyLabels = new Set(parseEventsOnly.map(([label]) => label));

describe("event.schema.json under ajv (draft 2020-12, strict)", () => {
  it("lists only existing bad cases, each once", () => {
    for (const label of onlyLabels) expect(caseByLabel.has(label), label).toBe(true);
    expect(onlyLabels.size).toBe(parseEventsOnly.length);
    for (const label of validAsJsonText) {
      expect(
        validCases.some(([l]) => l === label),
        label,
      ).toBe(true);
    }
  });

  const plainValid = validCases.filter(([label]) => !validAsJsonText.has(label));
  it.each(plainValid)("accepts valid: %s", (_label, event) => {
    expect(ajvVerdict([event]), JSON.stringify(validate.errors)).toBe("accepted");
    expect(parseEvents([event], { receivedAt }).ok).toBe(true);
  });

  const jsValid = validCases.filter(([label]) => validAsJsonText.has(label));
  it.each(jsValid)("accepts the JSON text of valid: %s", (_label, event) => {
    expect(ajvVerdict([event])).toBe("rejected");
    expect(ajvVerdict([JSON.parse(JSON.stringify(event))])).toBe("accepted");
    expect(parseEvents([event], { receivedAt }).ok).toBe(true);
  });

  const rejected = badCases.filter((c) => !onlyLabels.has(c.label));
  it.each(rejected)("rejects bad: $label", (c) => {
    expect(ajvVerdict(eventsOf(c))).toBe("rejected");
  });

  it.each(parseEventsOnly)("passes JSON Schema, rejected by parseEvents: %s", (label, ajv) => {
    const c = caseByLabel.get(label)!;
    expect(ajvVerdict(eventsOf(c))).toBe(ajv);
    const result = parseEvents(c.body, { receivedAt });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.path)).toContain(c.path);
  });
});

import { parseEvent } from "@evt/schema";
import { describe, expect, it } from "vitest";
import { firstBadCharacter, isCleanText, textProblem } from "../src/text";

/** Every string of up to `max` units over `alphabet`. */
function strings(alphabet: readonly string[], max: number): string[] {
  let level = [""];
  const out = [""];
  for (let n = 1; n <= max; n++) {
    level = level.flatMap((s) => alphabet.map((c) => s + c));
    out.push(...level);
  }
  return out;
}

// ASCII, NUL, control, BMP, both ends of both surrogate ranges, and an emoji's two halves.
const UNITS = ["a", "\u0000", "\u0001", "\uffff", "\ud800", "\udbff", "\udc00", "\udfff", "😀"];

describe("the text rule", () => {
  it("the portable scan agrees with isWellFormed + indexOf on every short string", () => {
    const all = strings(UNITS, 4);
    expect(all.length).toBeGreaterThan(7000);
    for (const s of all) {
      const native = (s as unknown as { isWellFormed(): boolean }).isWellFormed();
      const expected = native && !s.includes("\u0000");
      expect(firstBadCharacter(s) === -1, JSON.stringify(s)).toBe(expected);
      expect(isCleanText(s), JSON.stringify(s)).toBe(expected);
      expect(textProblem(s) === undefined).toBe(expected);
    }
  });

  it("names the first bad character by its 0-based index", () => {
    expect(textProblem("ab\u0000c\ud800")).toBe("contains U+0000 (NUL) at character 2");
    expect(textProblem("😀\ud83d")).toBe("contains a lone surrogate (\\ud83d) at character 2");
    expect(textProblem("\udc00\ud800")).toBe("contains a lone surrogate (\\udc00) at character 0");
    expect(textProblem("😀\t\u0001")).toBeUndefined();
  });

  it("keeps messages well-formed and short even for huge bad strings", () => {
    const result = parseEvent({
      name: "a",
      data: { [`${"k".repeat(100)}\ud800`]: "x".repeat(1e5) },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const issue = result.issues[0]!;
    expect(issue.message).toBe("the key contains a lone surrogate (\\ud800) at character 100");
    for (const part of [issue.path, issue.message, issue.allowed]) {
      expect((part as unknown as { isWellFormed(): boolean }).isWellFormed()).toBe(true);
      expect(part).not.toContain("\u0000");
    }
  });
});

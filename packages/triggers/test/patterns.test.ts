import { describe, expect, it } from "vitest";
import {
  compileEventPattern,
  createTriggerIndex,
  matchesEventName,
  TriggerError,
  WILDCARD_RULE,
} from "../src/index";

// Inngest's rule: a name matches a trigger when the trigger equals the name or one of the
// patterns generated from it: `prefix*` for every "/"- and every "."-split prefix.
const table: [pattern: string, name: string, matches: boolean][] = [
  ["app/user.created", "app/user.created", true],
  ["app/user.created", "app/user.created2", false],
  ["app/user.created", "App/user.created", false],
  ["app/*", "app/user.created", true],
  ["app/*", "app/blog.post.published", true],
  ["app/*", "app/a/b/c", true],
  ["app/*", "app/", true], // "app/" generates "app/*"
  ["app/*", "app", false],
  ["app/*", "apple/user.created", false],
  ["app/*", "other/app/user", false],
  ["app/user.*", "app/user.created", true],
  ["app/user.*", "app/user.profile.updated", true],
  ["app/user.*", "app/user", false],
  ["app/user.*", "app/users.created", false],
  ["a.*", "a.b/c", true], // the "/" and "." splits are independent
  ["a.*", "a.b", true],
  ["a.*", "a", false],
  ["a/b.*", "a/b.c/d", true],
  ["a/b.c/*", "a/b.c/d.e", true],
  ["a/b.c/*", "a/b.c", false],
  [".*", ".hidden", true],
  ["/*", "/x", true],
  ["shop/order.*", "shop/order.created", true],
  ["shop/order.*", "shop/orders.created", false],
];

const invalid: [pattern: string, why: RegExp][] = [
  ["*", /bare "\*" matches no event/],
  ["app/user.update*", /right after "e"/],
  ["app/blog.*.published", /at position 10/],
  ["app*", /right after "p"/],
  ["*/x", /at position 1/],
  ["app/**", /position 5/],
  ["a/*/b/*", /position 3/],
  ["", /must not be empty/],
  ["x".repeat(256), /256 characters long; at most 255/],
];

describe("event name patterns", () => {
  it.each(table)("%j against %j: %s", (pattern, name, expected) => {
    expect(matchesEventName(pattern, name)).toBe(expected);
    expect(compileEventPattern(pattern).matches(name)).toBe(expected);
    // the index agrees with the single-pattern matcher
    const index = createTriggerIndex([{ id: "f", triggers: [{ event: pattern }] }]);
    expect(index.match({ name })).toEqual(expected ? [{ functionId: "f", triggerIndex: 0 }] : []);
  });

  it.each(invalid)("%j is rejected, saying where wildcards may go", (pattern, why) => {
    const err = (() => {
      try {
        compileEventPattern(pattern);
      } catch (e) {
        return e;
      }
      throw new Error("no error");
    })() as TriggerError;
    expect(err).toBeInstanceOf(TriggerError);
    expect(err.code).toBe("invalid_pattern");
    expect(err.message).toMatch(why);
    expect(err.message.startsWith("[evt/triggers] pattern ")).toBe(true);
    if (pattern.includes("*")) expect(err.message).toContain(WILDCARD_RULE);
    expect(err.issues).toEqual([{ path: "pattern", message: expect.stringMatching(why) }]);
  });

  it("a trigger with a bad pattern fails with the same message, at its path", () => {
    expect(() =>
      createTriggerIndex([{ id: "f", triggers: [{ event: "ok" }, { event: "app/user.update*" }] }]),
    ).toThrow(
      expect.objectContaining({
        code: "invalid_definition",
        issues: [
          {
            path: "functions[0].triggers[1].event",
            message: expect.stringContaining(WILDCARD_RULE),
          },
        ],
      }),
    );
  });

  it("a pattern that is not a string is an invalid_pattern error", () => {
    expect(() => compileEventPattern(42 as unknown as string)).toThrow(/pattern must be a string/);
  });
});

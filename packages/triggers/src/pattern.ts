import { TriggerError } from "./errors";

/** The longest trigger event name or pattern Inngest accepts. */
export const MAX_EVENT_NAME_LENGTH = 255;

/** The rule every wildcard message states. */
export const WILDCARD_RULE =
  'a wildcard "*" may only end a pattern, right after "/" or "." (like "app/*" or "app/user.*"), and matches every name with that prefix';

/** A checked event name pattern: an exact name, or a prefix ending in `/` or `.`. */
export interface EventPattern {
  /** The pattern as written. */
  readonly pattern: string;
  /** For `app/user.*` this is `app/user.`; `null` for an exact name. */
  readonly prefix: string | null;
  /** Whether `name` is matched by this pattern, exactly as Inngest matches triggers. */
  matches(name: string): boolean;
}

/**
 * Returns what is wrong with a pattern, or `null` when it is valid. Used by the definition
 * schema (which adds the path) and by {@link compileEventPattern}.
 */
export function patternProblem(pattern: string): string | null {
  if (pattern.length === 0)
    return 'must not be empty; give an event name like "app/user.created" or a pattern like "app/*"';
  if (pattern.length > MAX_EVENT_NAME_LENGTH) {
    return `is ${pattern.length} characters long; at most ${MAX_EVENT_NAME_LENGTH} are allowed`;
  }
  const star = pattern.indexOf("*");
  if (star === -1) return null;
  if (pattern === "*") return `a bare "*" matches no event; ${WILDCARD_RULE}`;
  const last = pattern.length - 1;
  if (star !== last || pattern.indexOf("*", star + 1) !== -1) {
    return `has "*" at position ${star + 1} of ${JSON.stringify(pattern)}; ${WILDCARD_RULE}`;
  }
  const before = pattern[last - 1];
  if (before !== "/" && before !== ".") {
    return `has "*" right after ${JSON.stringify(before)} in ${JSON.stringify(pattern)}; ${WILDCARD_RULE}`;
  }
  return null;
}

/**
 * The wildcard patterns that match `name`, as Inngest generates them: `prefix*` for every `/` or
 * `.` in the name (the prefix includes that character). `app/user.created` gives `app/` and
 * `app/user.` (returned without the `*`).
 */
export function matchingPrefixes(name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 47 /* / */ || c === 46 /* . */) out.push(name.slice(0, i + 1));
  }
  return out;
}

/**
 * Checks an event name pattern and returns a matcher for it. A trailing `*` right after `/` or
 * `.` matches every name with that prefix, across any number of segments (`app/*` matches
 * `app/blog.post.published`, `a.*` matches `a.b/c`); any other `*`, or a bare `*`, throws a
 * {@link TriggerError} with code `invalid_pattern` saying where wildcards may go.
 *
 * @example
 * ```ts
 * import { compileEventPattern } from "@evt/triggers";
 * const p = compileEventPattern("shop/order.*");
 * p.matches("shop/order.created"); // true
 * p.matches("shop/order"); // false
 * ```
 */
export function compileEventPattern(pattern: string): EventPattern {
  if (typeof pattern !== "string") {
    throw new TriggerError("invalid_pattern", `pattern must be a string, got ${typeof pattern}`, {
      issues: [{ path: "pattern", message: `must be a string, got ${typeof pattern}` }],
    });
  }
  const problem = patternProblem(pattern);
  if (problem !== null) {
    throw new TriggerError("invalid_pattern", `pattern ${problem}`, {
      issues: [{ path: "pattern", message: problem }],
    });
  }
  const prefix = pattern.endsWith("*") ? pattern.slice(0, -1) : null;
  return {
    pattern,
    prefix,
    // Inngest matches `P*` iff the name starts with P (the name `P` itself included, as
    // `app/` generates `app/*`); see matchingPrefixes.
    matches:
      prefix === null
        ? (name: string) => name === pattern
        : (name: string) => name.startsWith(prefix),
  };
}

/**
 * Whether the event name `name` is matched by `pattern` (see {@link compileEventPattern}); throws
 * a {@link TriggerError} for an invalid pattern. Compile once with `compileEventPattern` when
 * testing many names.
 *
 * @example
 * ```ts
 * import { matchesEventName } from "@evt/triggers";
 * matchesEventName("app/*", "app/blog.post.published"); // true
 * matchesEventName("a.*", "a.b/c"); // true
 * ```
 */
export function matchesEventName(pattern: string, name: string): boolean {
  return compileEventPattern(pattern).matches(name);
}

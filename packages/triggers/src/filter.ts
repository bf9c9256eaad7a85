import { compileExpression, evaluateExpression, evaluateValue } from "./cel";
import { TriggerError } from "./errors";

/** A compiled CEL filter with evt's semantics (missing fields read as `null`). */
export interface ExpressionFilter {
  /** The expression as written. */
  readonly expression: string;
  /**
   * Evaluates the filter; never throws. `{ ok: false }` for a run-time error (a type error, a
   * non-bool result): callers treat that as "does not match".
   */
  evaluate(vars: {
    event: Record<string, unknown>;
    async?: Record<string, unknown> | null;
  }): { ok: true; value: boolean } | { ok: false; error: Error };
}

/**
 * Compiles a CEL `if` expression the way triggers use it, for other matching (e.g. a
 * wait-for-event `if` over `event` and `async`). Throws a {@link TriggerError} (code
 * `invalid_definition`, path `expression`) when it does not compile or does not give a bool.
 *
 * @example
 * ```ts
 * import { compileFilter } from "@evt/triggers";
 * const f = compileFilter("event.data.userId == async.data.userId");
 * f.evaluate({ event: { data: { userId: "u1" } }, async: { data: { userId: "u1" } } }); // { ok: true, value: true }
 * ```
 */
export function compileFilter(expression: string): ExpressionFilter {
  const compiled = typeof expression === "string" ? compileExpression(expression) : null;
  if (compiled === null || !compiled.ok) {
    const message =
      compiled === null ? `must be a string, got ${typeof expression}` : compiled.message;
    throw new TriggerError("invalid_definition", `expression ${message}`, {
      issues: [{ path: "expression", message }],
    });
  }
  const expr = compiled.expr;
  return {
    expression,
    evaluate: (vars) => evaluateExpression(expr, { event: vars.event, async: vars.async ?? null }),
  };
}

/** A compiled CEL key expression (a function's `idempotency`, a concurrency `key`). */
export interface KeyExpression {
  /** The expression as written. */
  readonly expression: string;
  /**
   * The key for an event: a string, a number or bool as text, a list or map as its JSON; `null`
   * when the expression reads `null` (a missing field). Never throws: a run-time error is
   * `{ ok: false }` (callers proceed without a key).
   */
  evaluate(
    event: Record<string, unknown>,
  ): { ok: true; key: string | null } | { ok: false; error: Error };
}

/**
 * Compiles a key expression such as `event.data.userId` or
 * `event.data.account + "-" + event.data.region`, with the same rules as `if` expressions
 * (missing fields read as `null`). Throws a {@link TriggerError} when it does not compile.
 *
 * @example
 * ```ts
 * import { compileKey } from "@evt/triggers";
 * compileKey("event.data.userId").evaluate({ data: { userId: "u1" } }); // { ok: true, key: "u1" }
 * ```
 */
export function compileKey(expression: string): KeyExpression {
  const compiled = typeof expression === "string" ? compileExpression(expression, true) : null;
  if (compiled === null || !compiled.ok) {
    const message =
      compiled === null ? `must be a string, got ${typeof expression}` : compiled.message;
    throw new TriggerError("invalid_definition", `expression ${message}`, {
      issues: [{ path: "expression", message }],
    });
  }
  const expr = compiled.expr;
  return {
    expression,
    evaluate(event) {
      const result = evaluateValue(expr, { event, async: null });
      if (!result.ok) return result;
      const v = result.value;
      if (v === null || v === undefined) return { ok: true, key: null };
      if (typeof v === "string") return { ok: true, key: v };
      if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint")
        return { ok: true, key: String(v) };
      try {
        return {
          ok: true,
          key: JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x)),
        };
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
      }
    },
  };
}

import { compileExpression, evaluateExpression } from "./cel";
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

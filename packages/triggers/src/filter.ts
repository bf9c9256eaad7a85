import { compileExpression, dialectOf, evaluateExpression, evaluateValue } from "./cel";
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

/** A compiled CEL value expression over named variables (see {@link compileValue}). */
export interface ValueExpression {
  /** The expression as written. */
  readonly expression: string;
  /**
   * The value for the given variables, as JSON: CEL ints become numbers (an error outside
   * ±2^53), maps become plain objects; `null` when the expression reads a missing field. Never
   * throws: a run-time error (division by zero, a type error, bytes or a non-finite double) is
   * `{ ok: false }` with the reason.
   */
  evaluate(
    vars: Record<string, unknown>,
  ): { ok: true; value: unknown } | { ok: false; error: Error };
}

/**
 * Compiles a CEL expression that computes a value from the given variables (each dyn), with the
 * same rules as `if` expressions (missing fields read as `null`, at most 250 levels deep, no
 * user code: CEL cannot loop or reach the process). Throws a {@link TriggerError} (code
 * `invalid_definition`, path `expression`) when it does not compile or reads another variable.
 *
 * @example
 * ```ts
 * import { compileValue } from "@evt/triggers";
 * const name = compileValue('"clerk/" + body.type', ["body", "headers", "query"]);
 * name.evaluate({ body: { type: "user.created" }, headers: {}, query: {} }); // { ok: true, value: "clerk/user.created" }
 * ```
 */
export function compileValue(expression: string, variables: readonly string[]): ValueExpression {
  const compiled =
    typeof expression === "string"
      ? compileExpression(expression, true, dialectOf(variables))
      : null;
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
    evaluate(vars) {
      const result = evaluateValue(expr, { ...vars });
      // The library's message shows the rewritten program after the first line: keep the reason.
      if (!result.ok) return { ok: false, error: new Error(result.error.message.split("\n")[0]) };
      try {
        return { ok: true, value: toJson(result.value) };
      } catch (err) {
        return { ok: false, error: err as Error };
      }
    },
  };
}

/** A CEL result as a JSON value; throws for what JSON cannot hold. */
function toJson(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "bigint":
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
        throw new Error(`gives the int ${v}, outside the numbers JSON holds exactly (±2^53)`);
      return Number(v);
    case "number":
      if (!Number.isFinite(v)) throw new Error(`gives ${v}, which JSON cannot hold`);
      return v;
  }
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[String(k)] = toJson(x);
    return out;
  }
  if (v instanceof Uint8Array) throw new Error("gives bytes, not a JSON value");
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as object)) out[k] = toJson(x);
    return out;
  }
  throw new Error(`gives a ${typeof v}, not a JSON value`);
}

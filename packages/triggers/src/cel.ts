import { type ASTNode, Environment, type ParseResult } from "@marcbachmann/cel-js";
import { type Prefilter, prefilterOf } from "./prefilter";

/**
 * Missing fields read as `null`, as Inngest's expressions do. Every field selection `a.b` and
 * index `a[k]` is rewritten to CEL's optional chaining, `a.?b.orValue(null)` (a chain `a.b.c`
 * becomes `a.?b.?c.orValue(null)`), and `has(a.b)` to `a.?b.hasValue()`: a missing key, or a
 * selection from `null` or from a value that is not a map, reads as `null` instead of raising
 * the standard "no such key" error. JSON numbers stay doubles (as in Inngest, which decodes
 * JSON to float64); CEL compares doubles with int literals, so `event.data.amount > 1000` and
 * `3 in event.data.ids` work, while arithmetic mixing them (`event.data.count + 1`) is a
 * run-time error: write `event.data.count + 1.0` or `int(event.data.count) + 1`.
 */
const env = new Environment({ homogeneousAggregateLiterals: false, enableOptionalTypes: true })
  .registerVariable("event", "map")
  .registerVariable("async", "dyn")
  // Inngest's own string helpers (pkg/expressions/exprenv/overloads.go).
  .registerFunction("lowercase(string): string", (s: string) => s.toLowerCase())
  .registerFunction("uppercase(string): string", (s: string) => s.toUpperCase());

/** A compiled `if` expression. */
export interface CompiledExpression {
  /** The expression as written. */
  readonly source: string;
  /** What the index may prefilter on (from the literals of the expression as written). */
  readonly prefilter: Prefilter | null;
  /** The rewritten, type-checked program. */
  readonly program: ParseResult;
}

export type CompileResult = { ok: true; expr: CompiledExpression } | { ok: false; message: string };

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/**
 * Compiles an `if` expression: parse, rewrite field selection to read missing fields as
 * `null`, type-check with `event` and `async` declared, and require a bool (or dyn) result.
 */
export function compileExpression(source: string): CompileResult {
  if (/\p{Surrogate}/u.test(source)) {
    return { ok: false, message: "must be well-formed Unicode (it holds a lone surrogate)" };
  }
  let ast: ASTNode;
  try {
    ast = env.parse(source).ast;
  } catch (err) {
    return { ok: false, message: `does not compile: ${firstLine((err as Error).message)}` };
  }
  let program: ParseResult;
  try {
    program = env.parse(emit(ast));
  } catch (err) {
    return { ok: false, message: `does not compile: ${firstLine((err as Error).message)}` };
  }
  const checked = program.check();
  if (!checked.valid) {
    return {
      ok: false,
      message: `does not compile: ${firstLine(checked.error?.message ?? "type error")}`,
    };
  }
  if (checked.type !== "bool" && checked.type !== "dyn") {
    return {
      ok: false,
      message: `must evaluate to a bool (true or false), but gives ${checked.type}; compare it, e.g. "... == 'value'"`,
    };
  }
  // The AST as written is dropped here: only its prefilter keys are kept.
  return { ok: true, expr: { source, prefilter: prefilterOf(ast), program } };
}

/** The variables of one evaluation: the event as stored, and `async` (null for triggers). */
export interface Activation {
  event: Record<string, unknown>;
  async: Record<string, unknown> | null;
}

export type EvalResult = { ok: true; value: boolean } | { ok: false; error: Error };

/** Evaluates a compiled expression; never throws. A non-bool result is an error. */
export function evaluateExpression(expr: CompiledExpression, activation: Activation): EvalResult {
  try {
    const value: unknown = expr.program(activation);
    if (typeof value === "boolean") return { ok: true, value };
    return {
      ok: false,
      error: new Error(`expression gave ${value === null ? "null" : typeof value}, not a bool`),
    };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

// ---- emitting the rewritten program -------------------------------------------------------
// The AST comes from the library's parser; this prints it back with every operator
// parenthesised and field selection turned into optional chaining. It is a printer, not a parser.

function emitValue(v: unknown): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return String(v);
    case "bigint":
      return String(v);
    case "string":
      return emitString(v);
    case "number": {
      if (Number.isNaN(v)) return 'double("NaN")';
      if (!Number.isFinite(v)) return v > 0 ? 'double("Infinity")' : 'double("-Infinity")';
      const s = String(v);
      return /[.eE]/.test(s) ? s : `${s}.0`;
    }
  }
  if (v instanceof Uint8Array) {
    let s = 'b"';
    for (const byte of v) s += `\\x${byte.toString(16).padStart(2, "0")}`;
    return `${s}"`;
  }
  if (typeof v === "object" && v !== null && "value" in v)
    return `${String((v as { value: unknown }).value)}u`;
  throw new Error(`unsupported literal ${String(v)}`);
}

function emitString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

const BINARY = new Set([
  "||",
  "&&",
  "==",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "in",
  "+",
  "-",
  "*",
  "/",
  "%",
]);

/** A selection as an optional: `a.?b`, `a[?k]`, chained through inner selections. */
function emitOptional(node: ASTNode): string {
  const n = node as { op: string; args: [ASTNode, unknown] };
  const inner = n.args[0] as { op: string };
  const receiver =
    inner.op === "." || inner.op === "[]" ? emitOptional(n.args[0]) : `(${emit(n.args[0])})`;
  return n.op === "."
    ? `${receiver}.?${n.args[1] as string}`
    : `${receiver}[?${emit(n.args[1] as ASTNode)}]`;
}

function emit(node: ASTNode): string {
  const n = node as { op: string; args: unknown };
  const a = n.args as never as unknown[];
  if (BINARY.has(n.op)) return `(${emit(a[0] as ASTNode)} ${n.op} ${emit(a[1] as ASTNode)})`;
  switch (n.op) {
    case "value":
      return emitValue(n.args);
    case "id":
      return n.args as string;
    case "!_":
      return `!(${emit(n.args as ASTNode)})`;
    case "-_":
      return `-(${emit(n.args as ASTNode)})`;
    case ".":
    case "[]":
      return `${emitOptional(node)}.orValue(null)`;
    case "call": {
      const [name, args] = a as [string, ASTNode[]];
      const only = args[0] as { op: string; args: [ASTNode, string] } | undefined;
      if (name === "has" && args.length === 1 && only?.op === ".") {
        return `${emitOptional(only as unknown as ASTNode)}.hasValue()`;
      }
      return `${name}(${args.map(emit).join(", ")})`;
    }
    case "rcall": {
      const [name, receiver, args] = a as [string, ASTNode, ASTNode[]];
      return `(${emit(receiver)}).${name}(${args.map(emit).join(", ")})`;
    }
    case "list":
      return `[${(a as ASTNode[]).map(emit).join(", ")}]`;
    case "map":
      return `{${(a as [ASTNode, ASTNode][]).map(([k, v]) => `${emit(k)}: ${emit(v)}`).join(", ")}}`;
    case "?:":
      return `(${emit(a[0] as ASTNode)} ? ${emit(a[1] as ASTNode)} : ${emit(a[2] as ASTNode)})`;
    default:
      // `.?` and `[?]` need optional types, which this environment does not enable.
      throw new Error(`unsupported syntax ${n.op}`);
  }
}

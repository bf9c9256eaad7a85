import { type ASTNode, Environment, type ParseResult } from "@marcbachmann/cel-js";

const hasOwn = Object.hasOwn;

/** A map, a list, or a scalar, as an expression sees a JSON value. */
type Value = unknown;

/**
 * Missing fields read as `null`, as Inngest's expressions do: `a.b` and `a["b"]` are rewritten to
 * `evt_get(a, "b")`, which returns `null` for a missing key or a `null`/absent map instead of
 * the standard CEL "no such key" error. Selecting from a value that is not a map (a string, a
 * number) is still an error. JSON numbers that are integers (safe range) read as CEL `int`, other
 * numbers as `double`, so `event.data.count + 1` and `3 in event.data.ids` work as written.
 */
function celValue(v: Value): Value {
  if (v === undefined) return null;
  if (typeof v === "number") return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(celValue);
  return v;
}

function select(obj: Value, key: Value): Value {
  if (obj === null || obj === undefined) return null;
  if (Array.isArray(obj)) {
    if (typeof key === "bigint" || (typeof key === "number" && Number.isInteger(key))) {
      return celValue(obj[Number(key)]);
    }
    throw new Error(`cannot select ${JSON.stringify(String(key))} from a list; use an int index`);
  }
  if (typeof obj !== "object") {
    throw new Error(`cannot select ${JSON.stringify(String(key))} from a ${typeof obj}`);
  }
  if (typeof key !== "string") throw new Error("map keys of events are strings");
  return hasOwn(obj, key) ? celValue((obj as Record<string, Value>)[key]) : null;
}

function hasField(obj: Value, key: Value): boolean {
  if (obj === null || obj === undefined || typeof obj !== "object" || Array.isArray(obj)) {
    return false;
  }
  return (
    typeof key === "string" && hasOwn(obj, key) && (obj as Record<string, Value>)[key] !== undefined
  );
}

const env = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable("event", "map")
  .registerVariable("async", "dyn")
  .registerFunction("evt_get(dyn, dyn): dyn", select)
  .registerFunction("evt_has(dyn, string): bool", hasField)
  // Inngest's own string helpers (pkg/expressions/exprenv/overloads.go).
  .registerFunction("lowercase(string): string", (s: string) => s.toLowerCase())
  .registerFunction("uppercase(string): string", (s: string) => s.toUpperCase());

/** A compiled `if` expression. */
export interface CompiledExpression {
  /** The expression as written. */
  readonly source: string;
  /** The AST of the expression as written (the prefilter reads its literals). */
  readonly ast: ASTNode;
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
  return { ok: true, expr: { source, ast, program } };
}

/** The variables of one evaluation: the event as stored, and `async` (null for triggers). */
export interface Activation {
  event: Record<string, Value>;
  async: Record<string, Value> | null;
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
// parenthesised and field selection replaced by evt_get/evt_has. It is a printer, not a parser.

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
    else if (c >= 0xd800 && c <= 0xdfff)
      out += "\\ufffd"; // a lone surrogate cannot be written
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
      return `evt_get(${emit(a[0] as ASTNode)}, ${emitString(a[1] as string)})`;
    case "[]":
      return `evt_get(${emit(a[0] as ASTNode)}, ${emit(a[1] as ASTNode)})`;
    case "call": {
      const [name, args] = a as [string, ASTNode[]];
      const only = args[0] as { op: string; args: [ASTNode, string] } | undefined;
      if (name === "has" && args.length === 1 && only?.op === ".") {
        return `evt_has(${emit(only.args[0])}, ${emitString(only.args[1])})`;
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

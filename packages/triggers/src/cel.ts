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
function makeEnv(variables: Record<string, "map" | "dyn">): Environment {
  let e = new Environment({ homogeneousAggregateLiterals: false, enableOptionalTypes: true });
  for (const [name, type] of Object.entries(variables)) e = e.registerVariable(name, type);
  return (
    e
      // the lifted literals of the expression (see build)
      .registerVariable("evt_vars", "list")
      // Inngest's own string helpers (pkg/expressions/exprenv/overloads.go).
      .registerFunction("lowercase(string): string", (s: string) => s.toLowerCase())
      .registerFunction("uppercase(string): string", (s: string) => s.toUpperCase())
  );
}

/**
 * The variables an expression may read, with the environment that declares them. Triggers read
 * `event` and `async`; other dialects (a webhook transform's `body`, `headers`, `query`) share
 * the rewriting, the limits and the program cache, keyed apart by `key`.
 */
export interface Dialect {
  readonly key: string;
  readonly env: Environment;
  /** Root variables holding dyn values (a missing field there reads as a plain `null`). */
  readonly roots: ReadonlySet<string>;
}

const dialects = new Map<string, Dialect>();

/** The dialect over the given variables, each of type dyn (made once per variable list). */
export function dialectOf(variables: readonly string[]): Dialect {
  const key = variables.join(",");
  let d = dialects.get(key);
  if (d === undefined) {
    d = {
      key,
      env: makeEnv(Object.fromEntries(variables.map((v) => [v, "dyn" as const]))),
      roots: new Set(variables),
    };
    dialects.set(key, d);
  }
  return d;
}

/** Triggers' dialect: `event` (a map) and `async`. */
const EVENT_DIALECT: Dialect = {
  key: "event",
  env: makeEnv({ event: "map", async: "dyn" }),
  roots: new Set(["event", "async"]),
};

/** The dialect of the expression being compiled (set by compileExpression). */
let dialect: Dialect = EVENT_DIALECT;

/** A compiled `if` expression. */
export interface CompiledExpression {
  /** The expression as written. */
  readonly source: string;
  /** What the index may prefilter on (from the literals of the expression as written). */
  readonly prefilter: Prefilter | null;
  /** The rewritten, type-checked program, shared by expressions of the same shape. */
  readonly program: ParseResult;
  /** The literals lifted out of the program, read by it as `evt_vars`. */
  readonly vars: unknown[];
}

export type CompileResult = { ok: true; expr: CompiledExpression } | { ok: false; message: string };

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

type Built = { ok: true; program: ParseResult; vars: unknown[] } | { ok: false; message: string };

/**
 * Programs by shape. Literals are lifted out of the program (`event.data.shop == "a"` runs as
 * `... == evt_vars[0]` with `["a"]`), as Inngest does, so that 10,000 filters differing only in
 * their literals share one program: built once, and hot in the CPU cache when evaluated. The
 * key holds the literals' types, since type checking depends on them. Bounded: cleared when full.
 */
const programs = new Map<string, ParseResult>();
const MAX_PROGRAMS = 10_000;

/** Where `emit` puts lifted literals; `null` prints them in place. */
let lifted: unknown[] | null = null;
/** `true` while {@link printExpression} prints an AST back as written (no optional chaining). */
let plain = false;

/** Parses an expression to its AST (the library's); throws on a syntax error. */
export function parseExpression(source: string): ASTNode {
  return EVENT_DIALECT.env.parse(source).ast;
}

/**
 * Prints an AST back as CEL source, as written: plain field selection, literals in place.
 * The result compiles to the same expression (used to rewrite `if`s, e.g. a wait's).
 */
export function printExpression(ast: ASTNode): string {
  plain = true;
  try {
    return emit(ast);
  } finally {
    plain = false;
  }
}

function emitLifted(ast: ASTNode): { text: string; vars: unknown[] } {
  const vars: unknown[] = [];
  lifted = vars;
  try {
    return { text: emit(ast), vars };
  } finally {
    lifted = null;
  }
}

function parseChecked(text: string, anyType = false): Built {
  let program: ParseResult;
  try {
    program = dialect.env.parse(text);
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
  if (!anyType && checked.type !== "bool" && checked.type !== "dyn") {
    return {
      ok: false,
      message: `must evaluate to a bool (true or false), but gives ${checked.type}; compare it, e.g. "... == 'value'"`,
    };
  }
  return { ok: true, program, vars: [] };
}

/** Rewrites and type-checks a parsed expression; returns its (shared) program and literals. */
function build(ast: ASTNode, anyType = false): Built {
  try {
    return buildShared(ast, anyType);
  } catch (err) {
    return { ok: false, message: `does not compile: ${firstLine((err as Error).message)}` };
  }
}

function buildShared(ast: ASTNode, anyType: boolean): Built {
  const { text, vars } = emitLifted(ast);
  const key = `${dialect.key}\u0000${anyType ? "any" : "bool"}\u0000${text}\u0000${vars.map((v) => typeof v).join(",")}`;
  const cached = programs.get(key);
  if (cached) return { ok: true, program: cached, vars };
  // A new shape: type-check it with its literals in place (their types matter), then build the
  // lifted program that every expression of this shape shares.
  const plain = parseChecked(emit(ast), anyType);
  if (!plain.ok) return plain;
  const shared = parseChecked(text, anyType);
  if (!shared.ok) return plain; // cannot happen (dyn is looser); the plain program still works
  if (programs.size >= MAX_PROGRAMS) programs.clear();
  programs.set(key, shared.program);
  return { ok: true, program: shared.program, vars };
}

/**
 * Compiles an `if` expression: parse, rewrite field selection to read missing fields as
 * `null`, type-check with `event` and `async` declared, and require a bool (or dyn) result.
 * Expressions that differ only in their literals share one program (see `programs`), which keeps
 * 100,000 filters cheap to build and small in memory.
 */
export function compileExpression(
  source: string,
  anyType = false,
  over: Dialect = EVENT_DIALECT,
): CompileResult {
  dialect = over;
  try {
    return compileIn(source, anyType);
  } finally {
    dialect = EVENT_DIALECT;
  }
}

function compileIn(source: string, anyType: boolean): CompileResult {
  if (/\p{Surrogate}/u.test(source)) {
    return { ok: false, message: "must be well-formed Unicode (it holds a lone surrogate)" };
  }
  let ast: ASTNode;
  try {
    ast = dialect.env.parse(source).ast;
  } catch (err) {
    return { ok: false, message: `does not compile: ${firstLine((err as Error).message)}` };
  }
  const depth = depthOf(ast);
  if (depth > MAX_DEPTH) {
    return {
      ok: false,
      message: `nests ${depth} levels deep; at most ${MAX_DEPTH} are allowed (write a long list of alternatives as "event.data.x in [...]")`,
    };
  }
  const prefilter = prefilterOf(ast);
  const built = build(ast, anyType);
  if (!built.ok) return built;
  // The AST as written is dropped here: only its prefilter keys are kept.
  return { ok: true, expr: { source, prefilter, program: built.program, vars: built.vars } };
}

/** The deepest an expression may nest; CEL's parser allows as much, and evaluation stays safe. */
const MAX_DEPTH = 250;

/** How deep the AST nests (a chain `a || b || c` nests as deep as it is long). */
function depthOf(node: ASTNode): number {
  const n = node as { op: string; args: unknown };
  let kids: unknown[];
  switch (n.op) {
    case "value":
    case "id":
      return 1;
    case "!_":
    case "-_":
      kids = [n.args];
      break;
    case ".":
    case ".?":
      kids = [(n.args as unknown[])[0]];
      break;
    case "call":
      kids = (n.args as [string, unknown[]])[1];
      break;
    case "rcall": {
      const [, receiver, args] = n.args as [string, unknown, unknown[]];
      kids = [receiver, ...args];
      break;
    }
    case "map":
      kids = (n.args as unknown[][]).flat();
      break;
    default:
      kids = n.args as unknown[];
  }
  let max = 0;
  for (const k of kids) max = Math.max(max, depthOf(k as ASTNode));
  return max + 1;
}

/** The variables of one evaluation: the event as stored, and `async` (null for triggers). */
export interface Activation {
  event: Record<string, unknown>;
  async: Record<string, unknown> | null;
  /** Set by evaluateExpression to the expression's lifted literals. */
  evt_vars?: unknown[];
}

export type EvalResult = { ok: true; value: boolean } | { ok: false; error: Error };

/** Evaluates a compiled expression; never throws. A non-bool result is an error. */
export function evaluateExpression(expr: CompiledExpression, activation: Activation): EvalResult {
  try {
    const program = expr.program;
    activation.evt_vars = expr.vars;
    const value: unknown = program(activation);
    if (typeof value === "boolean") return { ok: true, value };
    return {
      ok: false,
      error: new Error(`expression gave ${value === null ? "null" : typeof value}, not a bool`),
    };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/** Evaluates a compiled expression for its value (a key expression); never throws. */
export function evaluateValue(
  expr: CompiledExpression,
  activation: Activation | { [variable: string]: unknown; evt_vars?: unknown[] },
): { ok: true; value: unknown } | { ok: false; error: Error } {
  try {
    activation.evt_vars = expr.vars;
    return { ok: true, value: expr.program(activation) as unknown };
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

/** CEL's binary operators by precedence (higher binds tighter). */
const PRECEDENCE: Record<string, number> = {
  "||": 1,
  "&&": 2,
  "==": 3,
  "!=": 3,
  "<": 3,
  "<=": 3,
  ">": 3,
  ">=": 3,
  in: 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
};

/** A primary expression needs no parentheses as a receiver or operand. */
function isPrimary(op: string): boolean {
  return op === "value" || op === "id" || op === "call" || op === "list" || op === "map";
}

/**
 * An operand of a binary operator, in parentheses only where precedence needs them (operators
 * are left-associative), so that the printed program nests no deeper than the expression as
 * written: the parser's depth limit then applies to both alike.
 */
function operand(node: ASTNode, parent: number, right: boolean): string {
  const p = PRECEDENCE[(node as { op: string }).op];
  const text = emit(node);
  if (p === undefined) return (node as { op: string }).op === "?:" ? `(${text})` : text;
  return p < parent || (right && p === parent) ? `(${text})` : text;
}

/** Whether a selection chain starts at `event` or `async`. */
function rootIsDyn(node: ASTNode): boolean {
  let n = node as { op: string; args: unknown };
  while (n.op === "." || n.op === "[]") n = (n.args as [typeof n])[0];
  return n.op === "id" && dialect.roots.has(n.args as unknown as string);
}

/** A selection as an optional: `a.?b`, `a[?k]`, chained through inner selections. */
function emitOptional(node: ASTNode): string {
  const n = node as { op: string; args: [ASTNode, unknown] };
  const inner = n.args[0] as { op: string };
  const receiver =
    inner.op === "." || inner.op === "[]"
      ? emitOptional(n.args[0])
      : isPrimary(inner.op)
        ? emit(n.args[0])
        : `(${emit(n.args[0])})`;
  return n.op === "."
    ? `${receiver}.?${n.args[1] as string}`
    : `${receiver}[?${emit(n.args[1] as ASTNode)}]`;
}

function emit(node: ASTNode): string {
  const n = node as { op: string; args: unknown };
  const a = n.args as never as unknown[];
  const prec = PRECEDENCE[n.op];
  if (prec !== undefined) {
    return `${operand(a[0] as ASTNode, prec, false)} ${n.op} ${operand(a[1] as ASTNode, prec, true)}`;
  }
  switch (n.op) {
    case "value": {
      const v = n.args;
      if (
        lifted !== null &&
        (typeof v === "string" || typeof v === "bigint" || typeof v === "number")
      ) {
        lifted.push(v);
        return `evt_vars[${lifted.length - 1}]`;
      }
      return emitValue(v);
    }
    case "id":
      return n.args as string;
    case "!_":
      return `!(${emit(n.args as ASTNode)})`;
    case "-_":
      return `-(${emit(n.args as ASTNode)})`;
    case ".":
    case "[]": {
      if (plain) {
        const [inner, key] = a as [ASTNode, unknown];
        const op = (inner as { op: string }).op;
        const recv = isPrimary(op) || op === "." || op === "[]" ? emit(inner) : `(${emit(inner)})`;
        return n.op === "." ? `${recv}.${key as string}` : `${recv}[${emit(key as ASTNode)}]`;
      }
      // `event` and `async` hold dyn values, so `null` fits; a typed receiver (a map literal,
      // a macro variable over one) needs `dyn(null)` to type-check.
      return `${emitOptional(node)}.orValue(${rootIsDyn(node) ? "null" : "dyn(null)"})`;
    }
    case "call": {
      const [name, args] = a as [string, ASTNode[]];
      const only = args[0] as { op: string; args: [ASTNode, string] } | undefined;
      if (!plain && name === "has" && args.length === 1 && only?.op === ".") {
        return `${emitOptional(only as unknown as ASTNode)}.hasValue()`;
      }
      return `${name}(${args.map(emit).join(", ")})`;
    }
    case "rcall": {
      const [name, receiver, args] = a as [string, ASTNode, ASTNode[]];
      const recv = isPrimary((receiver as { op: string }).op)
        ? emit(receiver)
        : `(${emit(receiver)})`;
      return `${recv}.${name}(${args.map(emit).join(", ")})`;
    }
    case "list":
      return `[${(a as ASTNode[]).map(emit).join(", ")}]`;
    case "map":
      return `{${(a as [ASTNode, ASTNode][]).map(([k, v]) => `${emit(k)}: ${emit(v)}`).join(", ")}}`;
    case "?:":
      return `${operand(a[0] as ASTNode, 1, true)} ? ${emit(a[1] as ASTNode)} : ${emit(a[2] as ASTNode)}`;
    case ".?":
    case "[?]": {
      // optional selection written by the user: kept as it is (it already yields an optional)
      const [inner, key] = a as [ASTNode, unknown];
      const op = (inner as { op: string }).op;
      const recv = isPrimary(op) || op === "." || op === "[]" ? emit(inner) : `(${emit(inner)})`;
      return n.op === ".?" ? `${recv}.?${key as string}` : `${recv}[?${emit(key as ASTNode)}]`;
    }
    default:
      throw new Error(`unsupported syntax ${n.op}`);
  }
}

import type { ASTNode } from "@marcbachmann/cel-js";
import { parseExpression, printExpression } from "./cel";
import { TriggerError } from "./errors";

type Node = { op: string; args: unknown };

/** The most characters of a wait's `if` (as written, and once interpolated). */
export const MAX_WAIT_EXPRESSION_LENGTH = 16_384;

function fail(message: string): never {
  throw new TriggerError("invalid_argument", message);
}

/** A JSON value as an AST literal (maps and lists as literals of literals). */
function literal(value: unknown): Node {
  if (value === undefined || value === null) return { op: "value", args: null };
  if (typeof value === "string" || typeof value === "boolean") return { op: "value", args: value };
  if (typeof value === "number") return { op: "value", args: value };
  if (Array.isArray(value)) return { op: "list", args: value.map(literal) };
  if (typeof value === "object") {
    return {
      op: "map",
      args: Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        { op: "value", args: k },
        literal(v),
      ]),
    };
  }
  return { op: "value", args: null };
}

/** `event.a["b"]` as `["a", "b"]` (`[]` for `event` itself), or `null` when not rooted at `event`. */
function eventPath(node: Node): string[] | null {
  const out: string[] = [];
  let n = node;
  for (;;) {
    if (n.op === "." || n.op === ".?") {
      const [inner, key] = n.args as [Node, string];
      out.push(key);
      n = inner;
    } else if (n.op === "[]" || n.op === "[?]") {
      const [inner, key] = n.args as [Node, Node];
      if (key.op !== "value" || typeof key.args !== "string") return null;
      out.push(key.args);
      n = inner;
    } else if (n.op === "id" && n.args === "event") {
      return out.reverse();
    } else {
      return null;
    }
  }
}

function lookup(root: unknown, path: string[]): unknown {
  let v = root;
  for (const k of path) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
    v = (v as Record<string, unknown>)[k];
  }
  return v ?? null;
}

function rewrite(node: Node, event: Record<string, unknown> | null): Node {
  if (event !== null) {
    const path = eventPath(node);
    if (path !== null) return literal(lookup(event, path));
  }
  if (node.op === "id") {
    if (event === null && node.args === "async") return { op: "id", args: "event" };
    return node;
  }
  if (node.op === "value") return node;
  const args = node.args;
  const map = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(map)
      : typeof x === "object" && x !== null && typeof (x as Node).op === "string"
        ? rewrite(x as Node, event)
        : x;
  return { op: node.op, args: map(args) };
}

function parse(source: string, what: string): Node {
  if (typeof source !== "string" || source.trim() === "")
    fail(`${what} must be a non-empty CEL expression`);
  if (source.length > MAX_WAIT_EXPRESSION_LENGTH)
    fail(`${what} is ${source.length} characters long; at most ${MAX_WAIT_EXPRESSION_LENGTH}`);
  try {
    return parseExpression(source) as unknown as Node;
  } catch (err) {
    fail(`${what} does not compile: ${(err as Error).message.split("\n")[0]}`);
  }
}

/**
 * Interpolates a `step.waitForEvent` / `cancelOn` `if` for one run, as Inngest does when it
 * records the wait: every `event.*` (the run's own event) becomes the literal it holds, so
 * that the expression only reads `async` (the incoming event). `async.data.id == event.data.id`
 * with `event.data.id` = `"u1"` gives `async.data.id == "u1"`. Missing fields become `null`.
 * Throws a {@link TriggerError} (`invalid_argument`) when the expression does not parse.
 *
 * @example
 * ```ts
 * import { interpolateWaitExpression } from "@evt/triggers";
 *
 * interpolateWaitExpression("async.data.id == event.data.id", { data: { id: "u1" } });
 * // 'async.data.id == "u1"'
 * ```
 */
export function interpolateWaitExpression(source: string, event: Record<string, unknown>): string {
  const out = printExpression(rewrite(parse(source, "the wait's if"), event) as unknown as ASTNode);
  if (out.length > MAX_WAIT_EXPRESSION_LENGTH)
    fail(
      `the wait's if is ${out.length} characters long once the run's event is put in; at most ${MAX_WAIT_EXPRESSION_LENGTH}`,
    );
  return out;
}

/**
 * An interpolated wait expression (over `async`) as a trigger `if` over `event`, for
 * `createTriggerIndex`: `async.data.id == "u1"` gives `event.data.id == "u1"`, which the index
 * looks up by value.
 *
 * @example
 * ```ts
 * import { createTriggerIndex, waitMatchExpression } from "@evt/triggers";
 *
 * const index = createTriggerIndex([
 *   { id: "wait-1", triggers: [{ event: "app/paid", expression: waitMatchExpression('async.data.id == "u1"') }] },
 * ]);
 * index.match({ name: "app/paid", data: { id: "u1" } }); // [{ functionId: "wait-1", ... }]
 * ```
 */
export function waitMatchExpression(interpolated: string): string {
  const ast = parse(interpolated, "the wait's if");
  if (eventPath(ast) !== null || JSON.stringify(ast).includes('"op":"id","args":"event"'))
    fail("the wait's if still reads `event`; interpolate it first (interpolateWaitExpression)");
  return printExpression(rewrite(ast, null) as unknown as ASTNode);
}

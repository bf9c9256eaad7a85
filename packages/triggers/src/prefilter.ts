import type { ASTNode } from "@marcbachmann/cel-js";

/**
 * What the index may assume about an expression: it can only be true when at least one of its
 * keys holds for the event. Each key is a test on one field of the event, read by a path from
 * the event's root (`["data", "shop"]` for `event.data.shop`).
 *
 * The rules keep this sound under CEL's semantics (an error absorbed by `false && ...` and
 * `true || ...`; an expression that ends in an error does not match): `a && b` is true only if
 * `a` is, so one conjunct's keys suffice; `a || b` needs the keys of both.
 */
export type PrefilterKey =
  /** `path == literal` or `path in [literals]`: the field's value, typed, is `value`. */
  | { kind: "eq"; path: string[]; value: string }
  /** `path < n`, `<=`, `>`, `>=` with a number literal (on either side, flipped to this form). */
  | { kind: "range"; path: string[]; op: "<" | "<=" | ">" | ">="; bound: number };

/**
 * The typed key of a value as the index hashes it, or `null` for values no key describes
 * (maps, lists, unsafe integers). `null` and a missing field share the key `"z"`.
 */
export function valueKey(v: unknown): string | null {
  switch (typeof v) {
    case "string":
      return `s${v}`;
    case "number":
      return Number.isNaN(v) ? null : `n${v === 0 ? 0 : v}`;
    case "bigint":
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? `n${Number(v)}`
        : null;
    case "boolean":
      return v ? "bt" : "bf";
    case "undefined":
      return "z";
    case "object":
      return v === null ? "z" : null;
    default:
      return null;
  }
}

type Node = { op: string; args: unknown };

/** `event.a.b` / `event["a"]` as `["a", "b"]`; `null` for anything else. */
function pathOf(node: Node): string[] | null {
  const out: string[] = [];
  let n = node;
  for (;;) {
    if (n.op === ".") {
      const [inner, key] = n.args as [Node, string];
      out.push(key);
      n = inner;
    } else if (n.op === "[]") {
      const [inner, key] = n.args as [Node, Node];
      if (key.op !== "value" || typeof key.args !== "string") return null;
      out.push(key.args);
      n = inner;
    } else if (n.op === "id" && n.args === "event") {
      return out.length === 0 ? null : out.reverse();
    } else {
      return null;
    }
  }
}

/** A literal's value (`-5` included), or `undefined` when the node is not a plain literal. */
function literalOf(node: Node): unknown {
  if (node.op === "value") {
    const v = node.args;
    return v === null || ["string", "number", "bigint", "boolean"].includes(typeof v)
      ? v
      : undefined;
  }
  if (node.op === "-_") {
    const inner = node.args as Node;
    if (
      inner.op === "value" &&
      (typeof inner.args === "number" || typeof inner.args === "bigint")
    ) {
      return -inner.args;
    }
  }
  return undefined;
}

function numberOf(v: unknown): number | null {
  if (typeof v === "number") return Number.isNaN(v) ? null : v;
  if (typeof v === "bigint") {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

const FLIP = { "<": ">", "<=": ">=", ">": "<", ">=": "<=" } as const;

/** Lower is better: how many events the keys let through, roughly. */
function cost(keys: PrefilterKey[]): number {
  let c = 0;
  for (const k of keys)
    c += k.kind === "range" ? 1000 : k.value === "z" ? 100 : k.value[0] === "b" ? 10 : 1;
  return c;
}

/**
 * What the index knows of an expression: `keys` (see {@link PrefilterKey}); and `exact` when the
 * expression is true exactly when one of its keys holds (a single comparison, `in`, or an `||`
 * of them), so that a hit needs no CEL evaluation to confirm it. After `&&` only one conjunct is
 * keyed, so a hit is confirmed by CEL.
 */
export interface Prefilter {
  keys: PrefilterKey[];
  exact: boolean;
}

/** The prefilter of an expression, or `null` when it cannot be indexed. */
export function prefilterOf(ast: ASTNode): Prefilter | null {
  const keys = keysOf(ast as unknown as Node);
  if (keys === null) return null;
  return { keys, exact: isExact(ast as unknown as Node) };
}

function isExact(node: Node): boolean {
  if (node.op === "||") {
    const [l, r] = node.args as [Node, Node];
    return isExact(l) && isExact(r);
  }
  return node.op !== "&&" && keysOf(node) !== null;
}

function keysOf(node: Node): PrefilterKey[] | null {
  switch (node.op) {
    case "&&": {
      const [l, r] = node.args as [Node, Node];
      const a = keysOf(l);
      const b = keysOf(r);
      if (a === null) return b;
      if (b === null) return a;
      return cost(b) < cost(a) ? b : a;
    }
    case "||": {
      const [l, r] = node.args as [Node, Node];
      const a = keysOf(l);
      const b = a === null ? null : keysOf(r);
      return a === null || b === null ? null : [...a, ...b];
    }
    case "==": {
      const [l, r] = node.args as [Node, Node];
      let path = pathOf(l);
      let lit = literalOf(r);
      if (path === null || lit === undefined) {
        path = pathOf(r);
        lit = literalOf(l);
      }
      if (path === null || lit === undefined) return null;
      const value = valueKey(lit);
      return value === null ? null : [{ kind: "eq", path, value }];
    }
    case "in": {
      const [l, r] = node.args as [Node, Node];
      const path = pathOf(l);
      if (path === null || r.op !== "list") return null;
      const keys: PrefilterKey[] = [];
      for (const item of r.args as Node[]) {
        const lit = literalOf(item);
        const value = lit === undefined ? null : valueKey(lit);
        if (value === null) return null;
        keys.push({ kind: "eq", path, value });
      }
      return keys;
    }
    case "<":
    case "<=":
    case ">":
    case ">=": {
      const op = node.op;
      const [l, r] = node.args as [Node, Node];
      const lp = pathOf(l);
      if (lp !== null) {
        const bound = numberOf(literalOf(r));
        return bound === null ? null : [{ kind: "range", path: lp, op, bound }];
      }
      const rp = pathOf(r);
      const bound = numberOf(literalOf(l));
      return rp === null || bound === null
        ? null
        : [{ kind: "range", path: rp, op: FLIP[op], bound }];
    }
    case ".":
    case "[]": {
      // A bare field used as a condition is true only when the field is the bool true.
      const path = pathOf(node);
      return path === null ? null : [{ kind: "eq", path, value: "bt" }];
    }
    default:
      return null;
  }
}

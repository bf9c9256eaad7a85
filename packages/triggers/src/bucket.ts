import type { CompiledExpression } from "./cel";
import type { CompiledFunction } from "./definitions";
import type { PrefilterKey } from "./prefilter";
import { RangeList } from "./range-list";

/** One event trigger of one function, as stored in a bucket. */
export interface Entry {
  fn: FnRecord;
  /** Copies of fn.id and fn.seq: one pointer less to chase per match. */
  id: string;
  seq: number;
  triggerIndex: number;
  expr: CompiledExpression | null;
  /** The prefilter keys, or `null` when the expression cannot be indexed (or there is none). */
  keys: PrefilterKey[] | null;
  /** A prefilter hit is a match: the expression is true exactly when one of its keys holds. */
  exact: boolean;
}

export interface FnRecord {
  id: string;
  /** Insertion order: results come in this order. */
  seq: number;
  compiled: CompiledFunction;
  entries: Entry[];
  buckets: Set<Bucket>;
}

interface EqGroup {
  path: string[];
  values: Map<string, Entry[]>;
}

interface RangeGroup {
  path: string[];
  lists: Record<"<" | "<=" | ">" | ">=", RangeList<Entry>>;
}

// Shared empty placeholders (never written to): most buckets have no filters at all.
const NONE: Entry[] = [];
const NO_GROUPS = new Map<string, never>();

/** Everything triggered by one exact name or one wildcard prefix. */
export class Bucket {
  entries: Entry[] = [];
  /** The only entry, when the bucket holds just one trigger without an expression (common). */
  single: Entry | null = null;
  /** Entries without an expression: they match without evaluation. */
  plain: Entry[] = [];
  /** Entries whose expression the prefilter cannot use: always evaluated. */
  fallback: Entry[] = NONE;
  eq: Map<string, EqGroup> = NO_GROUPS as Map<string, EqGroup>;
  ranges: Map<string, RangeGroup> = NO_GROUPS as Map<string, RangeGroup>;

  insert(e: Entry): void {
    this.entries.push(e);
    this.place(e);
    this.single = this.entries.length === 1 && e.expr === null ? e : null;
  }

  private place(e: Entry): void {
    if (e.expr === null) {
      this.plain.push(e);
      return;
    }
    if (e.keys === null) {
      if (this.fallback === NONE) this.fallback = [];
      this.fallback.push(e);
      return;
    }
    for (const k of e.keys) {
      const pk = JSON.stringify(k.path);
      if (k.kind === "eq") {
        if (this.eq === NO_GROUPS) this.eq = new Map();
        let g = this.eq.get(pk);
        if (!g) {
          g = { path: k.path, values: new Map() };
          this.eq.set(pk, g);
        }
        const list = g.values.get(k.value);
        if (list) list.push(e);
        else g.values.set(k.value, [e]);
      } else {
        if (this.ranges === NO_GROUPS) this.ranges = new Map();
        let g = this.ranges.get(pk);
        if (!g) {
          g = {
            path: k.path,
            lists: {
              "<": new RangeList(),
              "<=": new RangeList(),
              ">": new RangeList(),
              ">=": new RangeList(),
            },
          };
          this.ranges.set(pk, g);
        }
        g.lists[k.op].add(k.bound, e);
      }
    }
  }

  /** Drops the entries of removed functions; rebuilds only this bucket's lookups. */
  prune(removed: Set<FnRecord>): void {
    const keep = this.entries.filter((e) => !removed.has(e.fn));
    this.entries = [];
    this.plain = [];
    this.fallback = NONE;
    this.eq = NO_GROUPS as Map<string, EqGroup>;
    this.ranges = NO_GROUPS as Map<string, RangeGroup>;
    this.single = null;
    for (const e of keep) this.insert(e);
  }
}

/**
 * Reads a field of the event the way the rewritten expression does (optional chaining): a
 * missing key, or a selection from anything but a map, reads as null.
 */
export function resolve(root: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return null;
    cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : null;
  }
  return cur === undefined ? null : cur;
}

import { Bucket, type Entry, type FnRecord, resolve } from "./bucket";
import { type Activation, evaluateExpression } from "./cel";
import { type CompiledFunction, compileFunctions, type FunctionDefinition } from "./definitions";
import { issuesError, type TriggerIssue } from "./errors";
import { valueKey } from "./prefilter";
import type {
  CronEntry,
  TriggerEvent,
  TriggerIndexOptions,
  TriggerIndexStats,
  TriggerMatch,
} from "./types";

function viewOf(event: TriggerEvent, name: string): Record<string, unknown> {
  return {
    name,
    data: event.data ?? {},
    user: event.user ?? null,
    id: event.id ?? null,
    ts: event.ts ?? null,
    v: event.v ?? null,
  };
}

function byFunctionThenTrigger(x: Entry, y: Entry): number {
  return x.seq - y.seq || x.triggerIndex - y.triggerIndex;
}

function inOrder(list: Entry[]): boolean {
  for (let i = 1; i < list.length; i++)
    if (byFunctionThenTrigger(list[i - 1]!, list[i]!) > 0) return false;
  return true;
}

/** An index of function triggers, built once and updated per app. See {@link createTriggerIndex}. */
export interface TriggerIndex {
  /**
   * The functions `event` starts, at most one entry per function (its first matching trigger),
   * in the order the functions were added. Never throws: an expression that fails at run time
   * does not match and goes to `onEvaluationError`.
   */
  match(event: TriggerEvent): TriggerMatch[];
  /**
   * Adds functions. Throws a `TriggerError` (code `invalid_definition`, every problem in
   * `issues`) for an invalid definition or an id already in the index, and then stores nothing
   * of this call.
   */
  add(functions: readonly FunctionDefinition[]): void;
  /** Removes functions by id (unknown ids are ignored); returns how many were removed. */
  remove(functionIds: Iterable<string>): number;
  /** Whether a function with this id is in the index. */
  has(functionId: string): boolean;
  /** Every cron trigger, in the order the functions were added. */
  crons(): CronEntry[];
  /** Counts of what the index holds and has done. */
  stats(): TriggerIndexStats;
}

/**
 * Builds an index of function triggers that answers, per event, which functions it starts.
 * Names are looked up by hash (exact names, and each `/`- or `.`-prefix of the event name for
 * wildcards), never by scanning functions; expressions are prefiltered on their literals
 * (string `==` and `in`, number comparisons, `== null`) and confirmed by CEL. Several triggers
 * of one function combine as OR; an event starts a function at most once. No I/O, no timers.
 *
 * @example
 * ```ts
 * import { createTriggerIndex } from "@evt/triggers";
 * const index = createTriggerIndex([
 *   { id: "shop-a-orders", triggers: [{ event: "shop/order.*", expression: "event.data.shop == 'a'" }] },
 *   { id: "weekly-report", triggers: [{ cron: "TZ=Europe/Paris 0 12 * * 5" }] },
 * ]);
 * index.match({ name: "shop/order.created", data: { shop: "a" } });
 * // [{ functionId: "shop-a-orders", triggerIndex: 0 }]
 * ```
 */
export function createTriggerIndex(
  functions: readonly FunctionDefinition[] = [],
  options: TriggerIndexOptions = {},
): TriggerIndex {
  const exact = new Map<string, Bucket>();
  const prefixes = new Map<string, Bucket>();
  const byId = new Map<string, FnRecord>();
  let seq = 0;
  const counts = {
    eventTriggers: 0,
    cronTriggers: 0,
    expressions: 0,
    indexed: 0,
    exact: 0,
    fallback: 0,
  };
  const runtime = { events: 0, evaluations: 0, errors: 0 };
  const onError = options.onEvaluationError;

  function count(fn: CompiledFunction, sign: 1 | -1, entries: Entry[]): void {
    for (const t of fn.triggers) {
      if (t.kind === "cron") counts.cronTriggers += sign;
      else counts.eventTriggers += sign;
    }
    for (const e of entries) {
      if (e.expr === null) continue;
      counts.expressions += sign;
      if (e.keys === null) counts.fallback += sign;
      else counts.indexed += sign;
      if (e.exact) counts.exact += sign;
    }
  }

  function add(input: readonly FunctionDefinition[]): void {
    const compiled = compileFunctions(input);
    if (!compiled.ok)
      throw issuesError("invalid_definition", "the function definitions", compiled.issues);
    const clashes: TriggerIssue[] = [];
    compiled.functions.forEach((fn, i) => {
      if (byId.has(fn.id)) {
        clashes.push({
          path: `functions[${i}].id`,
          message: `${JSON.stringify(fn.id)} is already in the index; remove it first to replace it`,
        });
      }
    });
    if (clashes.length > 0)
      throw issuesError("invalid_definition", "the function definitions", clashes);
    // Nothing below can fail: the call is stored whole.
    for (const fn of compiled.functions) {
      const entries: Entry[] = [];
      const rec: FnRecord = { id: fn.id, seq: seq++, compiled: fn, entries, buckets: new Set() };
      byId.set(fn.id, rec);
      fn.triggers.forEach((t, triggerIndex) => {
        if (t.kind !== "event") return;
        const e: Entry = {
          fn: rec,
          id: rec.id,
          seq: rec.seq,
          triggerIndex,
          expr: t.expression,
          keys: t.expression?.prefilter?.keys ?? null,
          exact: t.expression?.prefilter?.exact ?? false,
        };
        entries.push(e);
        const prefix = t.prefix;
        const map = prefix === null ? exact : prefixes;
        const key = prefix ?? t.event;
        let b = map.get(key);
        if (!b) {
          b = new Bucket();
          map.set(key, b);
        }
        b.insert(e);
        rec.buckets.add(b);
      });
      count(fn, 1, entries);
    }
  }

  function remove(ids: Iterable<string>): number {
    const removed = new Set<FnRecord>();
    for (const id of ids) {
      const rec = byId.get(id);
      if (rec) removed.add(rec);
    }
    if (removed.size === 0) return 0;
    const touched = new Set<Bucket>();
    for (const rec of removed) {
      byId.delete(rec.id);
      count(rec.compiled, -1, rec.entries);
      for (const b of rec.buckets) touched.add(b);
    }
    for (const b of touched) b.prune(removed);
    for (const map of [exact, prefixes]) {
      for (const [k, b] of map) if (b.entries.length === 0) map.delete(k);
    }
    return removed.size;
  }

  function collect(b: Bucket, event: TriggerEvent, name: string, out: Entry[]): void {
    if (b.single !== null) {
      out.push(b.single);
      return;
    }
    for (const e of b.plain) out.push(e);
    for (const e of b.fallback) out.push(e);
    if (b.eq.size > 0) {
      view ??= viewOf(event, name);
      for (const g of b.eq.values()) {
        const k = valueKey(resolve(view, g.path));
        if (k === null) continue;
        const hit = g.values.get(k);
        if (hit) for (const e of hit) out.push(e);
      }
    }
    if (b.ranges.size > 0) {
      view ??= viewOf(event, name);
      for (const g of b.ranges.values()) {
        const raw = resolve(view, g.path);
        const v =
          typeof raw === "number" ? raw : typeof raw === "bigint" ? Number(raw) : Number.NaN;
        if (Number.isNaN(v)) continue;
        g.lists["<"].above(v, out); // path < bound: bounds above v
        g.lists["<="].atOrAbove(v, out);
        g.lists[">"].below(v, out);
        g.lists[">="].atOrBelow(v, out);
      }
    }
  }

  /** The event as expressions see it; built once per match, and only when needed. */
  let view: Record<string, unknown> | null = null;

  function match(event: TriggerEvent): TriggerMatch[] {
    runtime.events++;
    const name = (event as { name?: unknown } | null)?.name;
    if (typeof name !== "string") return [];
    view = null;
    const candidates: Entry[] = [];
    const b = exact.get(name);
    if (b) collect(b, event, name, candidates);
    if (prefixes.size > 0) {
      for (let i = 0; i < name.length; i++) {
        const c = name.charCodeAt(i);
        if (c !== 47 && c !== 46) continue;
        const pb = prefixes.get(name.slice(0, i + 1));
        if (pb) collect(pb, event, name, candidates);
      }
    }
    if (candidates.length === 0) return [];
    if (candidates.length > 1 && !inOrder(candidates)) candidates.sort(byFunctionThenTrigger);
    const out: TriggerMatch[] = [];
    let activation: Activation | undefined;
    let done: FnRecord | null = null;
    let last: Entry | null = null;
    for (const e of candidates) {
      if (e.fn === done || e === last) continue;
      last = e;
      if (e.expr !== null && !e.exact) {
        view ??= viewOf(event, name);
        activation ??= { event: view, async: null };
        runtime.evaluations++;
        const r = evaluateExpression(e.expr, activation);
        if (!r.ok) {
          runtime.errors++;
          if (onError) {
            try {
              onError({
                functionId: e.fn.id,
                triggerIndex: e.triggerIndex,
                expression: e.expr.source,
                eventName: name,
                error: r.error,
              });
            } catch {
              // the hook must never break matching
            }
          }
          continue;
        }
        if (!r.value) continue;
      }
      out.push({ functionId: e.id, triggerIndex: e.triggerIndex });
      done = e.fn;
    }
    return out;
  }

  function crons(): CronEntry[] {
    const out: CronEntry[] = [];
    for (const rec of byId.values()) {
      rec.compiled.triggers.forEach((t, triggerIndex) => {
        if (t.kind !== "cron") return;
        out.push({
          functionId: rec.id,
          triggerIndex,
          cron: t.cron.source,
          timezone: t.cron.timezone,
          jitter: t.jitter,
          jitterMs: t.jitterMs,
        });
      });
    }
    return out;
  }

  function stats(): TriggerIndexStats {
    return {
      functions: byId.size,
      eventTriggers: counts.eventTriggers,
      cronTriggers: counts.cronTriggers,
      exactNames: exact.size,
      wildcardPrefixes: prefixes.size,
      expressions: counts.expressions,
      indexedExpressions: counts.indexed,
      exactExpressions: counts.exact,
      fallbackExpressions: counts.fallback,
      events: runtime.events,
      evaluations: runtime.evaluations,
      runtimeErrors: runtime.errors,
    };
  }

  add(functions);
  return { match, add, remove, has: (id) => byId.has(id), crons, stats };
}

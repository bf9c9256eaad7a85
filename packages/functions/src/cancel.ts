import type { StoredEvent } from "@evt/schema";
import {
  compileFilter,
  createTriggerIndex,
  type ExpressionFilter,
  type TriggerIndex,
} from "@evt/triggers";
import type { ExecutorLogger } from "./executor";
import type { JsonValue, RunRecord, RunStore } from "./run-store";
import { sleepUntil } from "./timing";

/** Options of {@link createCanceller}. */
export interface CancellerOptions {
  runs: RunStore;
  /** The stored event a run is for (its `if` reads it as `event`). */
  loadEvent(internalId: string, env: string): Promise<StoredEvent | null>;
  /** Told about each run cancelled by an event (store `inngest/function.cancelled`, count it). */
  onCancelled?(run: RunRecord, by: StoredEvent): Promise<void> | void;
  now?: () => number;
  logger?: ExecutorLogger;
}

/** Cancels runs by event (`cancelOn`): see {@link createCanceller}. */
export interface Canceller {
  /** Re-read the functions' `cancel` rules. */
  refresh(): Promise<void>;
  /** Cancel the runs `events` (stored in `env`) cancel; returns how many were cancelled. */
  cancelMatching(env: string, events: readonly StoredEvent[]): Promise<number>;
}

interface Rule {
  functionId: string;
  filter: ExpressionFilter | null;
  timeoutMs: number | null;
}

/** Active runs looked at per matching event and function. */
const SCAN_LIMIT = 1_000;
const silent: ExecutorLogger = { debug() {}, info() {}, warn() {}, error() {} };

function view(event: StoredEvent): Record<string, unknown> {
  return {
    name: event.name,
    data: event.data ?? {},
    user: event.user ?? null,
    id: event.internal_id,
    ts: event.ts,
    v: event.v ?? null,
  };
}

function rulesOf(
  functionId: string,
  config: JsonValue,
  logger: ExecutorLogger,
): { event: string; rule: Rule }[] {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return [];
  const cancel = config.cancel;
  if (!Array.isArray(cancel)) return [];
  const out: { event: string; rule: Rule }[] = [];
  for (const c of cancel) {
    if (typeof c !== "object" || c === null || Array.isArray(c)) continue;
    if (typeof c.event !== "string" || c.event === "") continue;
    let filter: ExpressionFilter | null = null;
    if (typeof c.if === "string" && c.if.trim() !== "") {
      try {
        filter = compileFilter(c.if);
      } catch (err) {
        // Never cancel on a rule whose condition cannot be read: that would cancel every run.
        logger.warn({ functionId, err }, "a cancelOn `if` does not compile; the rule is ignored");
        continue;
      }
    }
    const timeoutMs = typeof c.timeout === "string" ? (sleepUntil(c.timeout, 0) ?? null) : null;
    out.push({ event: c.event, rule: { functionId, filter, timeoutMs } });
  }
  return out;
}

/**
 * Cancel runs by event, as the SDK's `cancelOn: [{ event, if, timeout }]` asks: an event with
 * that name cancels the function's queued and running runs for which `if` holds (`event` is
 * the run's own event, `async` the incoming one), while the run is younger than `timeout`
 * (counted from its start). Events are matched by name through `@evt/triggers`; each match
 * looks at up to 1,000 active runs of the function, oldest first.
 *
 * @example
 * ```ts
 * import { createCanceller } from "@evt/functions";
 *
 * const canceller = createCanceller({ runs, loadEvent: (id, env) => store.get(id, env) });
 * await canceller.refresh();
 * await canceller.cancelMatching("production", storedEvents);
 * ```
 */
export function createCanceller(options: CancellerOptions): Canceller {
  const { runs } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silent;
  let index: TriggerIndex = createTriggerIndex();
  let rules = new Map<string, Rule>();

  return {
    async refresh() {
      const next = new Map<string, Rule>();
      const defs: { id: string; triggers: { event: string }[] }[] = [];
      for (const fn of await runs.listFunctions()) {
        rulesOf(fn.id, fn.config, logger).forEach(({ event, rule }, i) => {
          const id = `${fn.id}#cancel${i}`;
          next.set(id, rule);
          defs.push({ id, triggers: [{ event }] });
        });
      }
      const built = createTriggerIndex();
      for (const d of defs) {
        try {
          built.add([d]);
        } catch {
          next.delete(d.id);
        }
      }
      index = built;
      rules = next;
    },
    async cancelMatching(env, events) {
      if (rules.size === 0) return 0;
      let cancelled = 0;
      for (const incoming of events) {
        const matches = index.match({
          name: incoming.name,
          data: incoming.data as Record<string, unknown>,
        });
        for (const m of matches) {
          const rule = rules.get(m.functionId);
          if (rule === undefined) continue;
          const active = await runs.listActiveRuns(rule.functionId, SCAN_LIMIT);
          for (const run of active) {
            if (run.env !== env || run.eventInternalId === incoming.internal_id) continue;
            // Only events that arrive after the run began waiting for them.
            if (incoming.received_at < run.createdAt) continue;
            const start = run.startedAt ?? run.createdAt;
            if (rule.timeoutMs !== null && now() - start > rule.timeoutMs) continue;
            if (rule.filter !== null) {
              const own = await options.loadEvent(run.eventInternalId, run.env);
              if (own === null) continue;
              const result = rule.filter.evaluate({ event: view(own), async: view(incoming) });
              if (!result.ok || !result.value) continue;
            }
            if (await runs.cancelRun(run.runId, now())) {
              cancelled++;
              logger.info(
                { runId: run.runId, functionId: run.functionId, by: incoming.internal_id },
                "run cancelled by an event (cancelOn)",
              );
              await options.onCancelled?.(run, incoming);
            }
          }
        }
      }
      return cancelled;
    },
  };
}

/**
 * An event as the index matches it: the stored event's fields. Fields not passed (`user`, `id`,
 * `ts`, `v`) read as `null` in expressions; `data` not passed reads as `{}`.
 */
export interface TriggerEvent {
  name: string;
  data?: Record<string, unknown> | null;
  user?: Record<string, unknown> | null;
  id?: string | null;
  ts?: number | null;
  v?: string | null;
}

/** One function an event starts, and the trigger (its index in `triggers`) that matched first. */
export interface TriggerMatch {
  functionId: string;
  triggerIndex: number;
}

/** What the index reports when an expression fails at run time (the event does not match it). */
export interface EvaluationErrorInfo {
  functionId: string;
  triggerIndex: number;
  /** The expression as written. */
  expression: string;
  /** The event's name. */
  eventName: string;
  /** What went wrong (a CEL type error such as `no such overload: string > int`). */
  error: Error;
}

/** Options of `createTriggerIndex`. */
export interface TriggerIndexOptions {
  /**
   * Called, synchronously, for every expression that fails at run time while matching (a type
   * error, a non-bool result). The trigger does not match; matching goes on. Errors this hook
   * throws are swallowed, so that it can never break ingest.
   * @default undefined (errors are only counted in `stats().runtimeErrors`)
   */
  onEvaluationError?: (info: EvaluationErrorInfo) => void;
}

/** A cron trigger as the scheduler needs it. */
export interface CronEntry {
  functionId: string;
  triggerIndex: number;
  /** The cron as written (`TZ=` prefix included). */
  cron: string;
  /** The zone the schedule runs in (`"UTC"` without a prefix). */
  timezone: string;
  /** The jitter as written, or `null`. */
  jitter: string | null;
  /** The jitter in ms, or `null`. */
  jitterMs: number | null;
}

/** Counts that tell how the index is doing. */
export interface TriggerIndexStats {
  functions: number;
  eventTriggers: number;
  cronTriggers: number;
  /** Distinct exact event names and wildcard prefixes with at least one trigger. */
  exactNames: number;
  wildcardPrefixes: number;
  /** Event triggers with an expression. */
  expressions: number;
  /** Expressions the prefilter uses (hash on literals, number ranges, `== null`). */
  indexedExpressions: number;
  /**
   * Of those, expressions that are a single comparison (or an `||` of them): a prefilter hit is
   * a match, with no CEL evaluation. The others are confirmed by CEL.
   */
  exactExpressions: number;
  /** Expressions the index cannot use: evaluated for every event of their name (the slow path). */
  fallbackExpressions: number;
  /** Since creation: events matched, CEL evaluations run, and evaluations that failed. */
  events: number;
  evaluations: number;
  runtimeErrors: number;
}

/** One key to claim, with the value to remember for it (the gateway stores the event's internal id). */
export interface ClaimEntry {
  /** The dedup key, e.g. the event's `id` scoped by environment. Any UTF-8 string up to 512 characters. */
  key: string;
  /** What a later duplicate gets back: the value of whoever claimed the key first. */
  value: string;
}

/** Outcome of claiming one entry, in the order the entries were given. */
export type ClaimResult = { fresh: true } | { fresh: false; value: string };

/**
 * A deduplication store: remembers keys for a time window and tells, atomically, whether a
 * key is seen for the first time. Every driver implements exactly this interface and passes
 * the conformance suite in `@evt/dedup/testing`.
 */
export interface DedupStore {
  /** Driver name, for logs and metrics (`memory`, `sqlite`, `redis`, `postgres`). */
  readonly driver: string;
  /**
   * Atomically claim keys for `ttlMs` milliseconds. For each entry: `fresh` when nobody held
   * the key, else a duplicate carrying the value stored by whoever claimed it first. Two
   * entries with the same key in one call: the first is fresh, the second a duplicate of it.
   * Rejects with a retryable `DedupError` when the store cannot answer; never guesses.
   */
  claim(entries: readonly ClaimEntry[], ttlMs: number): Promise<ClaimResult[]>;
  /**
   * Undo claims this caller made (used when storing the events failed). Removes a key only
   * while its stored value still equals the given value.
   */
  release(entries: readonly ClaimEntry[]): Promise<void>;
  /** Resolves when the store answers (readiness checks); rejects with a `DedupError` otherwise. */
  ping(): Promise<void>;
  /** Release connections and timers. Safe to call more than once. */
  close(): Promise<void>;
}

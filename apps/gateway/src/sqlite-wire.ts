/**
 * The messages between the gateway's main thread and its SQLite worker thread
 * (`sqlite-thread.ts` and `sqlite-worker.ts`). Calls and replies travel in arrays: everything
 * asked or answered in one turn of an event loop is one `postMessage`.
 */

/** Which store of the worker a call is for (`ingest`: the store step of a request, both stores). */
export type Target = "dedup" | "store" | "runs" | "ingest";

/**
 * What the worker answers to an `ingest` call (`@evt/server`'s `ingest` run next to the stores):
 * its result without the stored events (the main thread has them), errors as {@link WireError},
 * and the durations of the claim and the append for the metrics hooks.
 */
export type IngestReply = { dedupMs?: number; storeMs?: number } & (
  | {
      ok: true;
      /** The ids answered, or `null` when they are the ids sent (no duplicate of an earlier event). */
      ids: string[] | null;
      accepted: number;
      duplicates: number;
    }
  | { ok: false; stage: "claim" | "has" | "append"; error: WireError; releaseError?: WireError }
);

/** What the worker opens: a SQLite file for either store, or both. */
export interface WorkerSetup {
  dedupPath: string | null;
  storePath: string | null;
  /** The run store of functions (`@evt/functions/sqlite`). @default null */
  runsPath?: string | null;
  /**
   * The paths given name one file: open it once, the stores sharing one connection and one
   * commit per turn (see `sqlite-file.ts`). @default false
   */
  oneFile?: boolean;
}

/** One method call on a store in the worker. */
export interface Call {
  id: number;
  target: Target;
  method: string;
  args: unknown[];
}

/** An error as it crosses the thread boundary (a structured clone drops `code`/`retryable`). */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  driver?: string;
  /** `FunctionsError.where` (the driver or module that raised it). */
  where?: string;
  retryable?: boolean;
  stack?: string;
}

/** The answer to one {@link Call}. */
export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/** Turns anything thrown in the worker into a {@link WireError}. */
export function toWire(error: unknown): WireError {
  if (typeof error !== "object" || error === null) {
    return { name: "Error", message: String(error) };
  }
  const e = error as Record<string, unknown>;
  const out: WireError = {
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : String(error),
  };
  if (typeof e.code === "string") out.code = e.code;
  if (typeof e.driver === "string") out.driver = e.driver;
  if (typeof e.where === "string") out.where = e.where;
  if (typeof e.retryable === "boolean") out.retryable = e.retryable;
  if (typeof e.stack === "string") out.stack = e.stack;
  return out;
}

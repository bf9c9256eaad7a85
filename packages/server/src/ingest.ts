import type { ClaimEntry, ClaimResult, DedupStore } from "@evt/dedup";
import type { NormalizedEvent, StoredEvent } from "@evt/schema";
import type { EventStore } from "@evt/store";
import type { EventApiHooks, EventOrigin } from "./types.js";

/** Which step of an ingest failed (for the log and the release decision). */
export type IngestStage = "claim" | "has" | "append";

export type IngestResult =
  | {
      ok: true;
      ids: string[];
      accepted: number;
      duplicates: number;
      /** Every event of the request as stored (duplicates under the first internal id). */
      stored: StoredEvent[];
    }
  | { ok: false; stage: IngestStage; error: unknown; releaseError?: unknown };

export interface IngestDeps {
  dedup: DedupStore;
  store: EventStore;
  windowMs: number;
  hooks: EventApiHooks | undefined;
}

/** An event of a request as the store keeps it, under `internalId` (the new or the first one). */
export function toStored(
  e: NormalizedEvent,
  internalId: string,
  env: string,
  receivedAt: number,
  origin: EventOrigin,
): StoredEvent {
  return {
    internal_id: internalId,
    id: e.id,
    name: e.name,
    data: e.data,
    user: e.user,
    ts: e.ts,
    v: e.v,
    env,
    received_at: receivedAt,
    source: origin.source,
    source_id: origin.sourceId,
  };
}

/**
 * Store a validated request exactly once, answering only after every new event is appended.
 *
 * 1. Claim every dedup key in one call (`<env>\0<id>` or `<env>\0#<internal id>`; a key with a
 *    dedup namespace of its own prefixes them with `~<namespace>\0`).
 * 2. Duplicates answer with the first claimer's internal id. Those whose first event is not in
 *    the store (its request crashed or failed between claim and append) are *adopted*: this
 *    event is stored under the first claimer's internal id. Append is idempotent by internal
 *    id, so a concurrent original append is harmless.
 * 3. Append fresh + adopted events in one call. On failure, release the fresh claims (best
 *    effort; adoption covers a failed release) and report the failure.
 */
export async function ingest(
  deps: IngestDeps,
  events: readonly NormalizedEvent[],
  ids: readonly string[],
  env: string,
  receivedAt: number,
  origin: EventOrigin,
  dedupPrefix: string | null = null,
): Promise<IngestResult> {
  const entries = claimEntries(events, ids, env, dedupPrefix);
  const hooks = deps.hooks;
  let t0 = performance.now();
  let claims: ClaimResult[];
  try {
    claims = await deps.dedup.claim(entries, deps.windowMs);
  } catch (error) {
    return { ok: false, stage: "claim", error };
  }
  hooks?.onDedup?.(performance.now() - t0);
  t0 = performance.now();

  const plan = planAppend(claims, entries, events, ids, env, receivedAt, origin);
  if (plan.earlier !== null) {
    let present: Set<string>;
    try {
      present = await deps.store.has([...plan.earlier.keys()], env);
    } catch (error) {
      return failed(deps, "has", error, plan.fresh);
    }
    adopt(plan, present, events, env, receivedAt, origin);
  }
  if (plan.toAppend.length > 0) {
    try {
      await deps.store.append(plan.toAppend);
    } catch (error) {
      return failed(deps, "append", error, plan.fresh);
    }
  }
  hooks?.onStore?.(performance.now() - t0);
  return ingested(plan, events, env, receivedAt, origin);
}

/** The dedup claim of each event of a request (step 1 of {@link ingest}). */
export function claimEntries(
  events: readonly NormalizedEvent[],
  ids: readonly string[],
  env: string,
  dedupPrefix: string | null = null,
): ClaimEntry[] {
  const n = events.length;
  const prefix = dedupPrefix === null ? `${env}\u0000` : `${dedupPrefix}${env}\u0000`;
  const entries: ClaimEntry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const id = events[i]!.id;
    entries[i] = { key: id === null ? `${prefix}#${ids[i]}` : prefix + id, value: ids[i]! };
  }
  return entries;
}

/** What a request appends after its claims (see {@link planAppend}). */
export interface AppendPlan {
  /** The internal id answered for each event (the first claimer's for a duplicate). */
  out: string[];
  /** Fresh events, then (after {@link adopt}) the adopted ones. */
  toAppend: StoredEvent[];
  /** The claims this request won (released if its append fails). */
  fresh: ClaimEntry[];
  /** Duplicates of earlier requests, whose presence in the store decides adoption: internal id -> index. */
  earlier: Map<string, number> | null;
}

/** Step 2 of {@link ingest}: fresh events to append, and duplicates of earlier requests to check. */
export function planAppend(
  claims: readonly ClaimResult[],
  entries: readonly ClaimEntry[],
  events: readonly NormalizedEvent[],
  ids: readonly string[],
  env: string,
  receivedAt: number,
  origin: EventOrigin,
): AppendPlan {
  const n = events.length;
  const out: string[] = new Array(n);
  const toAppend: StoredEvent[] = [];
  const fresh: ClaimEntry[] = [];
  let earlier: Map<string, number> | null = null;
  let freshIds: Set<string> | null = null;
  for (let i = 0; i < n; i++) {
    const c = claims[i]!;
    if (c.fresh) {
      out[i] = ids[i]!;
      fresh.push(entries[i]!);
      toAppend.push(toStored(events[i]!, ids[i]!, env, receivedAt, origin));
    } else {
      out[i] = c.value;
    }
  }
  if (fresh.length < n) {
    for (let i = 0; i < n; i++) {
      const c = claims[i]!;
      if (c.fresh) continue;
      freshIds ??= new Set(fresh.map((e) => e.value));
      // A duplicate of an event of this very request is stored by this request.
      if (freshIds.has(c.value)) continue;
      earlier ??= new Map();
      if (!earlier.has(c.value)) earlier.set(c.value, i);
    }
  }
  return { out, toAppend, fresh, earlier };
}

/** Adds to `plan.toAppend` the duplicates whose first event is not `present` in the store. */
export function adopt(
  plan: AppendPlan,
  present: Set<string>,
  events: readonly NormalizedEvent[],
  env: string,
  receivedAt: number,
  origin: EventOrigin,
): void {
  if (plan.earlier === null) return;
  for (const [internalId, i] of plan.earlier) {
    if (!present.has(internalId))
      plan.toAppend.push(toStored(events[i]!, internalId, env, receivedAt, origin));
  }
}

/** The successful result of a request whose `plan` was appended. */
export function ingested(
  plan: AppendPlan,
  events: readonly NormalizedEvent[],
  env: string,
  receivedAt: number,
  origin: EventOrigin,
): IngestResult & { ok: true } {
  const n = events.length;
  const { out, toAppend } = plan;
  let stored: StoredEvent[];
  if (plan.fresh.length === n) stored = toAppend;
  else {
    stored = new Array(n);
    for (let i = 0; i < n; i++) stored[i] = toStored(events[i]!, out[i]!, env, receivedAt, origin);
  }
  return { ok: true, ids: out, accepted: toAppend.length, duplicates: n - toAppend.length, stored };
}

async function failed(
  deps: IngestDeps,
  stage: IngestStage,
  error: unknown,
  fresh: ClaimEntry[],
): Promise<IngestResult> {
  if (fresh.length === 0) return { ok: false, stage, error };
  try {
    await deps.dedup.release(fresh);
    return { ok: false, stage, error };
  } catch (releaseError) {
    return { ok: false, stage, error, releaseError };
  }
}

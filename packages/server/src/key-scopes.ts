import * as nodeCrypto from "node:crypto";
import type { EventIdSeed, NormalizedEvent } from "@evt/schema";
import { compileEventPattern, type EventPattern } from "@evt/triggers";
import { ServerError } from "./errors.js";
import { ENV_ALLOWED, envProblem, quote } from "./validate.js";

/**
 * An event key with a scope (an entry of `eventKeys`). Every field but `key` narrows what the
 * key may do; an omitted field does not narrow it.
 *
 * @example
 * ```ts
 * const storefront: EventKeyOptions = {
 *   key: process.env.STOREFRONT_KEY!,
 *   envs: ["production"],
 *   names: ["shop/*"],
 *   dedupNamespace: "storefront",
 * };
 * ```
 */
export interface EventKeyOptions {
  /** The key itself (the `:eventKey` of `POST /e/:eventKey`). */
  key: string;
  /**
   * Environments this key may write to (`x-inngest-env` / `x-evt-env`, `production` when
   * absent). Others get 403 before the body is parsed.
   * @default any environment
   */
  envs?: readonly string[];
  /**
   * Event names this key may send: exact names or the trigger wildcards of `@evt/triggers`
   * (`shop/*`, `app/user.*`). A request with any other name gets 403 and nothing is stored.
   * @default any name
   */
  names?: readonly string[];
  /**
   * Deduplicate this key's event ids (and `x-inngest-event-id-seed` ids) only against keys of
   * the same namespace, never against the shared one. Give keys that are exposed to browsers a
   * namespace of their own, so that they cannot suppress or probe other producers' events.
   * 1..64 printable ASCII characters.
   * @default the shared namespace of every key without one
   */
  dedupNamespace?: string;
}

/** The compiled scope of one key. `null` fields do not narrow. */
export interface KeyScope {
  readonly envs: ReadonlySet<string> | null;
  readonly names: readonly EventPattern[] | null;
  /** The dedup key prefix of this key's namespace, or `null` for the shared one. */
  readonly dedupPrefix: string | null;
  /** The namespace as configured (for seed mixing). */
  readonly dedupNamespace: string | null;
}

/** The scope of a key given as a plain string: any env, any name, shared dedup. */
export const UNSCOPED: KeyScope = {
  envs: null,
  names: null,
  dedupPrefix: null,
  dedupNamespace: null,
};

const NAMESPACE = /^[\x21-\x7e]{1,64}$/;

function invalid(where: string, message: string): ServerError {
  return new ServerError("invalid_options", `${where} ${message}`);
}

function stringList(where: string, value: unknown, what: string): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(
      where,
      `must be a non-empty array of ${what} (omit it to allow any), got ${Array.isArray(value) ? "[]" : typeof value}`,
    );
  }
  for (const [i, v] of value.entries()) {
    if (typeof v !== "string") throw invalid(`${where}[${i}]`, `must be a string, got ${typeof v}`);
  }
  return value as readonly string[];
}

/**
 * Validates `options.eventKeys` (plain keys and {@link EventKeyOptions}) and compiles each
 * scope. Errors name the entry and field (`options.eventKeys[2].names[0]`) and never contain a
 * key.
 */
export function compileEventKeys(value: unknown): { keys: string[]; scopes: KeyScope[] } {
  if (value === undefined) return { keys: [], scopes: [] };
  if (!Array.isArray(value)) {
    throw invalid(
      "options.eventKeys",
      "must be an array of non-empty strings or { key, envs?, names?, dedupNamespace? } (an empty array means development mode)",
    );
  }
  const keys: string[] = [];
  const scopes: KeyScope[] = [];
  const seen = new Map<string, number>();
  for (const [i, entry] of value.entries()) {
    const where = `options.eventKeys[${i}]`;
    let scope = UNSCOPED;
    let key: unknown = entry;
    if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
      const e = entry as Record<string, unknown>;
      for (const field of Object.keys(e)) {
        if (!["key", "envs", "names", "dedupNamespace"].includes(field)) {
          throw invalid(
            where,
            `has an unknown field ${quote(field)} (allowed: key, envs, names, dedupNamespace)`,
          );
        }
      }
      key = e.key;
      scope = compileScope(where, e);
    }
    if (typeof key !== "string" || key.length === 0) {
      throw invalid(
        typeof entry === "object" && entry !== null ? `${where}.key` : where,
        "must be a non-empty string",
      );
    }
    const first = seen.get(key);
    if (first !== undefined) {
      throw invalid(
        where,
        `repeats the key of options.eventKeys[${first}] (each key may appear once, with one scope)`,
      );
    }
    seen.set(key, i);
    keys.push(key);
    scopes.push(scope);
  }
  return { keys, scopes };
}

function compileScope(where: string, e: Record<string, unknown>): KeyScope {
  let envs: Set<string> | null = null;
  if (e.envs !== undefined) {
    const list = stringList(`${where}.envs`, e.envs, "environment names");
    for (const [j, env] of list.entries()) {
      const problem = envProblem(env);
      if (problem !== null) {
        throw invalid(`${where}.envs[${j}] ${quote(env)}`, `${problem} (allowed: ${ENV_ALLOWED})`);
      }
    }
    envs = new Set(list);
  }
  let names: EventPattern[] | null = null;
  if (e.names !== undefined) {
    const list = stringList(`${where}.names`, e.names, "event names or patterns");
    names = list.map((pattern, j) => {
      try {
        return compileEventPattern(pattern);
      } catch (err) {
        const message = (err as Error).message.replace(/^\[evt\/triggers\]\s*(pattern\s*)?/, "");
        throw invalid(`${where}.names[${j}] ${quote(pattern)}`, message);
      }
    });
  }
  let dedupNamespace: string | null = null;
  if (e.dedupNamespace !== undefined) {
    if (typeof e.dedupNamespace !== "string" || !NAMESPACE.test(e.dedupNamespace)) {
      throw invalid(
        `${where}.dedupNamespace`,
        "must be 1..64 printable ASCII characters without spaces",
      );
    }
    dedupNamespace = e.dedupNamespace;
  }
  return {
    envs,
    names,
    dedupNamespace,
    // `~` is not allowed in an environment name, so `~<ns>\0<env>\0<id>` never equals a
    // shared-namespace key `<env>\0<id>`.
    dedupPrefix: dedupNamespace === null ? null : `~${dedupNamespace}\u0000`,
  };
}

/** The refusal message when `scope` may not write to `env`, else `null`. */
export function envRefusal(scope: KeyScope, env: string): string | null {
  if (scope.envs === null || scope.envs.has(env)) return null;
  return `This event key may not send events to environment ${quote(env)} (allowed: ${[...scope.envs].map((v) => quote(v)).join(", ")})`;
}

/** The refusal message when an event's name is outside `scope`'s patterns, else `null`. */
export function nameRefusal(scope: KeyScope, events: readonly NormalizedEvent[]): string | null {
  const patterns = scope.names;
  if (patterns === null) return null;
  for (let i = 0; i < events.length; i++) {
    const name = events[i]!.name;
    let ok = false;
    for (const p of patterns) {
      if (p.matches(name)) {
        ok = true;
        break;
      }
    }
    if (!ok) {
      return `Event at index ${i} has name ${quote(name, 100)}, which this event key may not send (allowed: ${patterns.map((p) => quote(p.pattern, 100)).join(", ")}); nothing was stored`;
    }
  }
  return null;
}

/**
 * The seed of a key with its own dedup namespace: the entropy is mixed with the namespace, so
 * that a retried request of this key gets the same ids again, while the same seed sent with
 * another key gives other internal ids (the event store keys events by internal id: equal ids
 * would let one key's event hide the other's).
 */
export function namespacedSeed(seed: EventIdSeed, namespace: string): EventIdSeed {
  const h = nodeCrypto.createHash("sha256");
  h.update(namespace, "utf8");
  h.update(new Uint8Array([0]));
  h.update(seed.entropy);
  return { millis: seed.millis, entropy: new Uint8Array(h.digest().subarray(0, 10)) };
}

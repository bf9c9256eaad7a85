import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { EventKeyOptions } from "@evt/server";
import { compileEventPattern } from "@evt/triggers";
import { z } from "zod";
import { ConfigError } from "./config";
import { KEY } from "./secrets";

/** One entry of a keys file (`--keys-file` / `EVT_KEYS_FILE`), as written. */
export interface KeysFileEntry {
  /** The event key (`POST /e/:key`). */
  key: string;
  /** Environments the key may write to; omitted: any. */
  envs?: string[];
  /** Event names or trigger wildcards (`shop/*`) the key may send; omitted: any. */
  names?: string[];
  /**
   * The key is exposed (a browser, a mobile app): its event ids are deduplicated in a
   * namespace of its own, so it cannot suppress or probe other producers' events.
   */
  public?: boolean;
  /** A label for logs (the key itself is never logged). */
  name?: string;
}

const ENV = /^[A-Za-z0-9._\-/]{1,64}$/;
const LABEL = /^[A-Za-z0-9._\-/ ]{1,64}$/;
const FIELDS = "key, envs, names, public, name";
const KEY_RULE = "1..256 characters from A-Z a-z 0-9 . _ ~ + / = -";

function patternProblem(pattern: string): string | null {
  try {
    compileEventPattern(pattern);
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^\[evt\/triggers\]\s*(pattern\s*)?/, "");
  }
}

const entrySchema = z.strictObject({
  key: z.string().regex(KEY),
  envs: z.array(z.string().regex(ENV)).min(1).optional(),
  names: z
    .array(z.string().refine((p) => patternProblem(p) === null))
    .min(1)
    .optional(),
  public: z.boolean().optional(),
  name: z.string().regex(LABEL).optional(),
});

/** What each field allows, for error messages. */
const EXPECTED: Record<string, string> = {
  envs: "a non-empty array of environment names (1..64 characters of A-Z a-z 0-9 . _ - /); omit it to allow any",
  names: 'a non-empty array of event names or patterns like "shop/*"; omit it to allow any name',
  public: "true or false",
  name: "a label of 1..64 characters of A-Z a-z 0-9 . _ - / and spaces",
};

/** A key of the file: the options for `createEventApi` and what may be logged about it. */
export interface LoadedKey {
  options: EventKeyOptions;
  /** For logs: the entry's `name`, its stable key id, and its scope. Never the key. */
  summary: { name?: string; id: string; envs?: string[]; names?: string[]; public: boolean };
}

/**
 * The stable id of a key, for its own dedup namespace and for logs: the first 16 hex digits of
 * its SHA-256. The key itself never leaves the process.
 */
export function keyId(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex").slice(0, 16);
}

/** Describes the first problem of an entry; never shows the key's value. */
function describe(entry: unknown, issue: z.core.$ZodIssue): string {
  const [field, index] = issue.path as (string | number)[];
  if (field === undefined) {
    if (issue.code === "unrecognized_keys") {
      return `unknown field ${JSON.stringify(issue.keys[0])} (allowed: ${FIELDS})`;
    }
    return `must be an object { ${FIELDS} }`;
  }
  if (field === "key") {
    return typeof (entry as { key?: unknown }).key === "string"
      ? `key is not valid: expected ${KEY_RULE}`
      : `key is missing: expected a string of ${KEY_RULE}`;
  }
  const value = (entry as Record<string, unknown>)[field as string];
  if (typeof index === "number" && Array.isArray(value)) {
    const item = value[index];
    const shown = `${String(field)}[${index}] ${JSON.stringify(item)}`;
    if (field === "names" && typeof item === "string") {
      return `${shown}: ${patternProblem(item) ?? "is not valid"}`;
    }
    if (field === "envs") {
      return `${shown}: expected 1..64 characters of A-Z a-z 0-9 . _ - /`;
    }
    return `${shown}: expected a string`;
  }
  return `${String(field)} ${JSON.stringify(value)} is not valid: expected ${EXPECTED[field as string] ?? "a valid value"}`;
}

/**
 * Parses the text of a keys file into scoped event keys for `createEventApi`. `source` names
 * the file in errors; `plainKeys` are the `--event-key` keys, which the file may not repeat.
 * Throws a {@link ConfigError} naming the entry (counting from 1) and field; the message never
 * holds a key.
 *
 * @example
 * ```ts
 * const [k] = parseKeysFile('[{"key":"pk_1","envs":["production"],"names":["shop/*"],"public":true}]', "keys.json");
 * k.options; // { key: "pk_1", envs: ["production"], names: ["shop/*"], dedupNamespace: "key:<16 hex>" }
 * ```
 */
export function parseKeysFile(
  text: string,
  source: string,
  plainKeys: readonly string[] = [],
): LoadedKey[] {
  const where = `keys file ${source}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // JSON.parse quotes the text around the error, which may hold a key: keep only the position.
    const at = /position \d+|line \d+ column \d+/.exec((err as Error).message)?.[0];
    throw new ConfigError(
      `${where} is not valid JSON${at ? ` (at ${at})` : ""}: expected an array of { ${FIELDS} }`,
    );
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(
      `${where} must hold a non-empty JSON array of { ${FIELDS} }, e.g. [{ "key": "...", "envs": ["production"], "names": ["shop/*"], "public": true }]`,
    );
  }
  const seen = new Map<string, number>();
  for (const k of plainKeys) seen.set(k, 0);
  const out: LoadedKey[] = [];
  for (const [i, entry] of value.entries()) {
    const result = entrySchema.safeParse(entry);
    if (!result.success) {
      throw new ConfigError(
        `${where}, entry ${i + 1}: ${describe(entry, result.error.issues[0]!)}`,
      );
    }
    const e = result.data;
    const first = seen.get(e.key);
    if (first !== undefined) {
      throw new ConfigError(
        `${where}, entry ${i + 1}: key repeats ${first === 0 ? "an --event-key / EVT_EVENT_KEYS key" : `the key of entry ${first}`} (each key may appear once)`,
      );
    }
    seen.set(e.key, i + 1);
    const options: EventKeyOptions = { key: e.key };
    if (e.envs) options.envs = e.envs;
    if (e.names) options.names = e.names;
    const id = keyId(e.key);
    if (e.public === true) options.dedupNamespace = `key:${id}`;
    const summary: LoadedKey["summary"] = { id, public: e.public === true };
    if (e.name !== undefined) summary.name = e.name;
    if (e.envs) summary.envs = e.envs;
    if (e.names) summary.names = e.names;
    out.push({ options, summary });
  }
  return out;
}

/** Reads and parses a keys file (see {@link parseKeysFile}). */
export function loadKeysFile(path: string, plainKeys: readonly string[] = []): LoadedKey[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a folder"
            : (code ?? "unreadable");
    throw new ConfigError(
      `keys file ${path} cannot be read (${why}): pass --keys-file / EVT_KEYS_FILE the path of a JSON file`,
    );
  }
  return parseKeysFile(text, path, plainKeys);
}

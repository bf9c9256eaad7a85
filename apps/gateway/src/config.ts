import { availableParallelism } from "node:os";
import { z } from "zod";
import { KEY, keyProblem, maskPassword } from "./secrets";
import { formatDuration, parseBytes, parseDuration } from "./units";

/** `dev`: any event key, open reads. `start`: production, at least one event key required. */
export type GatewayMode = "dev" | "start";

/** Log levels of pino, plus `silent`. */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** The effective configuration of a gateway, every value resolved and validated. */
export interface GatewayConfig {
  /** `dev` or `start` (production). */
  mode: GatewayMode;
  /** TCP port; 0 picks a free one (the URL printed at start tells which). @default 8288 */
  port: number;
  /** Interface to listen on; `0.0.0.0` for every interface (containers). @default "127.0.0.1" */
  host: string;
  /** Folder of the SQLite file `evt.sqlite` (or, from an earlier version, `dedup.sqlite`, `events.sqlite`), created if missing. @default "./.evt" */
  dataDir: string;
  /** Accepted event keys (`POST /e/:key`). Ignored in `dev` mode. @default [] */
  eventKeys: string[];
  /**
   * JSON file of scoped event keys, `[{ "key", "envs"?, "names"?, "public"?, "name"? }]`, used
   * beside `eventKeys`. Ignored in `dev` mode. @default null (none)
   */
  keysFile: string | null;
  /**
   * JSON file of webhook sources, `[{ "id", "name", "verify", "transform", ... }]` with fixed
   * ids, served at `POST /w/:id` beside the sources made with `POST /v1/webhooks`. @default null (none)
   */
  webhooksFile: string | null;
  /** Keys for the read API and `/metrics` (`Authorization: Bearer <key>`). Ignored in `dev` mode. @default [] */
  apiKeys: string[];
  /** Dedup store: `memory`, `sqlite`, `redis://...` or `postgres://...`. @default "sqlite" */
  dedup: string;
  /** Event store: `sqlite`, `memory` or `postgres://...`. @default "sqlite" */
  store: string;
  /** How long an event `id` is remembered, in ms. @default 86_400_000 (24h) */
  dedupWindowMs: number;
  /** Largest request body in bytes. @default 524_288 (512kb) */
  maxRequestBytes: number;
  /**
   * Body bytes all requests in flight may hold together; past it new requests get 503 with
   * Retry-After, their bodies unread. At least `maxRequestBytes`. @default 67_108_864 (64mb)
   */
  maxInflightBytes: number;
  /** Log level. @default "info" */
  logLevel: LogLevel;
  /** Pretty (human) logs instead of JSON lines. @default false (the CLI turns it on for `dev` on a TTY) */
  pretty: boolean;
  /** How long a graceful shutdown may take before the process gives up, in ms. @default 10_000 */
  shutdownTimeoutMs: number;
  /** Delete events received longer ago than this (ms); `null` keeps them forever. @default null */
  retentionMs: number | null;
  /**
   * Run the SQLite stores in a worker thread: statements and commits leave the thread that
   * serves HTTP. `auto`: a worker thread when the process may use more than one CPU
   * (`os.availableParallelism()`, which follows the affinity mask), the HTTP thread when it
   * has one, where a second thread only adds the copying between threads. Only matters when a
   * store is on SQLite. @default "auto"
   */
  sqliteThread: boolean | "auto";
  /**
   * Longest a call to the SQLite worker thread may take before the request gets 503 (a hung
   * fsync, a file locked by another process), in ms. @default 5_000
   */
  sqliteTimeoutMs: number;
  /** Key prefix of the Redis dedup driver (several deployments on one Redis). @default driver default */
  redisPrefix: string | null;
  /** Prefix of the PostgreSQL table names (`<prefix>dedup`, `<prefix>events`). @default driver default tables */
  pgTablePrefix: string | null;
  /**
   * `start` without API keys: serve `GET /v1/events*` and `/metrics` to anyone (a warning is
   * logged at every start). Without it, `start` refuses to run with no `apiKeys`. @default false
   */
  publicReads: boolean;
  /**
   * Host names served besides the listen address, `localhost`, `127.0.0.1` and `[::1]`; a
   * request for any other `Host` gets 421 (DNS rebinding). @default []
   */
  allowedHosts: string[];
  /**
   * Origins allowed to call `POST /e/:key` from a browser (CORS), e.g. `https://shop.example`.
   * `dev` also allows every loopback origin. @default [] (no CORS in `start`)
   */
  corsOrigins: string[];
  /**
   * Log lines waiting for stdout, in bytes; when the reader of stdout falls behind, lines past
   * it are dropped and counted in `evt_log_lines_dropped_total`. @default 1_048_576 (1mb)
   */
  logBufferBytes: number;
  /**
   * Byte budget of one `GET /v1/events` page; a page stops before the event that would pass
   * it and its `cursor` points at the rest. @default 8_388_608 (8mb)
   */
  maxPageBytes: number;
  /** `GET /v1/events` reads served at once; more get 429 with `Retry-After`. @default 4 */
  maxConcurrentReads: number;
  /**
   * Run store (functions, runs, steps): `sqlite` (`runs.sqlite` in the data folder), `memory`,
   * or `postgres://...` (several gateways share runs). @default the value of `store`
   */
  runs: string;
  /** Serve URLs of SDK apps to sync at start and every minute (`/api/inngest`). @default [] */
  appUrls: string[];
  /**
   * Signing key (`signkey-<env>-<hex>`): calls and syncs are signed with it and `/fn/register`
   * needs it (hashed) as its bearer token. Required in `start` when functions are used.
   * @default null
   */
  signingKey: string | null;
  /** A second signing key accepted at `/fn/register`, for rotation. @default null */
  signingKeyFallback: string | null;
  /** Function runs worked on at once by this gateway. @default 128 */
  maxConcurrentRuns: number;
  /**
   * Lease of a run a gateway works on, renewed while it does; a killed gateway's runs are
   * taken over by another once their lease ends. @default 30_000
   */
  runLeaseMs: number;
  /**
   * Furthest an event's `ts` may lie ahead of its receipt: a future `ts` delays the event's
   * runs until then; further ahead is refused with 400. @default 31_536_000_000 (365 days)
   */
  maxEventDelayMs: number;
}

/** Options of `startGateway`: any subset of {@link GatewayConfig}; the rest takes the defaults. */
export type GatewayOptions = Partial<GatewayConfig>;

/** A configuration problem. The message is one line for a person; the CLI exits with code 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const HOST_NAME =
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?|\[[0-9A-Fa-f:.]{2,45}\])$/;
const ORIGIN = /^https?:\/\/[A-Za-z0-9.[\]:_-]{1,260}$/;
const PREFIX = /^[a-z_][a-z0-9_]{0,39}$/;
const REDIS_PREFIX = /^[\x21-\x7e]{1,100}$/;
const DAY = 86_400_000;

/** `signkey-<env>-<hex>` with an even number of hex digits (what the SDK's hash decodes). */
const SIGNING_KEY = /^signkey-\w+-(?:[0-9a-fA-F]{2}){8,256}$/;

/** An http(s) URL with a host and no `user:password@`. */
function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (
      (u.protocol === "http:" || u.protocol === "https:") &&
      u.hostname !== "" &&
      u.username === "" &&
      u.password === ""
    );
  } catch {
    return false;
  }
}

/** `scheme://host[:port]` and nothing else (no path, user, query): what browsers send as `Origin`. */
function isOrigin(value: string): boolean {
  try {
    const u = new URL(value);
    return (
      u.origin === value.replace(/\/$/, "") && (u.protocol === "http:" || u.protocol === "https:")
    );
  } catch {
    return false;
  }
}

/** A driver URL with one of `schemes` and a host (`redis:/oops` has none: not a socket path here). */
const isDriverUrl = (value: string, schemes: string[]) => {
  try {
    const url = new URL(value);
    return schemes.includes(url.protocol) && url.hostname !== "" && value.includes("://");
  } catch {
    return false;
  }
};

/** One setting: its flag, its environment variable, how to read it from text, and its rule. */
interface Setting<K extends keyof GatewayConfig> {
  key: K;
  flag: string;
  env: string;
  /** What it does, for `--help`. */
  describe: string;
  /** What is allowed, for error messages and `--help`. */
  expected: string;
  /** Text (flag or env var) to a candidate value; the schema decides if it is valid. */
  fromText: (text: string) => unknown;
  schema: z.ZodType<GatewayConfig[K]>;
}

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

const int = (text: string) => (/^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN);

function setting<K extends keyof GatewayConfig>(s: Setting<K>): Setting<K> {
  return s;
}

/** Every setting the CLI takes, in `--help` order. */
export const SETTINGS = [
  setting({
    key: "port",
    describe: "port to listen on (0: any free port)",
    flag: "port",
    env: "EVT_PORT",
    expected: "an integer 0..65535",
    fromText: int,
    schema: z.number().int().min(0).max(65535),
  }),
  setting({
    key: "host",
    describe: "interface to listen on (0.0.0.0 in containers)",
    flag: "host",
    env: "EVT_HOST",
    expected: "a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0",
    fromText: (t) => t.trim(),
    schema: z.string().regex(/^[A-Za-z0-9.:[\]_-]{1,253}$/),
  }),
  setting({
    key: "dataDir",
    describe: "folder of the SQLite file (evt.sqlite)",
    flag: "data-dir",
    env: "EVT_DATA_DIR",
    expected: "a folder path",
    fromText: (t) => t,
    schema: z.string().min(1),
  }),
  setting({
    key: "eventKeys",
    describe: "accepted event key for POST /e/:key (start mode)",
    flag: "event-key",
    env: "EVT_EVENT_KEYS",
    expected: "keys of 1..256 characters from A-Z a-z 0-9 . _ ~ + / = -",
    fromText: list,
    schema: z.array(z.string().regex(KEY)),
  }),
  setting({
    key: "keysFile",
    describe:
      'JSON file of scoped event keys: [{ "key", "envs", "names", "public", "name" }] (start mode; with or without --event-key)',
    flag: "keys-file",
    env: "EVT_KEYS_FILE",
    expected: "a file path",
    fromText: (t) => t,
    schema: z.string().min(1).nullable(),
  }),
  setting({
    key: "webhooksFile",
    describe:
      'JSON file of webhook sources with fixed ids: [{ "id", "name", "env", "transform", "verify", "allow", "deny" }] (POST /w/:id)',
    flag: "webhooks",
    env: "EVT_WEBHOOKS",
    expected: "a file path",
    fromText: (t) => t,
    schema: z.string().min(1).nullable(),
  }),
  setting({
    key: "apiKeys",
    describe: "key for the read API and /metrics (Authorization: Bearer <key>)",
    flag: "api-key",
    env: "EVT_API_KEYS",
    expected: "keys of 1..256 characters from A-Z a-z 0-9 . _ ~ + / = -",
    fromText: list,
    schema: z.array(z.string().regex(KEY)),
  }),
  setting({
    key: "dedup",
    describe: "deduplication store",
    flag: "dedup",
    env: "EVT_DEDUP",
    expected: "memory, sqlite, redis://host:port[/db] or postgres://user@host:port/db",
    fromText: (t) => t.trim(),
    schema: z
      .string()
      .refine(
        (v) =>
          v === "memory" ||
          v === "sqlite" ||
          isDriverUrl(v, ["redis:", "rediss:", "postgres:", "postgresql:"]),
      ),
  }),
  setting({
    key: "store",
    describe: "event store",
    flag: "store",
    env: "EVT_STORE",
    expected: "sqlite, memory or postgres://user@host:port/db",
    fromText: (t) => t.trim(),
    schema: z
      .string()
      .refine(
        (v) => v === "memory" || v === "sqlite" || isDriverUrl(v, ["postgres:", "postgresql:"]),
      ),
  }),
  setting({
    key: "dedupWindowMs",
    describe: "how long an event id is remembered",
    flag: "dedup-window",
    env: "EVT_DEDUP_WINDOW",
    expected: "a duration from 1s to 365d, e.g. 24h",
    fromText: (t) => parseDuration(t) ?? Number.NaN,
    schema: z
      .number()
      .int()
      .min(1000)
      .max(365 * DAY),
  }),
  setting({
    key: "maxInflightBytes",
    describe: "body bytes all requests in flight may hold together (past it: 503, body unread)",
    flag: "max-inflight-bytes",
    env: "EVT_MAX_INFLIGHT_BYTES",
    expected: "a size from 1mb to 16gb, at least --max-request-bytes, e.g. 64mb or 1gb",
    fromText: (t) => parseBytes(t) ?? Number.NaN,
    schema: z
      .number()
      .int()
      .min(1024 * 1024)
      .max(16 * 1024 ** 3),
  }),
  setting({
    key: "maxRequestBytes",
    describe: "largest request body",
    flag: "max-request-bytes",
    env: "EVT_MAX_REQUEST_BYTES",
    expected: "a size from 1kb to 64mb, e.g. 512kb or 1mb",
    fromText: (t) => parseBytes(t) ?? Number.NaN,
    schema: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024),
  }),
  setting({
    key: "logLevel",
    describe: "log level",
    flag: "log-level",
    env: "EVT_LOG_LEVEL",
    expected: "one of fatal, error, warn, info, debug, trace, silent",
    fromText: (t) => t.trim().toLowerCase(),
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  }),
  setting({
    key: "shutdownTimeoutMs",
    describe: "longest graceful shutdown before exit 1",
    flag: "shutdown-timeout",
    env: "EVT_SHUTDOWN_TIMEOUT",
    expected: "a duration from 100ms to 1h, e.g. 10s",
    fromText: (t) => parseDuration(t) ?? Number.NaN,
    schema: z.number().int().min(100).max(3_600_000),
  }),
  setting({
    key: "retentionMs",
    describe: "delete events received longer ago than this",
    flag: "retention",
    env: "EVT_RETENTION",
    expected: "off, or a duration from 1h to 3650d, e.g. 30d",
    fromText: (t) => (t.trim() === "off" ? null : (parseDuration(t) ?? Number.NaN)),
    schema: z
      .number()
      .int()
      .min(3_600_000)
      .max(3650 * DAY)
      .nullable(),
  }),
  setting({
    key: "pretty",
    describe: "human-readable logs instead of JSON lines (the flag alone means true)",
    flag: "pretty",
    env: "EVT_PRETTY",
    expected: "true or false",
    fromText: (t) => ({ true: true, "1": true, false: false, "0": false })[t.trim()] ?? t,
    schema: z.boolean(),
  }),
  setting({
    key: "sqliteThread",
    describe:
      "run the SQLite stores in a worker thread (false: on the main thread; auto: a worker when more than one CPU is available)",
    flag: "sqlite-thread",
    env: "EVT_SQLITE_THREAD",
    expected: "true, false or auto",
    fromText: (t) =>
      ({ true: true, "1": true, false: false, "0": false, auto: "auto" })[t.trim()] ?? t,
    schema: z.union([z.boolean(), z.literal("auto")]),
  }),
  setting({
    key: "sqliteTimeoutMs",
    describe: "longest call to the SQLite worker thread before the request gets 503",
    flag: "sqlite-timeout",
    env: "EVT_SQLITE_TIMEOUT",
    expected: "a duration from 100ms to 10m, e.g. 5s",
    fromText: (t) => parseDuration(t) ?? Number.NaN,
    schema: z.number().int().min(100).max(600_000),
  }),
  setting({
    key: "redisPrefix",
    describe: "key prefix of the Redis dedup store (several deployments on one Redis)",
    flag: "redis-prefix",
    env: "EVT_REDIS_PREFIX",
    expected: "1..100 printable ASCII characters without spaces, e.g. evt:",
    fromText: (t) => t,
    schema: z.string().regex(REDIS_PREFIX).nullable(),
  }),
  setting({
    key: "pgTablePrefix",
    describe: "table name prefix in PostgreSQL (<prefix>dedup, <prefix>events)",
    flag: "pg-table-prefix",
    env: "EVT_PG_TABLE_PREFIX",
    expected: "a lower-case SQL identifier prefix of 1..40 characters (a-z 0-9 _), e.g. evt_",
    fromText: (t) => t,
    schema: z.string().regex(PREFIX).nullable(),
  }),
  setting({
    key: "publicReads",
    describe:
      "start without --api-key: GET /v1/events and /metrics answer anyone (the flag alone means true)",
    flag: "public-reads",
    env: "EVT_PUBLIC_READS",
    expected: "true or false",
    fromText: (t) => ({ true: true, "1": true, false: false, "0": false })[t.trim()] ?? t,
    schema: z.boolean(),
  }),
  setting({
    key: "allowedHosts",
    describe:
      "Host header served besides the listen address, localhost, 127.0.0.1 and [::1] (others get 421)",
    flag: "allowed-hosts",
    env: "EVT_ALLOWED_HOSTS",
    expected: "host names or IP addresses without a port, e.g. evt.example.com or 10.0.0.5",
    fromText: list,
    schema: z.array(z.string().regex(HOST_NAME)),
  }),
  setting({
    key: "corsOrigins",
    describe: "browser origin allowed to POST /e/:key (CORS); dev also allows loopback origins",
    flag: "cors-origin",
    env: "EVT_CORS_ORIGINS",
    expected: "origins without a path, e.g. https://shop.example or http://localhost:3000",
    fromText: list,
    schema: z.array(
      z
        .string()
        .regex(ORIGIN)
        .refine((o) => isOrigin(o)),
    ),
  }),
  setting({
    key: "logBufferBytes",
    describe: "log lines held for a slow stdout reader; past it lines are dropped and counted",
    flag: "log-buffer",
    env: "EVT_LOG_BUFFER",
    expected: "a size from 16kb to 256mb, e.g. 1mb",
    fromText: (t) => parseBytes(t) ?? Number.NaN,
    schema: z
      .number()
      .int()
      .min(16 * 1024)
      .max(256 * 1024 * 1024),
  }),
  setting({
    key: "maxPageBytes",
    describe: "byte budget of one GET /v1/events page (the cursor points at the rest)",
    flag: "max-page-bytes",
    env: "EVT_MAX_PAGE_BYTES",
    expected: "a size from 64kb to 256mb, e.g. 8mb",
    fromText: (t) => parseBytes(t) ?? Number.NaN,
    schema: z
      .number()
      .int()
      .min(64 * 1024)
      .max(256 * 1024 * 1024),
  }),
  setting({
    key: "maxConcurrentReads",
    describe: "GET /v1/events reads served at once (more get 429 with Retry-After)",
    flag: "max-concurrent-reads",
    env: "EVT_MAX_CONCURRENT_READS",
    expected: "an integer 1..1000",
    fromText: int,
    schema: z.number().int().min(1).max(1000),
  }),
  setting({
    key: "runs",
    describe:
      "run store of functions (runs.sqlite in the data folder, or PostgreSQL for several gateways)",
    flag: "runs",
    env: "EVT_RUNS",
    expected: "sqlite, memory or postgres://user@host:port/db",
    fromText: (t) => t.trim(),
    schema: z
      .string()
      .refine(
        (v) => v === "memory" || v === "sqlite" || isDriverUrl(v, ["postgres:", "postgresql:"]),
      ),
  }),
  setting({
    key: "appUrls",
    describe: "serve URL of an inngest SDK app, synced at start and every minute",
    flag: "app-url",
    env: "EVT_APP_URLS",
    expected: "http:// or https:// URLs, e.g. http://127.0.0.1:3000/api/inngest",
    fromText: list,
    schema: z.array(z.string().refine((v) => isHttpUrl(v))),
  }),
  setting({
    key: "signingKey",
    describe:
      "signing key shared with the SDK apps (INNGEST_SIGNING_KEY): calls are signed with it",
    flag: "signing-key",
    env: "EVT_SIGNING_KEY",
    expected: "signkey-<env>-<hex of even length>, e.g. signkey-prod-<64 hex digits>",
    fromText: (t) => t.trim(),
    schema: z.string().regex(SIGNING_KEY).nullable(),
  }),
  setting({
    key: "signingKeyFallback",
    describe: "previous signing key, still accepted at /fn/register while apps rotate",
    flag: "signing-key-fallback",
    env: "EVT_SIGNING_KEY_FALLBACK",
    expected: "signkey-<env>-<hex of even length>",
    fromText: (t) => t.trim(),
    schema: z.string().regex(SIGNING_KEY).nullable(),
  }),
  setting({
    key: "maxConcurrentRuns",
    describe: "function runs this gateway works on at once",
    flag: "max-concurrent-runs",
    env: "EVT_MAX_CONCURRENT_RUNS",
    expected: "an integer 1..1000",
    fromText: int,
    schema: z.number().int().min(1).max(1000),
  }),
  setting({
    key: "runLeaseMs",
    describe: "lease of a run being worked on (a killed gateway's runs move to another after it)",
    flag: "run-lease",
    env: "EVT_RUN_LEASE",
    expected: "a duration from 1s to 10m, e.g. 30s",
    fromText: (t) => parseDuration(t) ?? Number.NaN,
    schema: z.number().int().min(1_000).max(600_000),
  }),
  setting({
    key: "maxEventDelayMs",
    describe: "furthest a future event ts may be (its runs wait until then; further: 400)",
    flag: "max-event-delay",
    env: "EVT_MAX_EVENT_DELAY",
    expected: "a duration from 1s to 3650d, e.g. 365d",
    fromText: (t) => parseDuration(t) ?? Number.NaN,
    schema: z
      .number()
      .int()
      .min(1_000)
      .max(3650 * DAY),
  }),
] as const;

/** Defaults of every setting except `mode`. */
export const DEFAULTS: Omit<GatewayConfig, "mode"> = {
  port: 8288,
  host: "127.0.0.1",
  dataDir: "./.evt",
  eventKeys: [],
  keysFile: null,
  webhooksFile: null,
  apiKeys: [],
  dedup: "sqlite",
  store: "sqlite",
  dedupWindowMs: DAY,
  maxRequestBytes: 512 * 1024,
  maxInflightBytes: 64 * 1024 * 1024,
  logLevel: "info",
  pretty: false,
  shutdownTimeoutMs: 10_000,
  retentionMs: null,
  sqliteThread: "auto",
  sqliteTimeoutMs: 5_000,
  redisPrefix: null,
  pgTablePrefix: null,
  publicReads: false,
  allowedHosts: [],
  corsOrigins: [],
  logBufferBytes: 1024 * 1024,
  maxPageBytes: 8 * 1024 * 1024,
  maxConcurrentReads: 4,
  runs: "sqlite",
  appUrls: [],
  signingKey: null,
  signingKeyFallback: null,
  maxConcurrentRuns: 128,
  runLeaseMs: 30_000,
  maxEventDelayMs: 365 * DAY,
};

/** Settings read as comma-separated lists (repeatable flags). */
const LISTS = new Set<string>(["eventKeys", "apiKeys", "allowedHosts", "corsOrigins", "appUrls"]);

/** Where a value came from, for error messages: `--port`, `EVT_PORT` or `options.port`. */
type Origin = (s: { key: string; flag: string }) => string;

function check<K extends keyof GatewayConfig>(
  s: Setting<K>,
  value: unknown,
  shown: unknown,
  origin: string,
): GatewayConfig[K] {
  const result = s.schema.safeParse(value);
  if (!result.success) {
    if (s.key === "signingKey" || s.key === "signingKeyFallback") {
      const length = typeof value === "string" ? `${value.length} characters, ` : "";
      throw new ConfigError(
        `${origin} is not a valid signing key (${length}the key itself is not shown): expected ${s.expected}`,
      );
    }
    if (SECRET_LISTS.has(s.key)) {
      throw new ConfigError(`${origin} ${keyProblem(value)}: expected ${s.expected}`);
    }
    const text = !URL_SETTINGS.has(s.key)
      ? shown
      : typeof shown === "string"
        ? maskPassword(shown)
        : Array.isArray(shown)
          ? shown.map((v) => (typeof v === "string" ? maskPassword(v) : v))
          : shown;
    throw new ConfigError(`${origin} ${JSON.stringify(text)} is not valid: expected ${s.expected}`);
  }
  return result.data;
}

/** Settings whose values are secrets: an error names the position and the fault, never a key. */
const SECRET_LISTS = new Set<string>(["eventKeys", "apiKeys", "signingKey", "signingKeyFallback"]);
/** Settings that may hold a URL with a password (`postgres://user:secret@host/db`). */
const URL_SETTINGS = new Set<string>(["dedup", "store", "runs", "corsOrigins", "appUrls"]);

/**
 * Validates settings given as values (the programmatic API) and fills in the defaults.
 * Throws a {@link ConfigError} naming `options.<key>`, the value and what is allowed.
 *
 * @example
 * ```ts
 * const config = resolveConfig({ mode: "dev", port: 0, store: "memory", dedup: "memory" });
 * ```
 */
export function resolveConfig(options: GatewayOptions, origin?: Origin): GatewayConfig {
  const mode = options.mode ?? "dev";
  if (mode !== "dev" && mode !== "start") {
    throw new ConfigError(
      `options.mode ${JSON.stringify(mode)} is not valid: expected dev or start`,
    );
  }
  const config: Record<string, unknown> = { mode };
  for (const s of SETTINGS as readonly Setting<keyof GatewayConfig>[]) {
    const given = options[s.key];
    config[s.key] =
      given === undefined
        ? DEFAULTS[s.key as keyof typeof DEFAULTS]
        : check(s, given, given, origin ? origin(s) : `options.${s.key}`);
  }
  const resolved = config as unknown as GatewayConfig;
  // Runs live where the events do unless told otherwise: several gateways on one PostgreSQL
  // share runs without a second setting, and a memory store keeps its runs in memory too.
  if (options.runs === undefined) resolved.runs = resolved.store;
  if (resolved.mode === "start" && resolved.eventKeys.length === 0 && resolved.keysFile === null) {
    throw new ConfigError(
      'start (production mode) needs at least one event key: pass --event-key <key> (repeatable), set EVT_EVENT_KEYS=key1,key2 or give a --keys-file; use "evt-gateway dev" to accept any key while developing',
    );
  }
  if (resolved.mode === "start" && resolved.apiKeys.length === 0 && !resolved.publicReads) {
    throw new ConfigError(
      "start (production mode) needs at least one API key for GET /v1/events and /metrics: pass --api-key <key> (repeatable) or set EVT_API_KEYS=key1,key2; pass --public-reads (EVT_PUBLIC_READS=true) to serve reads to anyone on purpose",
    );
  }
  if (resolved.maxInflightBytes < resolved.maxRequestBytes) {
    throw new ConfigError(
      `--max-inflight-bytes (${resolved.maxInflightBytes} bytes) is smaller than --max-request-bytes (${resolved.maxRequestBytes} bytes): one request of the largest size could never be read; raise --max-inflight-bytes (EVT_MAX_INFLIGHT_BYTES) or lower --max-request-bytes`,
    );
  }
  if (resolved.signingKeyFallback !== null && resolved.signingKey === null) {
    throw new ConfigError(
      "--signing-key-fallback needs --signing-key (EVT_SIGNING_KEY): the fallback is the previous key of a rotation",
    );
  }
  if (resolved.mode === "start" && resolved.apiKeys.length > 0 && resolved.publicReads) {
    throw new ConfigError(
      "--public-reads and --api-key exclude each other: reads are either public or need a key; drop one of them (EVT_PUBLIC_READS, EVT_API_KEYS)",
    );
  }
  return resolved;
}

/**
 * Reads settings from flag values and environment variables (flags win) and validates them.
 * `flags` holds the raw strings from `parseArgs` (arrays for repeatable flags).
 */
export function configFromText(
  mode: GatewayMode,
  flags: Record<string, string | boolean | string[] | undefined>,
  env: Record<string, string | undefined>,
): GatewayConfig {
  const options: Record<string, unknown> = { mode };
  const origins = new Map<string, string>();
  for (const s of SETTINGS as readonly Setting<keyof GatewayConfig>[]) {
    const flag = flags[s.flag];
    let text: string | undefined;
    let origin: string;
    if (flag !== undefined) {
      origin = `--${s.flag}`;
      if (typeof flag === "boolean") {
        options[s.key] = flag;
        continue;
      }
      text = Array.isArray(flag) ? flag.join(",") : flag;
      if (Array.isArray(flag)) {
        // Each use of a repeatable flag is one value: a comma or a blank in it is a mistake.
        check(s, flag, flag, origin);
      }
    } else {
      text = env[s.env];
      origin = s.env;
      if (text === undefined || text === "") continue;
    }
    if (LISTS.has(s.key) && list(text).length === 0) {
      throw new ConfigError(
        `${origin} ${JSON.stringify(text)} lists nothing: give at least one value (${s.expected}), or leave ${origin} unset`,
      );
    }
    origins.set(s.key, origin);
    options[s.key] = check(s, s.fromText(text), text, origin);
  }
  return resolveConfig(options as GatewayOptions, (s) => origins.get(s.key) ?? `--${s.flag}`);
}

/**
 * Whether the SQLite stores run in a worker thread: `sqliteThread` when it is `true` or
 * `false`; for `auto`, when the process may use more than one CPU.
 *
 * @example
 * ```ts
 * sqliteInWorker({ sqliteThread: "auto" }, 1); // false: one CPU, the stores stay on the HTTP thread
 * ```
 */
export function sqliteInWorker(
  config: Pick<GatewayConfig, "sqliteThread">,
  cpus: number = availableParallelism(),
): boolean {
  return config.sqliteThread === "auto" ? cpus > 1 : config.sqliteThread;
}

/** The driver part of `--dedup`/`--store` for logs: `redis`, `postgres`, `sqlite`, `memory`. */
export function driverName(value: string): string {
  if (value === "memory" || value === "sqlite") return value;
  const scheme = new URL(value).protocol.replace(/:$/, "");
  return scheme.startsWith("redis") ? "redis" : "postgres";
}

/** Help text of one setting's default, as the flag takes it. */
export function defaultText(key: keyof typeof DEFAULTS): string {
  const value = DEFAULTS[key];
  if (
    key === "dedupWindowMs" ||
    key === "shutdownTimeoutMs" ||
    key === "sqliteTimeoutMs" ||
    key === "runLeaseMs" ||
    key === "maxEventDelayMs"
  )
    return formatDuration(value as number);
  if (key === "maxInflightBytes" || key === "maxPageBytes") {
    return `${(value as number) / 1024 / 1024}mb`;
  }
  if (key === "maxRequestBytes" || key === "logBufferBytes") return `${(value as number) / 1024}kb`;
  if (key === "retentionMs") return "off";
  if (
    key === "keysFile" ||
    key === "webhooksFile" ||
    key === "signingKey" ||
    key === "signingKeyFallback"
  )
    return "none";
  if (key === "runs") return "the value of --store";
  if (key === "pretty") return "on for dev when stdout is a terminal";
  if (Array.isArray(value)) return "none";
  if (value === null) return "driver default";
  return String(value);
}

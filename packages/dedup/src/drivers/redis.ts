import type { Cluster, Redis, RedisOptions } from "ioredis";
import { closedError, DedupError } from "../errors.js";
import { checkTimeout, importLib, withTimeout } from "../internal.js";
import type { ClaimResult, DedupStore } from "../types.js";
import { checkEntries, checkTtl, expand, planBatch } from "../validate.js";
import { CLAIM_BATCH, type LuaScript, RELEASE_BATCH, RELEASE_ONE } from "./redis-scripts.js";

/**
 * The parts of an ioredis `Redis` or `Cluster` this driver uses. Any `new Redis(...)` or
 * `new Cluster(...)` fits; the type is structural so that these declarations import nothing
 * from `ioredis` (a TypeScript consumer needs it only when they use this driver).
 */
export interface RedisClient {
  readonly status: string;
  readonly isCluster: boolean;
  connect(): Promise<unknown>;
  once(event: "ready" | "end", listener: () => void): unknown;
  off(event: "ready" | "end", listener: () => void): unknown;
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  ping(): Promise<string>;
}

/** Options of {@link createRedisStore}: give `url` (the store owns a connection) or `client`. */
export interface RedisStoreOptions {
  /** Connection URL, e.g. `redis://127.0.0.1:6379/0` or `rediss://...`. */
  url?: string;
  /**
   * An ioredis `Redis` or `Cluster` to use instead of `url`. The store never closes it. For the
   * guarantee that a rejected claim was not applied later, create it with
   * `enableOfflineQueue: false` and `autoResendUnfulfilledCommands: false` (the store waits for
   * the `ready` state itself and never sends while disconnected).
   */
  client?: RedisClient;
  /**
   * Prepended to every key so tenants sharing a server never collide. A NUL byte always follows
   * it (`<prefix>\0<key>`), so nested prefixes (`a:` and `a:b:`) cannot produce the same Redis
   * key; the prefix itself may not contain NUL. @default "evt:dedup:"
   */
  prefix?: string;
  /**
   * Longest a call waits (connecting included) before rejecting with a retryable
   * `DedupError` (`unavailable`).
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * Extra ioredis options (`RedisOptions`) for the connection made from `url` (they override
   * the store's). Typed `object` so that these declarations need no `ioredis`.
   */
  redisOptions?: object;
}

const DRIVER = "redis";
const RETRYABLE_REPLY =
  /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|MOVED|ASK|NOREPLICAS)\b/;

type Client = Redis | Cluster;

/**
 * A deduplication store in Redis (ioredis, loaded on first use), shared by any number of
 * gateways. Each key is claimed with `SET key value NX PX ttl GET` (Redis >= 7.0), which
 * answers `nil` when the key was free (fresh) or the first claimer's value (duplicate),
 * atomically. On a single Redis a whole batch is ONE round trip: a Lua script (`claim_batch`)
 * running those SETs. With a `Cluster` client the keys of a batch may live in different slots,
 * so each key gets its own SET (sent concurrently, grouped per node by ioredis); no script ever
 * spans slots. `release` is a compare-and-delete Lua script.
 *
 * @example
 * ```ts
 * import { createRedisStore } from "@evt/dedup/redis";
 * const store = createRedisStore({ url: "redis://127.0.0.1:6379", prefix: "acme:dedup:" });
 * const [r] = await store.claim([{ key: "order-1", value: "01J..." }], 86_400_000);
 * await store.close();
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): DedupStore {
  if (!options || (options.url === undefined) === (options.client === undefined)) {
    throw new DedupError("invalid_argument", "give exactly one of options.url or options.client", {
      driver: DRIVER,
    });
  }
  const given = options.prefix ?? "evt:dedup:";
  if (typeof given !== "string" || given.includes("\u0000")) {
    throw new DedupError(
      "invalid_argument",
      "options.prefix must be a string without NUL (U+0000), which the driver puts after it",
      { driver: DRIVER },
    );
  }
  // The separator after the prefix makes the mapping (prefix, key) -> Redis key one-to-one.
  const prefix = `${given}\u0000`;
  const timeoutMs = checkTimeout(DRIVER, options.timeoutMs);
  const owned = options.client === undefined;
  // structural in the options (see RedisClient); the driver itself works with ioredis's types
  let client = options.client as unknown as Client | undefined;
  let creating: Promise<Client> | undefined;
  let closed = false;
  let lastError: Error | undefined;
  /** One shared wait for `ready`, so calls made while disconnected add no listeners each. */
  let waiting: Promise<void> | undefined;

  async function getClient(): Promise<Client> {
    if (client) return client;
    creating ??= (async () => {
      const RedisCtor = await importLib<typeof Redis>(DRIVER, "ioredis", () => import("ioredis"));
      const c = new RedisCtor(options.url!, {
        lazyConnect: true,
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        connectTimeout: timeoutMs,
        commandTimeout: timeoutMs,
        retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
        ...(options.redisOptions as RedisOptions | undefined),
      });
      c.on("error", (err: Error) => {
        lastError = err;
      });
      client = c;
      return c;
    })();
    creating.catch(() => {
      creating = undefined;
    });
    return creating;
  }

  /** Waits until the connection is ready, so nothing is queued while disconnected. */
  async function ready(): Promise<Client> {
    const c = await getClient();
    if (c.status === "ready") return c;
    if (c.status === "wait") {
      c.connect().catch((err: Error) => {
        lastError = err;
      });
    } else if (c.status === "end") {
      // "end" means no reconnection is scheduled any more ("close" means one is)
      if (!owned) throw unavailable("the given client has ended; connect it again", lastError);
      c.connect().catch((err: Error) => {
        lastError = err;
      });
    }
    waiting ??= new Promise<void>((resolve, reject) => {
      const onReady = () => {
        c.off("end", onEnd);
        waiting = undefined;
        resolve();
      };
      const onEnd = () => {
        c.off("ready", onReady);
        waiting = undefined;
        reject(unavailable("the connection ended", lastError));
      };
      c.once("ready", onReady);
      c.once("end", onEnd);
    });
    waiting.catch(() => {});
    await waiting;
    return c;
  }

  async function run<T>(what: string, work: (c: Client) => Promise<T>): Promise<T> {
    if (closed) throw closedError(DRIVER);
    try {
      return await withTimeout(
        DRIVER,
        what,
        timeoutMs,
        ready().then((c) => work(c)),
      );
    } catch (err) {
      if (err instanceof DedupError && err.code === "unavailable" && lastError && !err.cause) {
        throw unavailable(
          `${what} failed (last connection error: ${lastError.message})`,
          lastError,
        );
      }
      throw toDedupError(err);
    }
  }

  /** Runs a script by SHA, loading it with EVAL when the server does not know it yet. */
  async function evalScript(c: Client, sc: LuaScript, keys: string[], args: (string | number)[]) {
    try {
      return await c.evalsha(sc.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return c.eval(sc.source, keys.length, ...keys, ...args);
    }
  }

  /** Cluster: one command per key (each in its own slot), sent concurrently. */
  function perKey<T>(count: number, command: (i: number) => Promise<T>): Promise<T[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => command(i)));
  }

  return {
    driver: DRIVER,
    async claim(entries, ttlMs) {
      if (closed) throw closedError(DRIVER);
      checkEntries(entries, "claim");
      checkTtl(ttlMs);
      if (entries.length === 0) return [];
      const plan = planBatch(entries);
      const keys = plan.unique.map((e) => prefix + e.key);
      const replies = await run(`claim of ${keys.length} keys`, async (c) => {
        if ((c as Cluster).isCluster) {
          return perKey(keys.length, async (i) => {
            const old = await c.call(
              "SET",
              keys[i]!,
              plan.unique[i]!.value,
              "NX",
              "PX",
              ttlMs,
              "GET",
            );
            return old === null ? 0 : old;
          });
        }
        const values = plan.unique.map((e) => e.value);
        return (await evalScript(c, CLAIM_BATCH, keys, [ttlMs, ...values])) as unknown[];
      });
      if (!Array.isArray(replies) || replies.length !== keys.length) {
        throw new DedupError("internal", `claim of ${keys.length} keys got a malformed reply`, {
          driver: DRIVER,
        });
      }
      const results = replies.map((r, i): ClaimResult => {
        if (r === 0) return { fresh: true };
        if (typeof r === "string") return { fresh: false, value: r };
        throw new DedupError("internal", `unexpected reply for entries key #${i}: ${String(r)}`, {
          driver: DRIVER,
        });
      });
      return expand(plan, results);
    },
    async release(entries) {
      if (closed) throw closedError(DRIVER);
      checkEntries(entries, "release");
      if (entries.length === 0) return;
      const keys = entries.map((e) => prefix + e.key);
      const values = entries.map((e) => e.value);
      await run(`release of ${keys.length} keys`, async (c) => {
        if ((c as Cluster).isCluster) {
          await perKey(keys.length, (i) => evalScript(c, RELEASE_ONE, [keys[i]!], [values[i]!]));
        } else {
          await evalScript(c, RELEASE_BATCH, keys, values);
        }
      });
    },
    async ping() {
      await run("PING", (c) => c.ping());
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!owned) return;
      const c = await creating?.catch(() => undefined);
      if (!c) return;
      if (c.status === "ready") await c.quit().catch(() => c.disconnect());
      else c.disconnect();
    },
  };
}

function unavailable(message: string, cause?: unknown): DedupError {
  return new DedupError("unavailable", message, { driver: DRIVER, cause });
}

function toDedupError(err: unknown): DedupError {
  if (err instanceof DedupError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === "ReplyError" && !RETRYABLE_REPLY.test(e.message)) {
    const hint = /syntax error/i.test(e.message)
      ? " (SET with both NX and GET needs Redis >= 7.0)"
      : "";
    return new DedupError("internal", `Redis refused the command: ${e.message}${hint}`, {
      driver: DRIVER,
      cause: err,
    });
  }
  return unavailable(
    `Redis did not answer: ${e.message}; the outcome is unknown, retry later`,
    err,
  );
}

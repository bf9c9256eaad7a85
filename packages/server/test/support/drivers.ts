import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createMemoryStore,
  createRedisStore,
  createSqliteStore,
  type DedupStore,
} from "@evt/dedup";
import {
  createMemoryEventStore,
  createPostgresEventStore,
  createSqliteEventStore,
  type EventStore,
} from "@evt/store";

export const REDIS_URL = process.env.EVT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const POSTGRES_URL =
  process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";

/** One dedup store + one event store, and how to dispose of both. */
export interface Stores {
  dedup: DedupStore;
  store: EventStore;
  close(): Promise<void>;
}

/** A driver combination the shared suite runs against. */
export interface DriverCombo {
  name: string;
  /** Fresh, empty stores; `tag` makes key prefixes / table names unique per test file. */
  create(tag: string): Promise<Stores>;
}

let counter = 0;
function unique(tag: string): string {
  counter++;
  return `${tag}_${process.pid}_${Date.now().toString(36)}_${counter}`.replace(/[^a-z0-9_]/gi, "_");
}

export const memory: DriverCombo = {
  name: "memory",
  async create() {
    const dedup = createMemoryStore();
    const store = createMemoryEventStore();
    return {
      dedup,
      store,
      async close() {
        await dedup.close();
        await store.close();
      },
    };
  },
};

export const sqlite: DriverCombo = {
  name: "sqlite",
  async create(tag) {
    const dir = mkdtempSync(join(tmpdir(), `evt-server-${tag}-`));
    const dedup = createSqliteStore({ path: join(dir, "dedup.db") });
    const store = createSqliteEventStore({ path: join(dir, "events.db") });
    return {
      dedup,
      store,
      async close() {
        await dedup.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const redisPostgres: DriverCombo = {
  name: "redis+postgres",
  async create(tag) {
    const name = unique(`evt_srv_${tag}`).toLowerCase();
    const dedup = createRedisStore({ url: REDIS_URL, prefix: `evt-test:server:${name}:` });
    const store = createPostgresEventStore({ url: POSTGRES_URL, table: name });
    return {
      dedup,
      store,
      async close() {
        await dedup.close();
        await store.close();
        const client = new (await pgClient())({ connectionString: POSTGRES_URL });
        await client.connect();
        try {
          await client.query(`DROP TABLE IF EXISTS "${name}"`);
        } finally {
          await client.end();
        }
        const { Redis } = await import("ioredis");
        const redis = new Redis(REDIS_URL);
        try {
          const keys = await redis.keys(`evt-test:server:${name}:*`);
          if (keys.length > 0) await redis.del(...keys);
        } finally {
          redis.disconnect();
        }
      },
    };
  },
};

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}

/** `pg`'s Client (typed here: this package has no @types/pg). */
async function pgClient(): Promise<new (o: { connectionString: string }) => PgClient> {
  const name = "pg";
  const mod = (await import(name)) as {
    default: { Client: new (o: { connectionString: string }) => PgClient };
  };
  return mod.default.Client;
}

import {
  type ClaimResult,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  DedupError,
  type DedupErrorCode,
  type DedupStore,
} from "@evt/dedup";
import { createPostgresStore as createPgStore } from "@evt/dedup/postgres";
import { createRedisStore } from "@evt/dedup/redis";
import { createSqliteStore as createSqlite } from "@evt/dedup/sqlite";
import { runDedupConformance } from "@evt/dedup/testing";
import Database from "better-sqlite3";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import pg from "pg";
import { describe, expectTypeOf, it } from "vitest";

describe("public types", () => {
  it("narrows a claim result on fresh", () => {
    const r = {} as ClaimResult;
    if (!r.fresh) expectTypeOf(r.value).toEqualTypeOf<string>();
    // @ts-expect-error a fresh result carries no value
    if (r.fresh) void r.value;
  });

  it("returns stores, with extra members only where documented", () => {
    expectTypeOf(createMemoryStore()).toEqualTypeOf<DedupStore>();
    expectTypeOf(createRedisStore({ url: "redis://x" })).toEqualTypeOf<DedupStore>();
    expectTypeOf(createPostgresStore({ url: "postgres://x" }).migrate).toEqualTypeOf<
      () => Promise<void>
    >();
    expectTypeOf(createSqliteStore({ path: "x.db" }).sweep).toEqualTypeOf<() => Promise<number>>();
    expectTypeOf(runDedupConformance).parameter(1).toEqualTypeOf<() => Promise<DedupStore>>();
  });

  it("accepts real ioredis, pg and better-sqlite3 objects without casts", () => {
    // The options' client types are structural (no driver types in the declarations): the
    // drivers' own objects and option types must still fit them.
    const redis = new Redis({ lazyConnect: true });
    const cluster = new Cluster([], { lazyConnect: true });
    expectTypeOf(createRedisStore({ client: redis })).toEqualTypeOf<DedupStore>();
    expectTypeOf(createRedisStore({ client: cluster })).toEqualTypeOf<DedupStore>();
    const redisOptions: RedisOptions = { db: 1 };
    expectTypeOf(createRedisStore({ url: "redis://x", redisOptions })).toEqualTypeOf<DedupStore>();
    const poolOptions: pg.PoolConfig = { max: 2 };
    expectTypeOf(createPgStore({ pool: new pg.Pool(), poolOptions }).sweep).toEqualTypeOf<
      () => Promise<number>
    >();
    expectTypeOf(createSqlite({ database: new Database(":memory:") }).sweep).toEqualTypeOf<
      () => Promise<number>
    >();
    // @ts-expect-error not a database
    createSqlite({ database: { prepare: () => null } });
    // @ts-expect-error not a Redis client
    createRedisStore({ client: { status: "ready" } });
  });

  it("types the error code as a closed union", () => {
    expectTypeOf<DedupError["code"]>().toEqualTypeOf<DedupErrorCode>();
    // @ts-expect-error not a code
    new DedupError("oops", "message");
  });
});

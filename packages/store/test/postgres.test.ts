import { type StoredEvent, StoreError } from "@evt/store";
import {
  createPostgresEventStore,
  createPostgresStore,
  migratePostgresStore,
} from "@evt/store/postgres";
import { runStoreConformance } from "@evt/store/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { closedPort, startProxy } from "./helpers/proxy";

const url = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const table = `evt_store_test_${suffix}`;
const tables = [table];
const admin = new pg.Pool({ connectionString: url, max: 2 });

function tableName(topic: string): string {
  const name = `evt_store_${topic}_${suffix}`;
  tables.push(name);
  return name;
}

afterAll(async () => {
  for (const t of tables) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  await admin.end();
});

runStoreConformance("postgres", async () => createPostgresStore({ url, table }), {
  persistent: true,
});

function event(n: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    internal_id: `01P${String(n).padStart(10, "0")}`,
    id: null,
    name: "t/e",
    data: { n },
    user: null,
    ts: 1_750_000_000_000 + n,
    v: null,
    env: "production",
    received_at: 1_750_000_000_000 + n,
    source: null,
    source_id: null,
    ...over,
  };
}

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe("postgres store", () => {
  it("lists environments bytewise even when the env column has a locale collation", async () => {
    const t = tableName("collation");
    const store = createPostgresStore({ url, table: t });
    try {
      await store.migrate();
      // A database created with a locale (or an ICU column) sorts "_x" < "a" < "B" < "b".
      await admin.query(`ALTER TABLE "${t}" ALTER COLUMN env TYPE text COLLATE "und-x-icu"`);
      const envs = ["b", "B", "a", "_x"];
      await store.append(envs.map((env, i) => event(i, { env })));
      expect((await store.listEnvs()).map((e) => e.env)).toEqual(["B", "_x", "a", "b"]);
    } finally {
      await store.close();
    }
  });

  it("creates the schema once when several stores start at the same time", async () => {
    const t = tableName("race");
    const stores = Array.from({ length: 6 }, () => createPostgresStore({ url, table: t, max: 1 }));
    await Promise.all(stores.map((s, i) => s.append([event(i)])));
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${t}"`);
    expect(rows[0].n).toBe(6);
    const indexes = await admin.query("SELECT indexname FROM pg_indexes WHERE tablename = $1", [t]);
    expect(indexes.rows.map((r) => r.indexname).sort()).toEqual(
      [`${t}_env_name_time`, `${t}_env_time`, `${t}_pkey`].sort(),
    );
    await Promise.all(stores.map((s) => s.close()));
  });

  it("migrates ahead of time, and with autoMigrate off never creates tables", async () => {
    const t = tableName("migrate");
    const lazy = createPostgresStore({ url, table: t, autoMigrate: false });
    const error = await failure(lazy.append([event(1)]));
    expect(error.code).toBe("failed");
    expect(error.message).toContain(t);
    await migratePostgresStore({ url, table: t });
    await migratePostgresStore({ url, table: t });
    await lazy.append([event(1)]);
    expect(await lazy.get(event(1).internal_id, "production")).toStrictEqual(event(1));
    await lazy.close();
  });

  it("adds the source columns to a table an older release created; its rows read back null", async () => {
    const t = tableName("old_schema");
    await admin.query(`CREATE TABLE "${t}" (env text NOT NULL, internal_id text COLLATE "C" NOT NULL,
      id text, name text NOT NULL, data jsonb NOT NULL, "user" jsonb, ts bigint NOT NULL, v text,
      received_at bigint NOT NULL, CONSTRAINT "${t}_pkey" PRIMARY KEY (env, internal_id))`);
    await admin.query(
      `INSERT INTO "${t}" VALUES ('production', '01OLD', NULL, 't/old', '{}', NULL, 1, NULL, 1)`,
    );
    const stores = Array.from({ length: 3 }, () => createPostgresStore({ url, table: t, max: 1 }));
    await Promise.all(stores.map((s) => s.ping()));
    const [store] = stores;
    expect(await store!.get("01OLD", "production")).toMatchObject({
      name: "t/old",
      source: null,
      source_id: null,
    });
    const e = event(2, { source: "function", source_id: "01RUN" });
    await store!.append([e]);
    expect(await store!.get(e.internal_id, "production")).toStrictEqual(e);
    expect((await store!.list({ env: "production", limit: 5 })).events[0]).toStrictEqual(e);
    await Promise.all(stores.map((s) => s.close()));
  });

  it("uses a pool passed in and never ends it", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const store = createPostgresEventStore({ pool, table });
    await store.append([event(1, { env: "user-pool" })]);
    await store.close();
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${table}" WHERE env = $1`, [
      "user-pool",
    ]);
    expect(rows[0].n).toBe(1);
    await pool.end();
  });

  it("rolls back the whole statement when the database refuses one row", async () => {
    const t = tableName("trigger");
    const store = createPostgresStore({ url, table: t });
    await store.migrate();
    await admin.query(`CREATE FUNCTION "${t}_boom"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.name = 'boom' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`);
    await admin.query(
      `CREATE TRIGGER boom BEFORE INSERT ON "${t}" FOR EACH ROW EXECUTE FUNCTION "${t}_boom"()`,
    );
    const error = await failure(store.append([event(1), event(2), event(3, { name: "boom" })]));
    expect(error.message).toMatch(/^\[evt\/store\] \[postgres\] append of 3 events failed/);
    expect(error.message).toContain("refused by test trigger");
    expect(await store.has([event(1).internal_id, event(2).internal_id], "production")).toEqual(
      new Set(),
    );
    await store.close();
    await admin.query(`DROP TABLE "${t}"; DROP FUNCTION "${t}_boom"()`);
  });

  it("explains that jsonb cannot hold U+0000, without calling it retryable", async () => {
    const store = createPostgresStore({ url, table });
    const error = await failure(store.append([event(1, { env: "nul", data: { s: "a\u0000b" } })]));
    expect(error.code).toBe("invalid_input");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("\\u0000");
    await store.close();
  });

  it("answers unavailable (retryable) when nothing listens on the port", async () => {
    const port = await closedPort();
    const store = createPostgresStore({
      url: `postgres://postgres@127.0.0.1:${port}/evt_test`,
      table,
      timeoutMs: 500,
    });
    for (const call of [store.ping(), store.append([event(1)]), store.get("x", "production")]) {
      const error = await failure(call);
      expect(error.code).toBe("unavailable");
      expect(error.retryable).toBe(true);
      expect(error.message).toMatch(/^\[evt\/store\] \[postgres\] /);
    }
    await store.close();
  });

  it("answers unavailable instead of hanging when the server stops answering, then recovers", async () => {
    const proxy = await startProxy(5432, "127.0.0.1");
    const store = createPostgresStore({
      url: `postgres://postgres@127.0.0.1:${proxy.port}/evt_test`,
      table,
      timeoutMs: 400,
    });
    await store.ping();
    proxy.setMode("hold");
    const held = await failure(store.append([event(1, { env: "proxy-hold" })]));
    expect(held.code).toBe("unavailable");
    expect(held.retryable).toBe(true);
    const pingError = await failure(store.ping());
    expect(pingError.code).toBe("unavailable");
    proxy.setMode("forward");
    await store.append([event(1, { env: "proxy-hold" })]);
    expect(await store.has([event(1).internal_id], "proxy-hold")).toEqual(
      new Set([event(1).internal_id]),
    );
    await store.close();
    await proxy.close();
  });

  it("answers unavailable when the connection dies mid-request, and recovers", async () => {
    const proxy = await startProxy(5432, "127.0.0.1");
    const store = createPostgresStore({
      url: `postgres://postgres@127.0.0.1:${proxy.port}/evt_test`,
      table,
      timeoutMs: 1_000,
    });
    await store.ping();
    proxy.setMode("drop");
    const dropped = await failure(store.append([event(1, { env: "proxy-drop" })]));
    expect(dropped.code).toBe("unavailable");
    expect(dropped.retryable).toBe(true);
    proxy.setMode("forward");
    proxy.destroyAll();
    await store.append([event(1, { env: "proxy-drop" }), event(2, { env: "proxy-drop" })]);
    const page = await store.list({ env: "proxy-drop", limit: 10 });
    expect(page.events.map((e) => e.internal_id)).toEqual([
      event(2).internal_id,
      event(1).internal_id,
    ]);
    await store.close();
    await proxy.close();
  });

  it("appends 5,000 events in one statement (array parameters, not one per value)", async () => {
    const store = createPostgresStore({ url, table });
    const events = Array.from({ length: 5000 }, (_, i) => event(i, { env: "big" }));
    await store.append(events);
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM "${table}" WHERE env = 'big'`,
    );
    expect(rows[0].n).toBe(5000);
    await store.close();
  });

  it("rejects bad options with a message saying what is allowed", () => {
    expect(() => createPostgresStore({})).toThrow(/exactly one of `url`/);
    expect(() => createPostgresStore({ url, table: "a-b" })).toThrow(/plain identifier/);
    expect(() => createPostgresStore({ url, timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

import { randomUUID } from "node:crypto";
import { createPostgresStore, DedupError } from "@evt/dedup";
import { runDedupConformance } from "@evt/dedup/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startProxy } from "./helpers/proxy.js";
import { expectEveryCallUnavailable } from "./helpers/unavailable.js";

const url = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const table = `evt_dedup_test_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
const DAY = 86_400_000;

// A generous timeout: the concurrency case sends 8 x 10,000 keys at once on a shared machine.
runDedupConformance("postgres", async () =>
  createPostgresStore({ url, table, timeoutMs: 30_000, poolOptions: { max: 2 } }),
);

describe("postgres store", () => {
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  afterAll(async () => {
    for (const t of [
      table,
      `${table}_ns`,
      `${table}_sweep`,
      `${table}_race`,
      `${table}_unlogged`,
    ]) {
      await admin.query(`DROP TABLE IF EXISTS "${t}"`);
    }
    await admin.end();
  });

  it("creates its table once even when many stores start at the same time", async () => {
    const t = `${table}_race`;
    const stores = Array.from({ length: 6 }, () =>
      createPostgresStore({ url, table: t, poolOptions: { max: 1 } }),
    );
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const res = await admin.query("SELECT to_regclass($1) AS t", [t]);
      expect(res.rows[0].t).toBe(t);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("keeps namespaces apart in one table", async () => {
    const t = `${table}_ns`;
    const a = createPostgresStore({ url, table: t, namespace: "tenant-a" });
    const b = createPostgresStore({ url, table: t, namespace: "tenant-b" });
    try {
      expect(await a.claim([{ key: "k", value: "va" }], DAY)).toEqual([{ fresh: true }]);
      expect(await b.claim([{ key: "k", value: "vb" }], DAY)).toEqual([{ fresh: true }]);
      expect(await a.claim([{ key: "k", value: "x" }], DAY)).toEqual([
        { fresh: false, value: "va" },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("sweeps expired rows and leaves live ones", async () => {
    const t = `${table}_sweep`;
    const s = createPostgresStore({ url, table: t, sweepBatch: 7 });
    try {
      await s.claim(
        Array.from({ length: 30 }, (_, i) => ({ key: `old${i}`, value: "v" })),
        50,
      );
      await s.claim([{ key: "live", value: "v" }], DAY);
      await new Promise((r) => setTimeout(r, 200));
      expect(await s.sweep()).toBe(30);
      const left = await admin.query(`SELECT convert_from(key, 'UTF8') AS k FROM "${t}"`);
      expect(left.rows.map((r) => r.k)).toEqual(["live"]);
    } finally {
      await s.close();
    }
  });

  it("uses a given pool and leaves it open on close", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const s = createPostgresStore({ pool, table });
    expect(await s.claim([{ key: `own-${randomUUID()}`, value: "v" }], DAY)).toEqual([
      { fresh: true },
    ]);
    await s.close();
    expect((await pool.query("SELECT 1 AS one")).rows[0].one).toBe(1);
    await pool.end();
  });

  it("rejects with a retryable DedupError when nothing listens", async () => {
    const s = createPostgresStore({
      url: "postgres://postgres@127.0.0.1:1/evt_test",
      table,
      timeoutMs: 500,
    });
    await expectEveryCallUnavailable(s, "postgres");
  });

  it("rejects a batch cut off mid-request and recovers on the next call", async () => {
    const target = new URL(url);
    const proxy = await startProxy(target.hostname, Number(target.port || 5432));
    const proxied = new URL(url);
    proxied.port = String(proxy.port);
    const s = createPostgresStore({
      url: proxied.toString(),
      table,
      timeoutMs: 1500,
      poolOptions: { max: 1 },
    });
    try {
      await s.ping();
      const batch = Array.from({ length: 100 }, (_, i) => ({
        key: `cut-${randomUUID()}-${i}`,
        value: "v",
      }));
      proxy.cut = "request";
      const err = await s.claim(batch, DAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect(err).toMatchObject({ code: "unavailable", retryable: true });
      proxy.cut = false;
      expect(await s.claim(batch, DAY)).toEqual(batch.map(() => ({ fresh: true })));
    } finally {
      await s.close();
      await proxy.close();
    }
  });

  it("rejects a batch whose reply is lost, and never reports a stranger's value for it", async () => {
    const target = new URL(url);
    const proxy = await startProxy(target.hostname, Number(target.port || 5432));
    const proxied = new URL(url);
    proxied.port = String(proxy.port);
    const s = createPostgresStore({
      url: proxied.toString(),
      table,
      timeoutMs: 1500,
      poolOptions: { max: 1 },
    });
    try {
      await s.ping();
      const batch = Array.from({ length: 50 }, (_, i) => ({
        key: `lost-${randomUUID()}-${i}`,
        value: `mine-${i}`,
      }));
      proxy.cut = "reply";
      const err = await s.claim(batch, DAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect(err).toMatchObject({ code: "unavailable", retryable: true });
      proxy.cut = false;
      const out = await s.claim(batch, DAY);
      // whether or not the lost statement committed, a retry sees nobody else's claim
      for (const [i, r] of out.entries()) {
        if (!r.fresh) expect(r.value).toBe(batch[i]!.value);
      }
    } finally {
      await s.close();
      await proxy.close();
    }
  });

  it("claims a whole batch in one statement", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const s = createPostgresStore({ pool, table, sweepIntervalMs: 0 });
    await s.migrate();
    const sent: string[] = [];
    const query = pool.query.bind(pool);
    pool.query = ((text: string, values?: unknown[]) => {
      sent.push(text);
      return query(text, values);
    }) as typeof pool.query;
    const batch = Array.from({ length: 1000 }, (_, i) => ({
      key: `one-${randomUUID()}-${i % 900}`,
      value: `v${i}`,
    }));
    const out = await s.claim(batch, DAY);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^INSERT INTO [\s\S]*\bON CONFLICT\b/);
    expect(out.filter((r) => r.fresh)).toHaveLength(new Set(batch.map((e) => e.key)).size);
    await s.close();
    await pool.end();
  });

  it("creates an UNLOGGED table when asked", async () => {
    const t = `${table}_unlogged`;
    const s = createPostgresStore({ url, table: t, unlogged: true });
    try {
      await s.migrate();
      const res = await admin.query("SELECT relpersistence FROM pg_class WHERE relname = $1", [t]);
      expect(res.rows[0].relpersistence).toBe("u");
    } finally {
      await s.close();
    }
  });

  it("refuses a table name that is not a plain identifier", () => {
    expect(() => createPostgresStore({ url, table: 'x"; DROP TABLE y; --' })).toThrow(
      /options.table .* is not allowed; use letters, digits and _/,
    );
  });
});

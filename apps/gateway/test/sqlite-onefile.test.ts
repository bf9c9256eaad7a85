import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDedupConformance } from "@evt/dedup/testing";
import { runRunStoreConformance } from "@evt/functions/testing";
import type { NormalizedEvent } from "@evt/schema";
import type { EventOrigin } from "@evt/server";
import { createSqliteEventStore, StoreError } from "@evt/store";
import { runStoreConformance } from "@evt/store/testing";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteFile } from "../src/sqlite-file";
import { openSqliteThread } from "../src/sqlite-thread";

const dir = mkdtempSync(join(tmpdir(), "evt-sqlite-onefile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The three stores of one file, in one worker thread sharing one connection and commit. */
const inThread = (file: string) =>
  openSqliteThread({ dedupPath: file, storePath: file, runsPath: file, oneFile: true });

// Sharing a connection and a commit must not change what the stores do: the three conformance
// suites run against the stores of one file, in the worker thread and on this thread.
runDedupConformance(
  "sqlite, one file in a worker thread",
  async () => inThread(join(dir, "d.sqlite")).dedup!,
);
runStoreConformance(
  "sqlite, one file in a worker thread",
  async () => inThread(join(dir, "e.sqlite")).store!,
  { persistent: true, keyOrder: true, nulCharacter: true },
);
runRunStoreConformance(
  "sqlite, one file in a worker thread",
  (key) => inThread(join(dir, `r-${key}.sqlite`)).runs!,
  { sharedData: true },
);
runRunStoreConformance(
  "sqlite, one file on this thread",
  (key) =>
    openSqliteFile(join(dir, `m-${key}.sqlite`), { dedup: true, store: true, runs: true }).runs!,
  { sharedData: true },
);

const API: EventOrigin = { source: "api", sourceId: null };

const event = (n: number, id: string | null): NormalizedEvent => ({
  id,
  name: "app/ingest",
  data: { n },
  user: null,
  ts: 1_750_000_000_000 + n,
  v: null,
});

describe("ingest in the SQLite worker thread (one message per request)", () => {
  it("stores a request's new events, answers duplicates with the first internal id, and reports the hooks' durations", async () => {
    const t = inThread(join(dir, "ingest.sqlite"));
    expect(t.ingest).toBeTypeOf("function");
    const timings: string[] = [];
    const deps = {
      dedup: t.dedup!,
      store: t.store!,
      windowMs: 60_000,
      hooks: {
        onDedup: (ms: number) => timings.push(`dedup ${ms >= 0}`),
        onStore: (ms: number) => timings.push(`store ${ms >= 0}`),
      },
    };
    const ids1 = ["01J0000000000000000000000A", "01J0000000000000000000000B"];
    const first = await t.ingest!(
      deps,
      [event(1, "a"), event(2, null)],
      ids1,
      "production",
      5,
      API,
    );
    expect(first).toMatchObject({ ok: true, ids: ids1, accepted: 2, duplicates: 0 });
    expect(
      first.ok && first.stored.map((e) => [e.internal_id, e.id, e.received_at, e.source]),
    ).toEqual([
      [ids1[0], "a", 5, "api"],
      [ids1[1], null, 5, "api"],
    ]);
    const second = await t.ingest!(
      deps,
      [event(3, "a"), event(4, "b")],
      ["01J0000000000000000000000C", "01J0000000000000000000000D"],
      "production",
      6,
      { source: "api", sourceId: null },
    );
    expect(second).toMatchObject({
      ok: true,
      ids: [ids1[0], "01J0000000000000000000000D"],
      accepted: 1,
      duplicates: 1,
    });
    expect((await t.store!.get(ids1[0]!, "production"))?.data).toEqual({ n: 1 });
    expect(await t.store!.get("01J0000000000000000000000C", "production")).toBeNull();
    expect(timings).toEqual(["dedup true", "store true", "dedup true", "store true"]);
    await Promise.all([t.dedup!.close(), t.store!.close(), t.runs!.close()]);
  });

  it("reports a failed append with its stage and the store's error, and releases the claims", async () => {
    const file = join(dir, "refuse.sqlite");
    // The event table exists with a trigger that refuses one name (the driver's checks pass).
    const setup = createSqliteEventStore({ path: file });
    await setup.ping();
    await setup.close();
    const db = new Database(file);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON evt_events WHEN NEW.name = 'app/bad'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    db.close();
    const t = inThread(file);
    const deps = { dedup: t.dedup!, store: t.store!, windowMs: 60_000, hooks: undefined };
    const bad = { ...event(1, "x"), name: "app/bad" };
    const r = await t.ingest!(deps, [bad], ["01J0000000000000000000000E"], "production", 1, API);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.stage).toBe("append");
    expect(r.error).toBeInstanceOf(StoreError);
    expect(String((r.error as Error).message)).toContain("refused by the test");
    // Released: the same id is fresh again, under the new internal id.
    const again = await t.ingest!(
      deps,
      [event(2, "x")],
      ["01J0000000000000000000000F"],
      "production",
      2,
      API,
    );
    expect(again).toMatchObject({ ok: true, ids: ["01J0000000000000000000000F"], accepted: 1 });
    await Promise.all([t.dedup!.close(), t.store!.close(), t.runs!.close()]);
  });

  it("is offered only when the dedup and event stores share the one file", () => {
    const split = openSqliteThread({ dedupPath: join(dir, "x.db"), storePath: join(dir, "y.db") });
    expect(split.ingest).toBeNull();
    const onlyStore = openSqliteThread({
      dedupPath: null,
      storePath: join(dir, "z.sqlite"),
      oneFile: true,
    });
    expect(onlyStore.ingest).toBeNull();
    return Promise.all([split.terminate(), onlyStore.terminate()]);
  });
});

import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { POSTGRES_URL, runCli, uniqueSuffix } from "./helpers";

const prefix = `evt_mig_${uniqueSuffix()}_`;
const client = new pg.Client({ connectionString: POSTGRES_URL });

async function tables(): Promise<string[]> {
  const r = await client.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_name LIKE $1 ORDER BY 1",
    [`${prefix}%`],
  );
  return r.rows.map((row) => row.table_name);
}

afterAll(async () => {
  for (const t of await tables()) await client.query(`DROP TABLE IF EXISTS "${t}"`);
  await client.end();
});

describe("evt-gateway migrate (built binary, real PostgreSQL)", () => {
  it("creates the dedup and event tables, and a second run changes nothing", async () => {
    await client.connect();
    const args = [
      "migrate",
      "--dedup",
      POSTGRES_URL,
      "--store",
      POSTGRES_URL,
      "--pg-table-prefix",
      prefix,
    ];
    const first = await runCli(args);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      `dedup table ready: ${prefix}dedup\nevent table ready: ${prefix}events\n`,
    );
    expect(await tables()).toEqual([`${prefix}dedup`, `${prefix}events`]);
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(await tables()).toEqual([`${prefix}dedup`, `${prefix}events`]);
  });

  it("exits 2 when nothing is on PostgreSQL, and 1 naming the problem when it cannot connect", async () => {
    const none = await runCli(["migrate", "--dedup", "sqlite", "--store", "sqlite"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/migrate has nothing to do: give --dedup postgres/);
    const down = await runCli(["migrate", "--store", "postgres://evt:hunter2@127.0.0.1:1/db"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^evt-gateway: migrate failed: /);
    expect(down.stderr).not.toContain("hunter2");
  });
});

import { afterAll, describe, expect, it } from "vitest";
import {
  dropTestData,
  POSTGRES_URL,
  REDIS_URL,
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  uniqueSuffix,
} from "./helpers";

const RUN = uniqueSuffix();
const REDIS_PREFIX = `evt:test:gw:${RUN}:`;
const TABLE_PREFIX = `gw_${RUN}_`.toLowerCase();
const NAME = `test/shared.${RUN}`;

function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Sends every id in batches of 10 with 8 requests in flight; returns dedup id -> internal id. */
async function sendAll(url: string, ids: string[]): Promise<Map<string, string>> {
  const answers = new Map<string, string>();
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += 10) batches.push(ids.slice(i, i + 10));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const res = await sendEvents(
          url,
          "k-shared",
          batch.map((id) => ({ name: NAME, id, data: { id } })),
        );
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        for (const [i, id] of batch.entries()) answers.set(id, res.body.ids![i]!);
      }
    }),
  );
  return answers;
}

async function listAll(url: string): Promise<{ id: string; internal_id: string }[]> {
  const out: { id: string; internal_id: string }[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `name=${encodeURIComponent(NAME)}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await fetch(`${url}/v1/events?${q}`, {
      headers: { authorization: "Bearer a-shared" },
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as {
      data: { id: string; internal_id: string }[];
      cursor: string | null;
    };
    out.push(...page.data);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

describe("two gateways sharing Redis (dedup) and PostgreSQL (store)", () => {
  const gateways: RunningGateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((g) => stopProcess(g, "SIGTERM")));
    await dropTestData(REDIS_PREFIX, TABLE_PREFIX);
  });

  it("stores each of 1,000 ids exactly once and both answer the same internal id", {
    timeout: 90_000,
  }, async () => {
    const env = {
      EVT_EVENT_KEYS: "k-shared",
      EVT_API_KEYS: "a-shared",
      EVT_DEDUP: REDIS_URL,
      EVT_STORE: POSTGRES_URL,
      EVT_REDIS_PREFIX: REDIS_PREFIX,
      EVT_PG_TABLE_PREFIX: TABLE_PREFIX,
      EVT_LOG_LEVEL: "warn",
    };
    gateways.push(
      ...(await Promise.all([
        startGatewayProcess(["start", "--port", "0"], env),
        startGatewayProcess(["start", "--port", "0"], env),
      ])),
    );
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    expect(a.stdout()).toContain("(dedup: redis, store: postgres, runs: postgres)");

    const ids = Array.from({ length: 1000 }, (_, i) => `shared-${RUN}-${i}`);
    const [fromA, fromB] = await Promise.all([
      sendAll(a.url, shuffled(ids)),
      sendAll(b.url, shuffled(ids)),
    ]);

    const differing = ids.filter((id) => fromA.get(id) !== fromB.get(id));
    expect(differing).toEqual([]);

    const stored = await listAll(a.url);
    expect(stored).toHaveLength(1000);
    expect(new Set(stored.map((e) => e.id)).size).toBe(1000);
    for (const e of stored) expect(e.internal_id).toBe(fromA.get(e.id));
  });
});

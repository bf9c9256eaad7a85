import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropTestData,
  POSTGRES_URL,
  REDIS_URL,
  type RunningGateway,
  sendEvents,
  sleep,
  startGatewayProcess,
  stopProcess,
  TcpProxy,
  uniqueSuffix,
  waitFor,
} from "./helpers";

const RUN = uniqueSuffix();
const REDIS_PREFIX = `evt:test:outage:${RUN}:`;
const TABLE_PREFIX = `outage_${RUN}_`.toLowerCase();

function viaProxy(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(port);
  return u.toString();
}

interface Sent {
  event: { name: string; id: string };
  status: number;
  retryAfter: string | undefined;
  internalId?: string;
}

/** Keeps sending one fresh event per request from 2 loops; records every answer. */
function traffic(url: string, tag: string) {
  const sent: Sent[] = [];
  const errors: string[] = [];
  let running = true;
  let n = 0;
  const loops = [0, 1].map(async () => {
    while (running) {
      const event = { name: "test/outage", id: `${tag}-${n++}` };
      try {
        const res = await sendEvents(url, "k-outage", event);
        sent.push({
          event,
          status: res.status,
          retryAfter: res.headers["retry-after"] as string | undefined,
          internalId: res.body.ids?.[0],
        });
      } catch (err) {
        errors.push(String(err));
      }
      await sleep(25);
    }
  });
  return {
    sent,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** start needs an API key for reads. */
const READ = { headers: { authorization: "Bearer a-outage" } };

describe("store outage (TCP proxies in front of PostgreSQL and Redis)", () => {
  const pgProxy = new TcpProxy(
    new URL(POSTGRES_URL).hostname,
    Number(new URL(POSTGRES_URL).port || 5432),
  );
  const redisProxy = new TcpProxy(
    new URL(REDIS_URL).hostname,
    Number(new URL(REDIS_URL).port || 6379),
  );
  let gw: RunningGateway;

  beforeAll(async () => {
    await pgProxy.start();
    await redisProxy.start();
    gw = await startGatewayProcess(["start", "--port", "0", "--log-level", "error"], {
      EVT_EVENT_KEYS: "k-outage",
      EVT_API_KEYS: "a-outage",
      EVT_DEDUP: viaProxy(REDIS_URL, redisProxy.port),
      EVT_STORE: viaProxy(POSTGRES_URL, pgProxy.port),
      EVT_REDIS_PREFIX: REDIS_PREFIX,
      EVT_PG_TABLE_PREFIX: TABLE_PREFIX,
    });
  });

  afterAll(async () => {
    await stopProcess(gw, "SIGTERM");
    await pgProxy.stop();
    await redisProxy.stop();
    await dropTestData(REDIS_PREFIX, TABLE_PREFIX);
  });

  async function check(which: "postgres" | "redis", proxy: TcpProxy) {
    const load = traffic(gw.url, `${which}-${RUN}`);
    await waitFor(() => load.sent.some((s) => s.status === 200));
    await proxy.stop();
    // Every request sent while the store is gone waits for the driver's timeout, then 503.
    expect(await waitFor(() => load.sent.filter((s) => s.status === 503).length >= 3, 20_000)).toBe(
      true,
    );
    await proxy.start();
    const recoveredFrom = load.sent.length;
    const recovered = await waitFor(
      () => load.sent.slice(recoveredFrom).filter((s) => s.status === 200).length >= 3,
      20_000,
    );
    await load.stop();
    expect(recovered, `${which}: no 200 after the proxy came back`).toBe(true);

    expect(load.errors).toEqual([]);
    expect(new Set(load.sent.map((s) => s.status))).toEqual(new Set([200, 503]));
    for (const s of load.sent.filter((x) => x.status === 503)) expect(s.retryAfter).toBeDefined();

    // Nothing acknowledged that was not stored.
    for (const s of load.sent.filter((x) => x.status === 200)) {
      const res = await fetch(`${gw.url}/v1/events/${s.internalId}`, READ);
      expect(res.status, `acknowledged ${s.event.id} is missing`).toBe(200);
      await res.text();
    }
    // A refused event can be retried and is stored then (its dedup claim did not stick).
    const refused = load.sent.filter((x) => x.status === 503).slice(0, 5);
    for (const s of refused) {
      const retry = await sendEvents(gw.url, "k-outage", s.event);
      expect(retry.status).toBe(200);
      const res = await fetch(`${gw.url}/v1/events/${retry.body.ids![0]}`, READ);
      expect(res.status).toBe(200);
      await res.text();
    }
  }

  it("PostgreSQL down: 503 with Retry-After, nothing falsely acknowledged, recovers by itself", {
    timeout: 90_000,
  }, async () => {
    await check("postgres", pgProxy);
  });

  it("Redis down: 503 with Retry-After, nothing falsely acknowledged, recovers by itself", {
    timeout: 90_000,
  }, async () => {
    await check("redis", redisProxy);
  });
});

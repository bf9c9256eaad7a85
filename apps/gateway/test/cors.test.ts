import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, type Gateway, parseCommandLine, startGateway } from "../src/index";
import { httpRequest } from "./helpers";

const EVENT = '{"name":"app/cors"}';

async function post(url: string, headers: Record<string, string>) {
  return httpRequest(`${url}/e/any-key`, { method: "POST", body: EVENT, headers });
}

async function preflight(url: string, origin: string) {
  return httpRequest(`${url}/e/any-key`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
}

async function storedCount(gw: Gateway, apiKey?: string): Promise<number> {
  const res = await httpRequest(`${gw.url}/v1/events?limit=100`, {
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
  });
  return (JSON.parse(res.body) as { data: unknown[] }).data.length;
}

describe("dev CORS: loopback origins and --cors-origin; cross-origin bodies must be JSON", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({
      mode: "dev",
      port: 0,
      dedup: "memory",
      store: "memory",
      logLevel: "silent",
      corsOrigins: ["https://app.example"],
    });
  });
  afterAll(() => gw.close());

  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])(
    "a cross-origin POST as %s (no preflight in browsers) gets 415 and stores nothing",
    async (type) => {
      const before = await storedCount(gw);
      const res = await post(gw.url, { origin: "https://evil.example", "content-type": type });
      expect(res.status).toBe(415);
      expect(JSON.parse(res.body).error).toMatch(/needs Content-Type: application\/json/);
      expect(res.headers["access-control-allow-origin"]).toBeUndefined();
      expect(await storedCount(gw)).toBe(before);
    },
  );

  it("a cross-origin POST without a content type gets 415 too", async () => {
    const res = await httpRequest(`${gw.url}/e/any-key`, {
      method: "POST",
      headers: { origin: "http://localhost:3000" },
    });
    expect(res.status).toBe(415);
  });

  it("no CORS header for an origin that is not allowed (was *)", async () => {
    const res = await post(gw.url, {
      origin: "https://evil.example",
      "content-type": "application/json",
    });
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    const pre = await preflight(gw.url, "https://evil.example");
    expect(pre.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it.each([
    "http://localhost:3000",
    "http://127.0.0.1:5173",
    "http://[::1]:8080",
    "https://app.example",
  ])("allows %s: preflight and answers carry its origin", async (origin) => {
    const pre = await preflight(gw.url, origin);
    expect(pre.status).toBe(204);
    expect(pre.headers["access-control-allow-origin"]).toBe(origin);
    expect(pre.headers["access-control-allow-headers"]).toContain("content-type");
    expect(pre.headers["access-control-allow-methods"]).toContain("POST");
    const res = await post(gw.url, {
      origin,
      "content-type": "application/json; charset=utf-8",
    });
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe(origin);
    expect(res.headers.vary).toBe("Origin");
  });

  it("requests without an Origin (curl, server SDKs) are untouched", async () => {
    const res = await post(gw.url, { "content-type": "text/plain" });
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("start CORS: off by default, --cors-origin only", () => {
  const gateways: Gateway[] = [];
  afterAll(() => Promise.all(gateways.map((g) => g.close())));
  const start = async (corsOrigins: string[]) => {
    const gw = await startGateway({
      mode: "start",
      port: 0,
      dedup: "memory",
      store: "memory",
      logLevel: "silent",
      eventKeys: ["any-key"],
      apiKeys: ["read"],
      corsOrigins,
    });
    gateways.push(gw);
    return gw;
  };

  it("without --cors-origin no origin gets CORS headers, loopback included", async () => {
    const gw = await start([]);
    for (const origin of ["http://localhost:3000", "https://shop.example"]) {
      expect(
        (await preflight(gw.url, origin)).headers["access-control-allow-origin"],
      ).toBeUndefined();
    }
    expect(
      (await post(gw.url, { origin: "https://shop.example", "content-type": "text/plain" })).status,
    ).toBe(415);
  });

  it("--cors-origin allows exactly those origins", async () => {
    const gw = await start(["https://shop.example"]);
    expect(
      (await preflight(gw.url, "https://shop.example")).headers["access-control-allow-origin"],
    ).toBe("https://shop.example");
    expect(
      (await preflight(gw.url, "http://localhost:3000")).headers["access-control-allow-origin"],
    ).toBeUndefined();
    expect(await storedCount(gw, "read")).toBe(0);
  });
});

describe("--cors-origin / EVT_CORS_ORIGINS", () => {
  it("is repeatable and takes a comma list", () => {
    const flags = parseCommandLine(
      ["dev", "--cors-origin", "https://a.example", "--cors-origin", "http://localhost:3000"],
      {},
    );
    expect(flags.kind === "run" && flags.config.corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:3000",
    ]);
    const env = parseCommandLine(["dev"], {
      EVT_CORS_ORIGINS: "https://a.example, https://b.example",
    });
    expect(env.kind === "run" && env.config.corsOrigins).toEqual([
      "https://a.example",
      "https://b.example",
    ]);
  });

  it.each(["https://a.example/path", "a.example", "*", "ftp://a.example", "https://u@a.example"])(
    "refuses %j with what is allowed",
    (origin) => {
      expect(() => parseCommandLine(["dev", "--cors-origin", origin], {})).toThrow(ConfigError);
      expect(() => parseCommandLine(["dev", "--cors-origin", origin], {})).toThrow(
        /--cors-origin .* is not valid: expected origins without a path/,
      );
    },
  );
});

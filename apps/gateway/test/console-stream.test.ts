import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KeyMatcher } from "@evt/server";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createConsole, type GatewayConsole } from "../src/console";
import { routeOf } from "../src/http";

let server: Server | undefined;
let page: GatewayConsole | undefined;

afterEach(async () => {
  page?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  page = undefined;
});

async function serve(options: Partial<Parameters<typeof createConsole>[0]> = {}): Promise<string> {
  page = createConsole({
    readKeys: new KeyMatcher(["k"]),
    logger: pino({ level: "silent" }),
    ...options,
  });
  const routes = page;
  server = createServer((req, res) => {
    if (!routes.route(req, res, routeOf(req.url))) {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

/** Open a stream; resolves with its status and a reader of what has arrived so far. */
function open(url: string, key: string | null, read = true) {
  return new Promise<{ status: number; text: () => string; closed: Promise<void> }>(
    (resolve, reject) => {
      const req = request(`${url}/v1/stream`, {
        headers: key === null ? {} : { authorization: `Bearer ${key}` },
      });
      req.on("response", (res) => {
        let text = "";
        const closed = new Promise<void>((r) => res.on("close", () => r()));
        if (read) res.on("data", (c: Buffer) => (text += c.toString()));
        else res.pause();
        resolve({ status: res.statusCode ?? 0, text: () => text, closed });
      });
      req.on("error", reject);
      req.end();
    },
  );
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  return check();
};

describe("GET /v1/stream", () => {
  it("needs the read key, carries published events and runs, and refuses streams past the cap", async () => {
    const url = await serve({ maxStreams: 2 });
    expect((await open(url, null)).status).toBe(401);
    expect((await open(url, "wrong")).status).toBe(401);
    const a = await open(url, "k");
    const b = await open(url, "k");
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await open(url, "k")).status).toBe(503);
    page!.publish({
      kind: "event",
      event: {
        internal_id: "01E",
        id: null,
        name: "a/b",
        env: "production",
        received_at: 1,
        ts: 1,
        source: "api",
        source_id: null,
      },
    });
    page!.publish({
      kind: "run",
      run: { run_id: "01R", function_id: "app-f", event_id: "01E", status: "Completed" },
    });
    expect(await until(() => a.text().includes("event: run"))).toBe(true);
    expect(a.text()).toContain('event: event\ndata: {"internal_id":"01E"');
    expect(a.text()).toContain('"status":"Completed"');
    expect(page!.streams).toBe(2);
  });

  it("drops a client that does not read instead of buffering for it", async () => {
    const url = await serve({ maxBufferedBytes: 64 * 1024 });
    const stuck = await open(url, "k", false);
    expect(stuck.status).toBe(200);
    const big = "x".repeat(16 * 1024);
    for (let i = 0; i < 400 && page!.streams > 0; i++) {
      page!.publish({
        kind: "event",
        event: {
          internal_id: big,
          id: null,
          name: "n",
          env: "e",
          received_at: 1,
          ts: 1,
          source: "api",
          source_id: null,
        },
      });
      await new Promise((r) => setImmediate(r));
    }
    expect(page!.streams).toBe(0);
  });

  it("serves only its own files, GET and HEAD only", async () => {
    const url = await serve({ assetsDir: new URL("file:///nonexistent-evt-console/") });
    const get = (path: string, method = "GET") =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${url}${path}`, { method });
        req.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
    // Not built: a 503 that says how to build it.
    const unbuilt = await get("/");
    expect(unbuilt.status).toBe(503);
    expect(unbuilt.body).toMatch(/not built: run .*build/);
    expect((await get("/console/%2e%2e/secret")).status).toBe(404);
    expect((await get("/console/app.js", "DELETE")).status).toBe(405);
  });
});

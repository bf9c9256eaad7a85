import { createServer, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { createMemoryStore } from "@evt/dedup";
import { createEventApi, ServerError } from "@evt/server";
import { createNodeHandler, type NodeHandler, type NodeHandlerOptions } from "@evt/server/node";
import { createMemoryEventStore } from "@evt/store";
import { afterEach, describe, expect, it } from "vitest";
import { gatedStore } from "./support/gated.js";

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(
  options: NodeHandlerOptions,
  store = createMemoryEventStore(),
  maxRequestBytes = 4096,
): Promise<{ handler: NodeHandler; port: number }> {
  const api = createEventApi({ dedup: createMemoryStore(), store, maxRequestBytes });
  const handler = createNodeHandler(api, options);
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { handler, port: (server.address() as AddressInfo).port };
}

/** A raw connection collecting what it receives; `closed` resolves when the server ends it. */
function open(port: number) {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  let received = "";
  socket.on("data", (d) => {
    received += d.toString();
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  return {
    socket,
    closed,
    get received() {
      return received;
    },
    async until(text: string): Promise<string> {
      for (let i = 0; i < 200 && !received.includes(text); i++) await sleep(10);
      return received;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const post = (body: string, extra = "") =>
  `POST /e/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await sleep(10);
}

describe("node adapter connection caps", () => {
  it("ends a connection that pipelines more than maxPipelinedRequests and releases its slots", async () => {
    const gated = gatedStore();
    const { handler, port } = await serve({ maxPipelinedRequests: 4 }, gated.store);
    const c = open(port);
    const one = post('{"name":"a"}');
    c.socket.write(one.repeat(3));
    await gated.whenWaiting(1);
    await until(() => handler.inFlight === 3);
    expect(handler.inFlight).toBe(3); // three pipelined requests held, connection open
    c.socket.write(one.repeat(3)); // the fifth request passes the cap of 4
    await c.closed;
    // every request of the dead connection gave its slot back, answered or not
    await until(() => handler.inFlight === 0);
    expect(handler.inFlight).toBe(0);
    gated.release();
  });

  it("answers /health and /ready while maxConcurrentRequests is full", async () => {
    const gated = gatedStore();
    const { port } = await serve({ maxConcurrentRequests: 1 }, gated.store);
    const held = open(port);
    held.socket.write(post('{"name":"a"}'));
    await gated.whenWaiting(1);
    const refused = open(port);
    refused.socket.write(post('{"name":"b"}'));
    expect(await refused.until("\r\n\r\n")).toMatch(/^HTTP\/1.1 503/);
    for (const path of ["/health", "/ready"]) {
      const probe = open(port);
      probe.socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
      expect(await probe.until("\r\n\r\n")).toMatch(/^HTTP\/1.1 200/);
    }
    gated.release();
    expect(await held.until("\r\n\r\n")).toMatch(/^HTTP\/1.1 200/);
  });

  it("refuses a body past maxInflightBytes with 503 before reading it (declared and chunked)", async () => {
    const { port } = await serve({ maxInflightBytes: 5000 }, createMemoryEventStore(), 4000);
    // a slow client reserves 4000 bytes by declaring them and sending one
    const slow = open(port);
    slow.socket.write(
      "POST /e/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n\r\n{",
    );
    await sleep(50);
    const declared = open(port);
    declared.socket.write(
      "POST /e/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2000\r\n\r\n",
    );
    const answer = await declared.until("retry the request");
    expect(answer).toMatch(/^HTTP\/1.1 503/);
    expect(answer).toMatch(/retry-after: 1/i);
    expect(answer).toContain("Too many request bodies in flight (allowed: 5000 bytes in all)");
    await declared.closed;
    const chunked = open(port);
    const chunk = `{"name":"c","data":{"s":"${"x".repeat(1500)}"}}`;
    chunked.socket.write(
      `POST /e/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`,
    );
    expect(await chunked.until("\r\n\r\n")).toMatch(/^HTTP\/1.1 503/);
    // small requests still fit in the budget that is left
    const small = open(port);
    small.socket.write(post('{"name":"d"}'));
    expect(await small.until("\r\n\r\n")).toMatch(/^HTTP\/1.1 200/);
  });

  it("closes the connection after a non-POST request that carries a body, leaving it unread", async () => {
    const { port } = await serve({});
    const c = open(port);
    // the "body" is a second request: read as one, it would be answered too
    const smuggled = "GET /health HTTP/1.1\r\nhost: x\r\n\r\n";
    c.socket.write(
      `GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    await c.closed;
    expect(c.received).toMatch(/connection: close/i);
    expect(c.received.match(/HTTP\/1.1 200/g)).toHaveLength(1);
  });

  it("rejects caps that cannot work", () => {
    const api = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      maxRequestBytes: 1000,
    });
    expect(() => createNodeHandler(api, { maxInflightBytes: 999 })).toThrow(ServerError);
    expect(() => createNodeHandler(api, { maxInflightBytes: 999 })).toThrow(
      /at least maxRequestBytes \(1000\)/,
    );
    expect(() => createNodeHandler(api, { maxPipelinedRequests: 0 })).toThrow(/positive integer/);
  });
});

import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { createMemoryStore } from "@evt/dedup";
import { createEventApi, ServerError } from "@evt/server";
import { type Listener, type ListenOptions, listen, type NodeHandler } from "@evt/server/node";
import { createMemoryEventStore } from "@evt/store";
import { afterEach, describe, expect, it } from "vitest";
import { gatedStore } from "./support/gated.js";
import { raw } from "./support/server.js";

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One answer at the start of `buf` (by `content-length`), or null while it is incomplete. */
function parseAnswer(buf: Buffer): { answer: Answer; size: number } | null {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const [statusLine, ...lines] = buf.subarray(0, headEnd).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers["content-length"] ?? 0);
  const size = headEnd + 4 + length;
  if (buf.length < size) return null;
  return {
    answer: {
      status: Number(statusLine!.split(" ")[1]),
      headers,
      body: buf.subarray(headEnd + 4, size).toString("utf8"),
    },
    size,
  };
}

/**
 * A raw HTTP/1.1 connection: write requests by hand, read answers one at a time (keep-alive
 * stays open until the server ends it), and learn when the server closed it and what it sent.
 */
async function openConnection(url: string) {
  const u = new URL(url);
  const socket: Socket = connect(Number(u.port), u.hostname);
  let buffered = Buffer.alloc(0);
  let received = 0;
  let ended = false;
  let wake: (() => void) | null = null;
  socket.on("data", (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    received += c.length;
    wake?.();
  });
  socket.on("error", () => {});
  const closed = new Promise<{ bytesReceived: number }>((resolve) => {
    socket.once("close", () => {
      ended = true;
      wake?.();
      resolve({ bytesReceived: received });
    });
  });
  await once(socket, "connect");
  return {
    socket,
    /** Resolves when the connection is closed, with how many bytes the server sent in all. */
    closed,
    send(text: string) {
      socket.write(text);
    },
    async answer(): Promise<Answer> {
      for (;;) {
        const parsed = parseAnswer(buffered);
        if (parsed) {
          buffered = buffered.subarray(parsed.size);
          return parsed.answer;
        }
        if (ended) {
          throw new Error(`closed before a whole answer; got ${JSON.stringify(String(buffered))}`);
        }
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
      }
    },
  };
}

function post(path: string, body: string): string {
  return `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const GET_HEALTH = "GET /health HTTP/1.1\r\nhost: x\r\n\r\n";

describe("listen(): wrap and graceful close()", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  /** Listen on a gated store: appends wait until `gated.release()`. */
  async function start(options: Partial<ListenOptions> = {}) {
    const gated = gatedStore();
    const api = createEventApi({ dedup: createMemoryStore(), store: gated.store });
    const listener = await listen(api, { port: 0, ...options });
    cleanups.push(() => listener.close());
    cleanups.push(() => gated.release());
    return { gated, api, listener };
  }

  /** Opens a connection and resolves once the server has accepted it. */
  async function accepted(listener: Listener) {
    const seen = once(listener.server, "connection");
    const conn = await openConnection(listener.url);
    cleanups.push(() => conn.socket.destroy());
    await seen;
    return conn;
  }

  it("wrap puts the app's listener around the Event API's handler", async () => {
    let given: NodeHandler | undefined;
    const { listener } = await start({
      wrap: (handler) => {
        given = handler;
        return (req, res) => {
          if (req.url === "/hello") {
            res.writeHead(200, { "content-type": "text/plain" }).end("hi");
            return;
          }
          res.setHeader("x-wrapped", "yes");
          handler(req, res);
        };
      },
    });
    expect(given?.inFlight).toBe(0);
    expect(typeof given?.drain).toBe("function");
    const hello = await raw(listener.url, { method: "GET", path: "/hello" });
    expect(hello.status).toBe(200);
    expect(hello.text).toBe("hi");
    const health = await raw(listener.url, { method: "GET", path: "/health" });
    expect(health.status).toBe(200);
    expect(health.headers["x-wrapped"]).toBe("yes");
    expect(health.json).toMatchObject({ status: 200 });
  });

  it("rejects a wrap that returns no listener, and a negative closeTimeoutMs", async () => {
    const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
    await expect(
      // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
      listen(api, { port: 0, wrap: () => undefined as any }),
    ).rejects.toThrow(/wrap must return a \(req, res\) => void listener, got undefined/);
    const err = await listen(api, { port: 0, closeTimeoutMs: -1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe("invalid_options");
    expect((err as ServerError).message).toMatch(/closeTimeoutMs must be a number/);
  });

  it("close() ends an idle keep-alive connection at once, while a request is still in flight", async () => {
    // A keep-alive timeout far beyond the test's: only shutdown can end the idle connection.
    const { gated, listener } = await start({ keepAliveTimeoutMs: 600_000 });
    const idle = await accepted(listener);
    idle.send(GET_HEALTH);
    const first = await idle.answer();
    expect(first.status).toBe(200);
    expect(first.headers.connection).toBe("keep-alive");

    const busy = raw(listener.url, { path: "/e/k", body: '{"name":"held"}' });
    await gated.whenWaiting(1);
    const closing = listener.close();
    expect(listener.close()).toBe(closing);
    await idle.closed;
    // The idle connection went while the other request was still held by the store.
    expect(gated.waiting).toBe(1);
    gated.release();
    expect((await busy).status).toBe(200);
    await closing;
  });

  it("answers a request in flight with connection: close, then closes its connection", async () => {
    const { gated, listener } = await start({ keepAliveTimeoutMs: 600_000 });
    const conn = await accepted(listener);
    conn.send(post("/e/k", '{"name":"in.flight"}'));
    await gated.whenWaiting(1);
    const closing = listener.close();
    gated.release();
    const answer = await conn.answer();
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toMatchObject({ status: 200, ids: [expect.any(String)] });
    await conn.closed;
    await closing;
    expect(
      (await gated.store.list({ env: "production", limit: 10 })).events.map((e) => e.name),
    ).toEqual(["in.flight"]);
  });

  it("answers a request that arrives during shutdown: 503 from the API, and the wrapper's answers, with connection: close", async () => {
    const { gated, listener } = await start({
      wrap: (handler) => (req, res) => {
        if (req.url === "/hello") res.end("hi");
        else handler(req, res);
      },
    });
    // Connections accepted before close() whose requests come after it.
    const late = await accepted(listener);
    const lateWrapped = await accepted(listener);
    const held = raw(listener.url, { path: "/e/k", body: '{"name":"held"}' });
    await gated.whenWaiting(1);
    const closing = listener.close();
    // A new connection is refused.
    await expect(raw(listener.url, { method: "GET", path: "/health" })).rejects.toThrow();

    late.send(post("/e/k", '{"name":"too.late"}'));
    const refused = await late.answer();
    expect(refused.status).toBe(503);
    expect(refused.headers.connection).toBe("close");
    expect(refused.headers["retry-after"]).toBe("1");
    expect(JSON.parse(refused.body)).toMatchObject({
      ids: [],
      status: 503,
      error: expect.stringContaining("shutting down"),
    });
    await late.closed;

    lateWrapped.send("GET /hello HTTP/1.1\r\nhost: x\r\n\r\n");
    const hello = await lateWrapped.answer();
    expect(hello.body).toBe("hi");
    expect(hello.headers.connection).toBe("close");
    await lateWrapped.closed;

    gated.release();
    expect((await held).status).toBe(200);
    await closing;
    expect(
      (await gated.store.list({ env: "production", limit: 10 })).events.map((e) => e.name),
    ).toEqual(["held"]);
  });

  it("ends a fresh connection that never sends a request, so close() can resolve", async () => {
    const { listener } = await start({ closeTimeoutMs: Number.POSITIVE_INFINITY });
    const silent = await accepted(listener);
    await listener.close();
    expect(await silent.closed).toEqual({ bytesReceived: 0 });
  });

  it("destroys a connection whose request outlives closeTimeoutMs", async () => {
    const { listener } = await start({ closeTimeoutMs: 200, bodyTimeoutMs: 600_000 });
    const stuck = await accepted(listener);
    const requested = once(listener.server, "request");
    // The body never arrives in full: the request stays in flight.
    stuck.send(
      "POST /e/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    );
    await requested;
    await listener.close();
    expect(await stuck.closed).toEqual({ bytesReceived: 0 });
  });
});

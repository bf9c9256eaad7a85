import { request } from "node:http";
import { connect } from "node:net";
import { createMemoryStore, type DedupStore } from "@evt/dedup";
import { createEventApi, type EventApi, type EventApiOptions } from "@evt/server";
import { type Listener, type ListenOptions, listen } from "@evt/server/node";
import { createMemoryEventStore, type EventStore } from "@evt/store";

export interface TestServer {
  api: EventApi;
  dedup: DedupStore;
  store: EventStore;
  listener: Listener;
  url: string;
  close(): Promise<void>;
}

/** An Event API on memory stores, listening on a free port. */
export async function startServer(
  options: Partial<EventApiOptions> = {},
  listenOptions: Partial<ListenOptions> = {},
): Promise<TestServer> {
  const dedup = options.dedup ?? createMemoryStore();
  const store = options.store ?? createMemoryEventStore();
  const api = createEventApi({ ...options, dedup, store });
  const listener = await listen(api, { port: 0, ...listenOptions });
  return {
    api,
    dedup,
    store,
    listener,
    url: listener.url,
    async close() {
      await listener.close();
      await api.close();
      await dedup.close();
      await store.close();
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary JSON
  json: any;
}

/** One request with node:http, full control over method, headers and body bytes. */
export function raw(
  base: string,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
  },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${options.path}`,
      { method: options.method ?? "POST", headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/**
 * Write `head` (request line + headers, CRLF-separated) and `body` on a raw socket and collect
 * whatever the server answers until it closes the connection.
 */
export function rawSocket(base: string, head: string, body: string | Buffer = ""): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    socket.on("connect", () => {
      socket.write(`${head}\r\n\r\n`);
      if (body.length > 0) socket.write(body);
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/** The JSON body of a raw HTTP/1.1 answer. */
export function bodyOf(answer: string): unknown {
  return JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
}

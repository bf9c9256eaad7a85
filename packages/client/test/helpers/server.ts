import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the fault server saw it. */
export interface SeenRequest {
  n: number;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  events: Record<string, unknown>[];
  seed: string | undefined;
}

/** What a handler does with a request: answer, or break the connection. */
export type Handler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

/**
 * Ids the way a real gateway derives them from the seed: the same seed gives the same ids, so a
 * retried request gets the ids of the first attempt.
 */
export function idsFor(req: SeenRequest): string[] {
  return req.events.map((_, i) => `${req.seed ?? "noseed"}#${i}`);
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export function ok(req: SeenRequest, res: ServerResponse) {
  json(res, 200, { ids: idsFor(req), status: 200 });
}

/**
 * An Event API stand-in on 127.0.0.1, port 0, that records every request and lets each test
 * script faults. It also "stores" events once per seed, like a gateway would.
 */
export async function startFaultServer(handler: Handler = ok) {
  const requests: SeenRequest[] = [];
  const stored = new Map<string, Record<string, unknown>[]>();
  let current = handler;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let events: Record<string, unknown>[] = [];
      try {
        const parsed = JSON.parse(body) as unknown;
        events = (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
      } catch {
        events = [];
      }
      const seed = req.headers["x-inngest-event-id-seed"] as string | undefined;
      const seen: SeenRequest = {
        n: requests.length + 1,
        url: req.url ?? "",
        headers: req.headers,
        body,
        events,
        seed,
      };
      requests.push(seen);
      Promise.resolve(current(seen, res)).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    /** Events kept once per seed (what a deduplicating gateway would have stored). */
    stored,
    store(req: SeenRequest) {
      if (req.seed && !stored.has(req.seed)) stored.set(req.seed, req.events);
    },
    storedCount() {
      let n = 0;
      for (const evs of stored.values()) n += evs.length;
      return n;
    },
    setHandler(next: Handler) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FaultServer = Awaited<ReturnType<typeof startFaultServer>>;

/** A promise with its resolve function, to hold answers until a test releases them. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

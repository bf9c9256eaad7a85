import { EventClient, EventSendError } from "@evt/client";
import { defineEvents } from "@evt/schema";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { type FaultServer, idsFor, json, ok, startFaultServer } from "./helpers/server";

const fast = { baseDelayMs: 1, maxDelayMs: 5 };
let srv: FaultServer;

beforeAll(async () => {
  srv = await startFaultServer();
});
afterAll(async () => {
  await srv.close();
});
afterEach(() => {
  srv.requests.length = 0;
  srv.stored.clear();
  srv.setHandler(ok);
  vi.unstubAllEnvs();
});

function client(extra: ConstructorParameters<typeof EventClient>[0] = {}) {
  return new EventClient({ baseUrl: srv.url, eventKey: "k1", retry: fast, ...extra });
}

async function failure(p: Promise<unknown>): Promise<EventSendError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EventSendError);
  return err as EventSendError;
}

describe("send: the request", () => {
  it("posts one event as a JSON array to /e/<key> and returns the server ids", async () => {
    const before = Date.now();
    const { ids } = await client().send({ name: "app/user.signup", data: { userId: "u1" } });
    const after = Date.now();
    expect(srv.requests).toHaveLength(1);
    const req = srv.requests[0]!;
    expect(req.url).toBe("/e/k1");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.seed).toMatch(/^\d{13},[A-Za-z0-9+/]{14}==$/);
    expect(ids).toEqual(idsFor(req));
    expect(Array.isArray(JSON.parse(req.body))).toBe(true);
    const ev = req.events[0]!;
    expect(ev).toMatchObject({ name: "app/user.signup", data: { userId: "u1" } });
    expect(ev.ts).toBeGreaterThanOrEqual(before);
    expect(ev.ts).toBeLessThanOrEqual(after);
    expect(req.headers["x-inngest-env"]).toBeUndefined();
  });

  it("keeps the caller's ts, id, user and v, defaults data to {} and drops unknown fields", async () => {
    await client().send([
      { name: "a/b", ts: 1_700_000_000_000, id: "dedup-1", user: { email: "x@y.z" }, v: "1" },
      { name: "a/c", extra: 1 } as never,
    ]);
    const [a, b] = srv.requests[0]!.events;
    expect(a).toEqual({
      name: "a/b",
      data: {},
      user: { email: "x@y.z" },
      id: "dedup-1",
      ts: 1_700_000_000_000,
      v: "1",
    });
    expect(b).not.toHaveProperty("extra");
    expect(b).toMatchObject({ name: "a/c", data: {} });
  });

  it("returns ids in input order and sends nothing for an empty array", async () => {
    const r = await client().send([{ name: "a/1" }, { name: "a/2" }, { name: "a/3" }]);
    expect(r.ids).toEqual(idsFor(srv.requests[0]!));
    expect(await client().send([])).toEqual({ ids: [] });
    expect(srv.requests).toHaveLength(1);
  });

  it("sends x-inngest-env from the option or EVT_ENV", async () => {
    await client({ env: "feature-x" }).send({ name: "a/b" });
    vi.stubEnv("EVT_ENV", "from-env");
    await client().send({ name: "a/b" });
    expect(srv.requests.map((r) => r.headers["x-inngest-env"])).toEqual(["feature-x", "from-env"]);
  });

  it("reads EVT_BASE_URL and EVT_EVENT_KEY when options are absent", async () => {
    vi.stubEnv("EVT_BASE_URL", `${srv.url}/prefix/`);
    vi.stubEnv("EVT_EVENT_KEY", "env-key");
    await new EventClient().send({ name: "a/b" });
    expect(srv.requests[0]!.url).toBe("/prefix/e/env-key");
  });

  it("uses the placeholder key `dev` for a local baseUrl without a key", async () => {
    vi.stubEnv("EVT_EVENT_KEY", "");
    await new EventClient({ baseUrl: srv.url }).send({ name: "a/b" });
    expect(srv.requests[0]!.url).toBe("/e/dev");
  });

  it("refuses a missing event key for a non-local baseUrl before any request", () => {
    vi.stubEnv("EVT_EVENT_KEY", "");
    const fetch = vi.fn();
    let err: unknown;
    try {
      new EventClient({ baseUrl: "https://events.example.com", fetch });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EventSendError);
    expect((err as EventSendError).code).toBe("missing_event_key");
    expect((err as EventSendError).message).toMatch(/EVT_EVENT_KEY/);
    expect(fetch).not.toHaveBeenCalled();
  });

  it.each([
    "http://localhost:8288",
    "http://app.localhost:8288",
    "http://127.9.9.9:1",
    "http://[::1]:8288",
  ])("treats %s as local: no key needed, the placeholder `dev` is used", async (baseUrl) => {
    vi.stubEnv("EVT_EVENT_KEY", "");
    const urls: string[] = [];
    const fetch: typeof globalThis.fetch = async (input) => {
      urls.push(String(input));
      return new Response(JSON.stringify({ ids: ["x"], status: 200 }));
    };
    await new EventClient({ baseUrl, fetch }).send({ name: "a/b" });
    expect(urls).toEqual([`${baseUrl}/e/dev`]);
  });

  it.each(["http://10.0.0.1", "http://localhost.example.com", "https://128.0.0.1"])(
    "treats %s as remote: a key is required",
    (baseUrl) => {
      vi.stubEnv("EVT_EVENT_KEY", "");
      expect(() => new EventClient({ baseUrl })).toThrow(/no event key/);
    },
  );

  it("rejects bad options with what is allowed", () => {
    expect(() => client({ timeoutMs: 0 })).toThrow(/timeoutMs is 0; allowed: an integer >= 1/);
    expect(() => client({ maxAttempts: 1.5 })).toThrow(/maxAttempts/);
    expect(() => client({ baseUrl: "not a url" })).toThrow(/baseUrl/);
    expect(() => client({ baseUrl: "ftp://x" })).toThrow(/http: or https:/);
  });
});

describe("send: validation before sending", () => {
  it("names the event index and field of every invalid event and sends nothing", async () => {
    const err = await failure(
      client().send([{ name: "ok/1" }, { name: "bad/ts", ts: 1_700_000_000 }, { name: "" }]),
    );
    expect(err.code).toBe("invalid_event");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("events[1].ts");
    expect(err.message).toContain("events[2].name");
    expect(err.issues?.map((i) => i.path)).toEqual(["events[1].ts", "events[2].name"]);
    expect(srv.requests).toHaveLength(0);
  });

  it("rejects a non-object event", async () => {
    const err = await failure(client().send("hello" as never));
    expect(err.code).toBe("invalid_event");
    expect(err.message).toContain("events[0]");
  });
});

describe("send: retries", () => {
  it("retries a reset connection with the same seed", async () => {
    srv.setHandler((req, res) => {
      if (req.n === 1) res.socket?.destroy();
      else ok(req, res);
    });
    const { ids } = await client().send({ name: "a/b" });
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[1]!.seed).toBe(srv.requests[0]!.seed);
    expect(ids).toEqual(idsFor(srv.requests[1]!));
  });

  it("stores nothing twice when the request arrived but the answer was lost", async () => {
    srv.setHandler((req, res) => {
      srv.store(req);
      if (req.n === 1) res.socket?.destroy();
      else ok(req, res);
    });
    const events = [{ name: "a/1" }, { name: "a/2" }];
    const { ids } = await client().send(events);
    expect(srv.requests).toHaveLength(2);
    expect(srv.storedCount()).toBe(2);
    expect(ids).toEqual(idsFor(srv.requests[0]!));
    // The retried body is the same bytes, ts included.
    expect(srv.requests[1]!.body).toBe(srv.requests[0]!.body);
  });

  it("retries 503 then succeeds, same seed", async () => {
    srv.setHandler((req, res) =>
      req.n === 1 ? json(res, 503, { ids: [], status: 503, error: "overloaded" }) : ok(req, res),
    );
    await client().send({ name: "a/b" });
    expect(srv.requests.map((r) => r.seed)).toEqual([srv.requests[0]!.seed, srv.requests[0]!.seed]);
  });

  it("honours Retry-After in seconds (0 beats a one-minute backoff)", async () => {
    srv.setHandler((req, res) =>
      req.n === 1
        ? json(res, 429, { ids: [], status: 429, error: "slow down" }, { "retry-after": "0" })
        : ok(req, res),
    );
    // Without the header the client would sleep 30-60 s and the test would time out.
    await client({ retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } }).send({ name: "a/b" });
    expect(srv.requests).toHaveLength(2);
  });

  it("honours Retry-After as an HTTP date in the past", async () => {
    srv.setHandler((req, res) =>
      req.n === 1
        ? json(
            res,
            503,
            { ids: [], status: 503, error: "x" },
            { "retry-after": new Date(Date.now() - 5000).toUTCString() },
          )
        : ok(req, res),
    );
    await client({ retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } }).send({ name: "a/b" });
    expect(srv.requests).toHaveLength(2);
  });

  it("caps a long Retry-After at maxRetryAfterMs", async () => {
    srv.setHandler((req, res) =>
      req.n === 1
        ? json(res, 429, { ids: [], status: 429, error: "x" }, { "retry-after": "3600" })
        : ok(req, res),
    );
    await client({ retry: { ...fast, maxRetryAfterMs: 5 } }).send({ name: "a/b" });
    expect(srv.requests).toHaveLength(2);
  });

  it("times out a slow answer and retries it with the same seed", async () => {
    srv.setHandler((req, res) => {
      if (req.n === 1) setTimeout(() => ok(req, res), 2_000).unref();
      else ok(req, res);
    });
    const { ids } = await client({ timeoutMs: 100 }).send({ name: "a/b" });
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[1]!.seed).toBe(srv.requests[0]!.seed);
    expect(ids).toEqual(idsFor(srv.requests[0]!));
  });

  it("gives up on timeouts after maxAttempts with a retryable timeout error", async () => {
    srv.setHandler(() => {});
    const err = await failure(client({ timeoutMs: 50, maxAttempts: 3 }).send({ name: "a/b" }));
    expect(err.code).toBe("timeout");
    expect(err.retryable).toBe(true);
    expect(err.attempts).toBe(3);
    expect(err.failedIndexes).toEqual([0]);
    expect(srv.requests).toHaveLength(3);
    expect(new Set(srv.requests.map((r) => r.seed)).size).toBe(1);
  });

  it("gives up on 5xx after maxAttempts with the server's message", async () => {
    srv.setHandler((_req, res) => json(res, 500, { ids: [], status: 500, error: "store down" }));
    const err = await failure(client({ maxAttempts: 4 }).send({ name: "a/b" }));
    expect(err).toMatchObject({
      code: "http_error",
      status: 500,
      retryable: true,
      attempts: 4,
      serverMessage: "store down",
    });
    expect(err.message).toContain("store down");
    expect(srv.requests).toHaveLength(4);
  });

  it.each([400, 401, 403, 404, 413, 422])(
    "never retries HTTP %i (exactly one attempt)",
    async (status) => {
      srv.setHandler((_req, res) =>
        json(res, status, { ids: [], status, error: `nope ${status}` }),
      );
      const err = await failure(client().send({ name: "a/b" }));
      expect(srv.requests).toHaveLength(1);
      expect(err).toMatchObject({
        code: "http_error",
        status,
        retryable: false,
        attempts: 1,
        serverMessage: `nope ${status}`,
      });
      expect(err.message).toContain(`HTTP ${status}`);
      expect(err.message).not.toContain("k1"); // the event key stays out of messages
    },
  );

  it("keeps a non-JSON error body's text as the server message", async () => {
    srv.setHandler((_req, res) => {
      res.writeHead(401, { "content-type": "text/plain" });
      res.end("Event key not found");
    });
    const err = await failure(client().send({ name: "a/b" }));
    expect(err.serverMessage).toBe("Event key not found");
  });

  it("reports a refused connection as a retryable network error", async () => {
    const dead = await startFaultServer();
    const url = dead.url;
    await dead.close();
    const err = await failure(
      new EventClient({ baseUrl: url, maxAttempts: 2, retry: fast }).send({ name: "a/b" }),
    );
    expect(err.code).toBe("network_error");
    expect(err.retryable).toBe(true);
    expect(err.attempts).toBe(2);
    expect(err.message).toContain("ECONNREFUSED");
  });
});

describe("send: success is decided by the body", () => {
  const cases: [string, (ids: string[]) => { type: string; body: string }][] = [
    ["an HTML 200", () => ({ type: "text/html", body: "<html>gateway</html>" })],
    ["missing ids", () => ({ type: "application/json", body: JSON.stringify({ status: 200 }) })],
    [
      "the wrong number of ids",
      (ids) => ({
        type: "application/json",
        body: JSON.stringify({ ids: ids.slice(1), status: 200 }),
      }),
    ],
    [
      "status field not 200",
      (ids) => ({ type: "application/json", body: JSON.stringify({ ids, status: 202 }) }),
    ],
    [
      "an error field",
      (ids) => ({
        type: "application/json",
        body: JSON.stringify({ ids, status: 200, error: "partial" }),
      }),
    ],
    [
      "non-string ids",
      (ids) => ({
        type: "application/json",
        body: JSON.stringify({ ids: ids.map(() => 1), status: 200 }),
      }),
    ],
  ];

  it.each(cases)(
    "treats %s as a retryable malformed_response, same seed on retry",
    async (_name, make) => {
      srv.setHandler((req, res) => {
        const { type, body } = make(idsFor(req));
        res.writeHead(200, { "content-type": type });
        res.end(body);
      });
      const err = await failure(
        client({ maxAttempts: 2 }).send([{ name: "a/1" }, { name: "a/2" }]),
      );
      expect(err.code).toBe("malformed_response");
      expect(err.retryable).toBe(true);
      expect(err.status).toBe(200);
      expect(srv.requests).toHaveLength(2);
      expect(srv.requests[1]!.seed).toBe(srv.requests[0]!.seed);
    },
  );

  it("recovers when the retry gets a valid body", async () => {
    srv.setHandler((req, res) => {
      if (req.n === 1) {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html>proxy</html>");
      } else ok(req, res);
    });
    const { ids } = await client().send({ name: "a/b" });
    expect(ids).toEqual(idsFor(srv.requests[1]!));
  });
});

describe("send: typed catalogs", () => {
  it("validates data against the catalog before sending", async () => {
    const events = defineEvents({ "app/user.signup": z.object({ userId: z.string() }) });
    const evt = new EventClient({ baseUrl: srv.url, eventKey: "k", events });
    const err = await failure(
      evt.send([{ name: "app/user.signup", data: { userId: 42 as unknown as string } }]),
    );
    expect(err.code).toBe("invalid_event");
    expect(err.message).toContain("events[0].data.userId");
    expect(srv.requests).toHaveLength(0);
    await evt.send({ name: "app/user.signup", data: { userId: "u1" } });
    expect(srv.requests).toHaveLength(1);
  });
});

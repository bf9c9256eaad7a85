import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyOf, raw, rawSocket, startServer, type TestServer } from "./support/server.js";

const KEY = "test-key";
const READ = { authorization: "Bearer read-key" };
const JSON_CT = { "content-type": "application/json" };
const ULID_ABSENT = "01HZZZZZZZZZZZZZZZZZZZZZZZ";

function deep(depth: number): unknown {
  let v: unknown = {};
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

interface Case {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  status: number;
  /** A fragment the `error` must contain. */
  error?: string | RegExp;
  /** Headers the answer must carry. */
  expectHeaders?: Record<string, string>;
}

const ev = (o: Record<string, unknown>) => JSON.stringify({ name: "ok.event", ...o });
const bigString = "x".repeat(600 * 1024);

const cases: Case[] = [
  // Body shape and JSON
  { name: "malformed JSON", body: '{"name": ', status: 400, error: "not valid JSON" },
  {
    name: "trailing garbage after JSON",
    body: '{"name":"a"} x',
    status: 400,
    error: "not valid JSON",
  },
  { name: "empty body", body: "", status: 400, error: "must contain an event object" },
  {
    name: "whitespace-only body",
    body: "  \n\t ",
    status: 400,
    error: "must contain an event object",
  },
  { name: "JSON null", body: "null", status: 400, error: "must contain an event object" },
  { name: "JSON number", body: "42", status: 400, error: "must contain an event object" },
  {
    name: "JSON string",
    body: '"user.signup"',
    status: 400,
    error: "must contain an event object",
  },
  { name: "JSON true", body: "true", status: 400, error: "must contain an event object" },
  {
    name: "form-encoded body",
    body: "name=user.signup",
    status: 400,
    error: "must contain an event object",
  },
  { name: "[null]", body: "[null]", status: 400, error: "events[0]" },
  { name: "array of numbers", body: "[1,2]", status: 400, error: "events[0]" },
  { name: "nested array", body: "[[]]", status: 400, error: "events[0]" },
  {
    name: "invalid UTF-8 bytes",
    body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    status: 400,
    error: "UTF-8",
  },
  {
    name: "overlong UTF-8 inside a string",
    body: new Uint8Array([
      ...Buffer.from('{"name":"a","data":{"s":"'),
      0xc0,
      0xaf,
      ...Buffer.from('"}}'),
    ]),
    status: 400,
    error: "UTF-8",
  },
  // Event fields
  { name: "missing name", body: "{}", status: 400, error: "events[0].name" },
  { name: "empty name", body: '{"name":""}', status: 400, error: "events[0].name" },
  { name: "numeric name", body: '{"name":5}', status: 400, error: "events[0].name" },
  {
    name: "name over 256 characters",
    body: JSON.stringify({ name: "n".repeat(257) }),
    status: 400,
    error: "events[0].name",
  },
  {
    name: "reserved inngest/ name",
    body: '{"name":"inngest/function.finished"}',
    status: 400,
    error: "events[0].name",
  },
  { name: "data is a string", body: ev({ data: "hello" }), status: 400, error: "events[0].data" },
  { name: "data is an array", body: ev({ data: [1] }), status: 400, error: "events[0].data" },
  { name: "user is a string", body: ev({ user: "bob" }), status: 400, error: "events[0].user" },
  { name: "id is a number", body: ev({ id: 12 }), status: 400, error: "events[0].id" },
  { name: "ts in seconds", body: ev({ ts: 1_700_000_000 }), status: 400, error: "events[0].ts" },
  { name: "ts as a string", body: ev({ ts: "2024-01-01" }), status: 400, error: "events[0].ts" },
  {
    name: "ts with a fraction",
    body: ev({ ts: 1_700_000_000_000.5 }),
    status: 400,
    error: "events[0].ts",
  },
  {
    name: "ts after 2100",
    body: ev({ ts: Date.UTC(2200, 0, 1) }),
    status: 400,
    error: "events[0].ts",
  },
  { name: "v is a number", body: ev({ v: 2 }), status: 400, error: "events[0].v" },
  {
    name: "data nested 80,000 levels (no stack overflow)",
    body: `{"name":"a","data":${'{"a":'.repeat(80_000)}1${"}".repeat(80_000)}}`,
    status: 400,
    error: "events[0].data",
  },
  {
    name: "data nested deeper than 64",
    body: ev({ data: deep(80) }),
    status: 400,
    error: "events[0]",
  },
  {
    name: "batch with bad events at index 1 and 3",
    body: JSON.stringify([{ name: "a" }, { name: "" }, { name: "c" }, { name: "d", ts: 5 }]),
    status: 400,
    error: /events\[1\]\.name.*events\[3\]\.ts/,
  },
  // Limits
  {
    name: "body over 512 KiB",
    body: JSON.stringify({ name: "big", data: { s: bigString } }),
    status: 413,
    error: "too large",
  },
  {
    name: "5,001 events",
    body: JSON.stringify(Array.from({ length: 5001 }, () => ({ name: "e" }))),
    status: 413,
    error: "5001 events",
  },
  // Keys, routes and methods
  {
    name: "wrong event key",
    path: "/e/wrong-key",
    body: ev({}),
    status: 401,
    error: "Event key not found",
  },
  { name: "empty event key", path: "/e/", body: ev({}), status: 401, error: "Event key not found" },
  {
    name: "GET on the event route",
    method: "GET",
    path: `/e/${KEY}`,
    status: 405,
    expectHeaders: { allow: "POST, OPTIONS" },
  },
  { name: "PUT on the event route", method: "PUT", path: `/e/${KEY}`, body: ev({}), status: 405 },
  {
    name: "DELETE /health",
    method: "DELETE",
    path: "/health",
    status: 405,
    expectHeaders: { allow: "GET, HEAD" },
  },
  {
    name: "POST /v1/events",
    method: "POST",
    path: "/v1/events",
    body: ev({}),
    status: 405,
    expectHeaders: { allow: "GET" },
  },
  { name: "unknown route", method: "GET", path: "/nope", status: 404 },
  { name: "extra path segment after the key", path: `/e/${KEY}/extra`, body: ev({}), status: 404 },
  // Environment header
  {
    name: "env header with a space",
    headers: { "x-inngest-env": "my branch" },
    body: ev({}),
    status: 400,
    error: "x-inngest-env",
  },
  {
    name: "env header of 65 characters",
    headers: { "x-inngest-env": "b".repeat(65) },
    body: ev({}),
    status: 400,
    error: "x-inngest-env",
  },
  {
    name: "x-evt-env header with a colon",
    headers: { "x-evt-env": "a:b" },
    body: ev({}),
    status: 400,
    error: "x-evt-env",
  },
  // Read API
  {
    name: "read without API key",
    method: "GET",
    path: "/v1/events",
    status: 401,
    expectHeaders: { "www-authenticate": "Bearer" },
  },
  {
    name: "read with a wrong API key",
    method: "GET",
    path: "/v1/events",
    headers: { authorization: "Bearer nope" },
    status: 401,
  },
  {
    name: "limit=0",
    method: "GET",
    path: "/v1/events?limit=0",
    headers: READ,
    status: 400,
    error: '"limit"',
  },
  {
    name: "limit=1001",
    method: "GET",
    path: "/v1/events?limit=1001",
    headers: READ,
    status: 400,
    error: '"limit"',
  },
  {
    name: "limit=abc",
    method: "GET",
    path: "/v1/events?limit=abc",
    headers: READ,
    status: 400,
    error: '"limit"',
  },
  {
    name: "since=-1",
    method: "GET",
    path: "/v1/events?since=-1",
    headers: READ,
    status: 400,
    error: '"since"',
  },
  {
    name: "until=yesterday",
    method: "GET",
    path: "/v1/events?until=yesterday",
    headers: READ,
    status: 400,
    error: '"until"',
  },
  {
    name: "since as an ISO time without a zone (local time is a guess)",
    method: "GET",
    path: "/v1/events?since=2024-12-02T12:00:00",
    headers: READ,
    status: 400,
    error: "ISO 8601 time with a zone",
  },
  {
    name: "until as an ISO date alone",
    method: "GET",
    path: "/v1/events?until=2024-12-02",
    headers: READ,
    status: 400,
    error: '"until"',
  },
  {
    name: "since after until",
    method: "GET",
    path: "/v1/events?since=200&until=100",
    headers: READ,
    status: 400,
    error: '"since"',
  },
  {
    name: "unknown query parameter",
    method: "GET",
    path: "/v1/events?foo=1",
    headers: READ,
    status: 400,
    error: '"foo"',
  },
  {
    name: "repeated query parameter",
    method: "GET",
    path: "/v1/events?name=a&name=b",
    headers: READ,
    status: 400,
    error: '"name"',
  },
  {
    name: "cursor not issued by the server",
    method: "GET",
    path: "/v1/events?cursor=garbage",
    headers: READ,
    status: 400,
    error: '"cursor"',
  },
  {
    name: "bad env query parameter",
    method: "GET",
    path: "/v1/events?env=a%20b",
    headers: READ,
    status: 400,
    error: '"env"',
  },
  {
    name: "read with a bad x-evt-env header",
    method: "GET",
    path: "/v1/events",
    headers: { ...READ, "x-evt-env": "a b" },
    status: 400,
    error: "Header x-evt-env",
  },
  {
    name: "event id that is not a ULID",
    method: "GET",
    path: "/v1/events/not-a-ulid",
    headers: READ,
    status: 400,
    error: "ULID",
  },
  {
    name: "event id that does not exist",
    method: "GET",
    path: `/v1/events/${ULID_ABSENT}`,
    headers: READ,
    status: 404,
  },
];

describe("bad requests", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ eventKeys: [KEY], apiKeys: ["read-key"] }, { bodyTimeoutMs: 300 });
  });
  afterAll(async () => {
    await server.close();
  });

  it("has at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of cases) {
    it(`${c.name} -> ${c.status}`, async () => {
      const res = await raw(server.url, {
        method: c.method ?? "POST",
        path: c.path ?? `/e/${KEY}`,
        headers: { ...(c.body !== undefined ? JSON_CT : {}), ...c.headers },
        body: c.body,
      });
      expect(res.status).toBe(c.status);
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(res.json).toMatchObject({ ids: [], status: c.status, error: expect.any(String) });
      if (c.error instanceof RegExp) expect(res.json.error).toMatch(c.error);
      else if (c.error) expect(res.json.error).toContain(c.error);
      for (const [h, v] of Object.entries(c.expectHeaders ?? {})) expect(res.headers[h]).toBe(v);
      // The event key never comes back in an error.
      expect(res.text).not.toContain(KEY);
      // The server keeps serving.
      const health = await raw(server.url, { method: "GET", path: "/health" });
      expect(health.json).toEqual({ status: 200, message: "OK" });
    });
  }

  it("answers 413 from Content-Length alone, without waiting for the body", async () => {
    const answer = await rawSocket(
      server.url,
      `POST /e/${KEY} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000`,
      '{"name":"partial"',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(bodyOf(answer)).toMatchObject({
      ids: [],
      status: 413,
      error: expect.stringContaining("100000000 bytes"),
    });
  });

  it("answers 408 to a body that stalls", async () => {
    const answer = await rawSocket(
      server.url,
      `POST /e/${KEY} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50`,
      '{"name":"slo',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(bodyOf(answer)).toMatchObject({
      ids: [],
      status: 408,
      error: expect.stringContaining("not received"),
    });
  });

  it("stored nothing from any rejected request, and still accepts a good one", async () => {
    for (const env of ["production", "my branch", "feature"]) {
      const page = await server.store.list({ env, limit: 1000 }).catch(() => ({ events: [] }));
      expect(page.events).toHaveLength(0);
    }
    const ok = await raw(server.url, { path: `/e/${KEY}`, headers: JSON_CT, body: ev({}) });
    expect(ok.json).toEqual({ ids: [expect.any(String)], status: 200 });
    expect((await server.store.list({ env: "production", limit: 10 })).events).toHaveLength(1);
  });
});

describe("body deadlines", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ eventKeys: [KEY] }, { bodyTimeoutMs: 1_000 });
  });
  afterAll(async () => {
    await server.close();
  });

  it("times out each stalled body on its own deadline, not with the first one", async () => {
    const stall = (tag: string) =>
      rawSocket(
        server.url,
        `POST /e/${KEY} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\nX-Request-Id: ${tag}`,
        `{"name":"${tag}`,
      );
    let secondAnswered = false;
    const first = stall("first");
    // The second body starts stalling half a timeout after the first.
    await new Promise((r) => setTimeout(r, 500));
    const second = stall("second").then((answer) => {
      secondAnswered = true;
      return answer;
    });
    // A body that arrives whole between them is answered and leaves no deadline behind.
    const whole = await raw(server.url, { path: `/e/${KEY}`, headers: JSON_CT, body: "{" });
    expect(whole.status).toBe(400);
    const firstAnswer = await first;
    expect(firstAnswer).toMatch(/^HTTP\/1\.1 408 /);
    // The adapter's own refusals echo the request id, like the core's answers.
    expect(firstAnswer).toMatch(/\r\nx-request-id: first\r\n/i);
    // Its deadline is half a timeout after the first's: still waiting when the first got 408.
    expect(secondAnswered).toBe(false);
    expect(await second).toMatch(/^HTTP\/1\.1 408 /);
  });
});

import { request } from "node:http";
import { createMemoryStore } from "@evt/dedup";
import { createMemoryEventStore, type EventStore } from "@evt/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  clerkUserCreated,
  GITHUB_SECRET,
  githubHeaders,
  githubPush,
  resendEmailDelivered,
  STRIPE_SECRET,
  SVIX_SECRET,
  stripeCheckoutCompleted,
  stripeHeaders,
  svixHeaders,
} from "../../../packages/webhooks/test/sign";
import { type Gateway, startGateway } from "../src/index";
import { httpRequest } from "./helpers";

const API_KEY = "api-key-for-webhooks";
const auth = { authorization: `Bearer ${API_KEY}` };

let gw: Gateway;
let events: EventStore;

async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = auth,
) {
  const res = await httpRequest(`${gw.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: res.body === "" ? {} : JSON.parse(res.body) };
}

async function create(definition: object): Promise<{ id: string; url: string }> {
  const res = await api("POST", "/v1/webhooks", definition);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data;
}

function deliver(url: string, body: string, headers: Record<string, string>) {
  return httpRequest(url, { method: "POST", body, headers }).then((r) => ({
    status: r.status,
    body: JSON.parse(r.body) as { ids: string[]; status: number; error?: string; field?: string },
  }));
}

async function countEvents(): Promise<number> {
  return (await events.list({ env: "production", limit: 1000 })).events.length;
}

beforeAll(async () => {
  events = createMemoryEventStore();
  gw = await startGateway({
    mode: "start",
    port: 0,
    eventKeys: ["event-key-1"],
    apiKeys: [API_KEY],
    logLevel: "silent",
    maxRequestBytes: 64 * 1024,
    stores: { dedup: createMemoryStore(), store: events },
  });
});
afterAll(async () => {
  await gw?.close();
});

describe("webhook sources through the API (start mode)", () => {
  it("needs the API key, creates with an unguessable id and URL, and never returns a secret", async () => {
    expect((await api("GET", "/v1/webhooks", undefined, {})).status).toBe(401);
    expect(
      (await api("POST", "/v1/webhooks", { name: "x" }, { authorization: "Bearer nope" })).status,
    ).toBe(401);
    const made = await create({
      name: "clerk",
      env: "production",
      transform: { name: "'clerk/' + body.type", data: "body.data", id: "headers['svix-id']" },
      verify: { scheme: "svix", secret: SVIX_SECRET },
    });
    expect(made.id).toMatch(/^[a-z2-7]{26}$/);
    expect(made.url).toBe(`${gw.url}/w/${made.id}`);
    const list = await api("GET", "/v1/webhooks");
    expect(list.body.data.map((s: { id: string }) => s.id)).toContain(made.id);
    const one = await api("GET", `/v1/webhooks/${made.id}`);
    expect(one.body.data).toMatchObject({
      name: "clerk",
      origin: "api",
      verify: { scheme: "svix", secrets: 1 },
    });
    for (const text of [
      JSON.stringify(list.body),
      JSON.stringify(one.body),
      JSON.stringify(made),
    ]) {
      expect(text).not.toContain(SVIX_SECRET.slice(6, 20));
    }
  });

  it('refuses a bad definition listing every field, and scheme "none" unless verify.force', async () => {
    const bad = await api("POST", "/v1/webhooks", {
      name: "",
      verify: { scheme: "stripe" },
      transform: { name: "body." },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: { path: string }) => i.path)).toEqual([
      "name",
      "transform.name",
      "verify.secret",
    ]);
    const open = await api("POST", "/v1/webhooks", { name: "open" });
    expect(open.status).toBe(400);
    expect(open.body.error).toMatch(/verify\.scheme: is "none".*"force": true/);
    await create({ name: "open", verify: { scheme: "none", force: true } });
    expect((await api("POST", "/v1/webhooks", "{nope")).status).toBe(400);
  });

  it("stores its events with source webhook and the source's public ref, never its secret id", async () => {
    const made = await create({ name: "src", verify: { scheme: "none", force: true } });
    const view = (await api("GET", `/v1/webhooks/${made.id}`)).body.data as { ref: string };
    expect(view.ref).toMatch(/^wh_[0-9a-f]{16}$/);
    const res = await deliver(made.url, JSON.stringify({ hello: 1 }), {
      "content-type": "application/json",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const stored = await events.get(res.body.ids[0]!, "production");
    expect(stored).toMatchObject({ source: "webhook", source_id: view.ref });
    expect(JSON.stringify(stored)).not.toContain(made.id);
    // And through the read API, as the console reads it.
    const read = await api("GET", `/v1/events/${res.body.ids[0]}`);
    expect(read.body.data).toMatchObject({ source: "webhook", source_id: view.ref });
  });

  it("rotates a secret with PATCH (both verify during the overlap), and DELETE makes the URL 404", async () => {
    const made = await create({
      name: "gh",
      verify: { scheme: "github", secret: "old-secret" },
      transform: { name: "'github/' + headers['x-github-event']" },
    });
    const patched = await api("PATCH", `/v1/webhooks/${made.id}`, {
      verify: { secret: GITHUB_SECRET, overlap: 3600 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.data.verify.secrets).toBe(2);
    const body = JSON.stringify(githubPush);
    expect(
      (
        await deliver(
          made.url,
          body,
          githubHeaders(body, { secret: "old-secret", delivery: "rot-1" }),
        )
      ).status,
    ).toBe(200);
    expect((await deliver(made.url, body, githubHeaders(body, { delivery: "rot-2" }))).status).toBe(
      200,
    );
    const badPatch = await api("PATCH", `/v1/webhooks/${made.id}`, { verify: { tolerance: 0 } });
    expect(badPatch.status).toBe(400);
    expect(badPatch.body.issues[0].path).toBe("verify.tolerance");
    expect((await api("DELETE", `/v1/webhooks/${made.id}`)).status).toBe(200);
    expect((await api("DELETE", `/v1/webhooks/${made.id}`)).status).toBe(404);
    expect((await api("GET", `/v1/webhooks/${made.id}`)).status).toBe(404);
    const gone = await deliver(made.url, body, githubHeaders(body));
    expect(gone).toEqual({ status: 404, body: { ids: [], status: 404, error: "no such webhook" } });
  });
});

describe("hostile definitions to /v1/webhooks", () => {
  it("each gets a 4xx saying what is wrong, and nothing is created", async () => {
    const before = (await api("GET", "/v1/webhooks")).body.data.length;
    const nested = `${"(".repeat(300)}1${")".repeat(300)}`;
    const cases: [string, unknown, number, RegExp][] = [
      ["an array", [1, 2], 400, /must be an object/],
      ["null", null, 400, /must be an object/],
      ["a string", "clerk", 400, /must be an object/],
      [
        "an id chosen by the caller",
        { id: "a".repeat(26), name: "x", verify: { scheme: "none", force: true } },
        400,
        /id: is chosen by the server/,
      ],
      [
        "an expression of 5,000 characters",
        {
          name: "x",
          transform: { name: `'${"a".repeat(5000)}'` },
          verify: { scheme: "none", force: true },
        },
        400,
        /1 to 4096 characters/,
      ],
      [
        "an expression nested 300 deep",
        { name: "x", transform: { data: nested }, verify: { scheme: "none", force: true } },
        400,
        /transform\.data: /,
      ],
      [
        "a transform reading another variable",
        { name: "x", transform: { name: "event.name" }, verify: { scheme: "none", force: true } },
        400,
        /Unknown variable: event/,
      ],
      [
        "eleven secrets",
        {
          name: "x",
          verify: { scheme: "github", secret: Array.from({ length: 11 }, (_, i) => `s${i}`) },
        },
        400,
        /1 to 10/,
      ],
      [
        "a secret of 2,000 characters",
        { name: "x", verify: { scheme: "github", secret: "s".repeat(2000) } },
        400,
        /1 to 1024 characters/,
      ],
      [
        "a header with a space",
        { name: "x", verify: { scheme: "hmac", secret: "s", header: "x sig" } },
        400,
        /verify\.header/,
      ],
      [
        "__proto__ keys",
        JSON.parse(
          '{"name":"x","__proto__":{"admin":true},"verify":{"scheme":"none","force":true}}',
        ),
        400,
        /__proto__: unknown field/,
      ],
      [
        "101 allow patterns",
        {
          name: "x",
          allow: Array.from({ length: 101 }, () => "a/*"),
          verify: { scheme: "none", force: true },
        },
        400,
        /at most 100/,
      ],
    ];
    for (const [what, body, status, message] of cases) {
      const r = await api("POST", "/v1/webhooks", body);
      expect(r.status, what).toBe(status);
      expect(r.body.error, what).toMatch(message);
    }
    const huge = await httpRequest(`${gw.url}/v1/webhooks`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "x".repeat(70_000) }),
    });
    expect(huge.status).toBe(413);
    expect((await api("GET", "/v1/webhooks")).body.data.length).toBe(before);
    expect((await api("PUT", "/v1/webhooks")).status).toBe(405);
    expect((await api("PATCH", "/v1/webhooks/not-a-real-id")).status).toBe(404);
  });
});

describe("provider deliveries become events (signed by the test from each scheme's rules)", () => {
  const providers = [
    {
      what: "Clerk user.created (svix)",
      definition: {
        name: "clerk",
        transform: { name: "'clerk/' + body.type", data: "body.data", id: "headers['svix-id']" },
        verify: { scheme: "svix", secret: SVIX_SECRET },
      },
      payload: clerkUserCreated,
      sign: (b: string, o: { secret?: string; ts?: number } = {}) =>
        svixHeaders(b, {
          id: "msg_clerk_gw",
          ...(o.secret ? { secret: `whsec_${Buffer.from(o.secret).toString("base64")}` } : {}),
          ...(o.ts ? { ts: o.ts } : {}),
        }),
      expected: { name: "clerk/user.created", id: "msg_clerk_gw", data: clerkUserCreated.data },
      timestamped: true,
    },
    {
      what: "Resend email.delivered (svix)",
      definition: {
        name: "resend",
        transform: { name: "'resend/' + body.type", data: "body.data", id: "headers['svix-id']" },
        verify: { scheme: "svix", secret: SVIX_SECRET },
      },
      payload: resendEmailDelivered,
      sign: (b: string, o: { secret?: string; ts?: number } = {}) =>
        svixHeaders(b, {
          id: "msg_resend_gw",
          ...(o.secret ? { secret: `whsec_${Buffer.from(o.secret).toString("base64")}` } : {}),
          ...(o.ts ? { ts: o.ts } : {}),
        }),
      expected: {
        name: "resend/email.delivered",
        id: "msg_resend_gw",
        data: resendEmailDelivered.data,
      },
      timestamped: true,
    },
    {
      what: "Stripe checkout.session.completed",
      definition: {
        name: "stripe",
        transform: { name: "'stripe/' + body.type", data: "body.data.object", id: "body.id" },
        verify: { scheme: "stripe", secret: STRIPE_SECRET },
      },
      payload: stripeCheckoutCompleted,
      sign: (b: string, o: { secret?: string; ts?: number } = {}) => stripeHeaders(b, o),
      expected: {
        name: "stripe/checkout.session.completed",
        id: stripeCheckoutCompleted.id,
        data: stripeCheckoutCompleted.data.object,
      },
      timestamped: true,
    },
    {
      what: "GitHub push",
      definition: {
        name: "github",
        transform: {
          name: "'github/' + headers['x-github-event']",
          id: "headers['x-github-delivery']",
        },
        verify: { scheme: "github", secret: GITHUB_SECRET },
      },
      payload: githubPush,
      sign: (b: string, o: { secret?: string } = {}) =>
        githubHeaders(b, { delivery: "gh-delivery-gw", ...o }),
      expected: { name: "github/push", id: "gh-delivery-gw", data: githubPush },
      timestamped: false,
    },
  ];

  for (const p of providers) {
    it(`${p.what}: stored as the expected event; a wrong secret, a changed byte${p.timestamped ? " or an old timestamp" : ""} get 401 and store nothing; a replay is stored once`, async () => {
      const source = await create(p.definition);
      const body = JSON.stringify(p.payload);
      const before = await countEvents();
      const refusals = [
        deliver(source.url, body, p.sign(body, { secret: "wrong-secret-value" })),
        deliver(source.url, body.replace("e", "E"), p.sign(body)),
        ...(p.timestamped
          ? [deliver(source.url, body, p.sign(body, { ts: Math.floor(Date.now() / 1000) - 600 }))]
          : []),
      ];
      for (const r of await Promise.all(refusals)) {
        expect(r.status).toBe(401);
        expect(r.body.error).toMatch(/^signature check failed/);
      }
      expect(await countEvents()).toBe(before);
      const ok = await deliver(source.url, body, p.sign(body));
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect(ok.body.status).toBe(200);
      expect(ok.body.ids).toHaveLength(1);
      const stored = await events.get(ok.body.ids[0]!, "production");
      expect(stored).toMatchObject(p.expected);
      const again = await deliver(source.url, body, p.sign(body));
      expect(again.body.ids).toEqual(ok.body.ids);
      expect(await countEvents()).toBe(before + 1);
    });
  }

  it("failing transforms answer 400 naming the field, and store nothing", async () => {
    const cases: [object, string, RegExp][] = [
      [{ data: "{'x': 1 / 0}" }, "transform.data", /division by zero/],
      [{ name: "body.type" }, "transform.name", /reads a field the request does not have/],
      [{ name: "body.n" }, "transform.name", /non-empty string, but gives a number/],
      [{ ts: "'2099-01-01T00:00:00Z'" }, "events[0].ts", /more than --max-event-delay ahead/],
    ];
    const before = await countEvents();
    for (const [transform, field, reason] of cases) {
      const source = await create({
        name: "bad",
        transform,
        verify: { scheme: "none", force: true },
      });
      const r = await deliver(source.url, '{"n": 5}', { "content-type": "application/json" });
      expect(r.status).toBe(400);
      expect(r.body.field).toBe(field);
      expect(r.body.error).toMatch(reason);
    }
    expect(await countEvents()).toBe(before);
  });
});

/** A raw request, for what httpRequest cannot send (huge headers, a body past the limit). */
function raw(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    chunks?: number;
  },
) {
  return new Promise<number>((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "POST",
        agent: false,
        headers: { connection: "close", ...options.headers },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      // The server may answer 413 and close while the body is still being written.
      if (err.code === "EPIPE" || err.code === "ECONNRESET") resolve(-1);
      else reject(err);
    });
    if (options.chunks) {
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      for (let i = 0; i < options.chunks; i++) req.write(chunk);
      req.end();
    } else req.end(options.body);
  });
}

describe("hostile requests to /w/", () => {
  it("40 hostile requests each get the right 4xx, and the gateway keeps serving", async () => {
    const open = await create({ name: "open-hostile", verify: { scheme: "none", force: true } });
    const signed = await create({
      name: "signed-hostile",
      verify: { scheme: "svix", secret: SVIX_SECRET },
    });
    const reserved = await create({
      name: "reserved",
      transform: { name: "'inngest/function.finished'" },
      verify: { scheme: "none", force: true },
    });
    const base = `${gw.url}/w`;
    const json = { "content-type": "application/json" };
    const big = Buffer.alloc(65 * 1024, 0x20);
    const cases: [string, () => Promise<number>, number | number[]][] = [
      ["unknown id (valid shape)", () => raw(`${base}/${"a".repeat(26)}`, { body: "{}" }), 404],
      ["unknown id (short)", () => raw(`${base}/abc`, { body: "{}" }), 404],
      ["unknown id (long)", () => raw(`${base}/${"b".repeat(200)}`, { body: "{}" }), 404],
      [
        "unknown id (encoded slash)",
        () => raw(`${base}/${"c".repeat(12)}%2F${"c".repeat(12)}`, { body: "{}" }),
        404,
      ],
      [
        "unknown id (dot segments)",
        () => raw(`${base}/..%2F..%2Fv1%2Fwebhooks`, { body: "{}" }),
        404,
      ],
      ["unknown id (NUL)", () => raw(`${base}/%00${"d".repeat(25)}`, { body: "{}" }), 404],
      [
        "unknown id (unicode)",
        () => raw(`${base}/%E2%98%83${"e".repeat(24)}`, { body: "{}" }),
        404,
      ],
      [
        "a deleted-looking id of a real one's length +1",
        () => raw(`${base}/${open.id}x`, { body: "{}" }),
        404,
      ],
      ["an extra path segment", () => raw(`${base}/${open.id}/extra`, { body: "{}" }), 404],
      ["GET", () => raw(open.url, { method: "GET" }), 405],
      ["PUT", () => raw(open.url, { method: "PUT", body: "{}" }), 405],
      ["DELETE", () => raw(open.url, { method: "DELETE" }), 405],
      [
        "text/plain",
        () => raw(open.url, { headers: { "content-type": "text/plain" }, body: "hi" }),
        415,
      ],
      [
        "application/xml",
        () => raw(open.url, { headers: { "content-type": "application/xml" }, body: "<a/>" }),
        415,
      ],
      [
        "multipart",
        () =>
          raw(open.url, {
            headers: { "content-type": "multipart/form-data; boundary=x" },
            body: "--x--",
          }),
        415,
      ],
      [
        "a content type of 2 KB",
        () => raw(open.url, { headers: { "content-type": `x/${"y".repeat(2000)}` }, body: "{}" }),
        415,
      ],
      ["broken JSON", () => raw(open.url, { headers: json, body: "{nope" }), 400],
      ["truncated JSON", () => raw(open.url, { headers: json, body: '{"a":' }), 400],
      ["JSON with a trailing comma", () => raw(open.url, { headers: json, body: '{"a":1,}' }), 400],
      ["a JSON string (not a map)", () => raw(open.url, { headers: json, body: '"text"' }), 400],
      ["a JSON number", () => raw(open.url, { headers: json, body: "42" }), 400],
      ["an array without split", () => raw(open.url, { headers: json, body: "[1,2,3]" }), 400],
      [
        "invalid UTF-8",
        () => raw(open.url, { headers: json, body: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]) }),
        400,
      ],
      [
        "a lone surrogate escape in a key",
        () => raw(open.url, { headers: json, body: '{"\\ud800": {"x": 1}, "n": [' }),
        400,
      ],
      [
        "deeply nested JSON",
        () =>
          raw(open.url, {
            headers: json,
            body: `{"a":${"[".repeat(20_000)}${"]".repeat(20_000)}}`,
          }),
        [400, 200],
      ],
      [
        "a form body that is not a map of strings for data",
        () =>
          raw(open.url, {
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: "payload=%5B1%5D",
          }),
        400,
      ],
      [
        "a body over the limit (declared)",
        () =>
          raw(open.url, { headers: { ...json, "content-length": String(big.length) }, body: big }),
        [413, -1],
      ],
      [
        "a body over the limit (chunked)",
        () => raw(open.url, { headers: json, chunks: 8 }),
        [413, -1],
      ],
      [
        "a content-length far over the limit",
        () => raw(open.url, { headers: { ...json, "content-length": "999999999999" }, body: "" }),
        [413, 400, -1],
      ],
      [
        "a 20 KB header",
        () => raw(open.url, { headers: { ...json, "x-big": "z".repeat(20_000) }, body: "{}" }),
        431,
      ],
      [
        "200 headers of 100 bytes",
        () =>
          raw(open.url, {
            headers: {
              ...json,
              ...Object.fromEntries(
                Array.from({ length: 200 }, (_, i) => [`x-h${i}`, "v".repeat(100)]),
              ),
            },
            body: "{}",
          }),
        431,
      ],
      ["no signature headers", () => raw(signed.url, { headers: json, body: "{}" }), 401],
      [
        "a garbage signature",
        () =>
          raw(signed.url, {
            headers: { ...svixHeaders("{}"), "svix-signature": "v1,!!!!" },
            body: "{}",
          }),
        401,
      ],
      [
        "a signature for another body",
        () => raw(signed.url, { headers: svixHeaders('{"a":1}'), body: "{}" }),
        401,
      ],
      [
        "a non-numeric timestamp",
        () =>
          raw(signed.url, {
            headers: { ...svixHeaders("{}"), "svix-timestamp": "soon" },
            body: "{}",
          }),
        401,
      ],
      [
        "a timestamp from the future",
        () =>
          raw(signed.url, {
            headers: svixHeaders("{}", { ts: Math.floor(Date.now() / 1000) + 3600 }),
            body: "{}",
          }),
        401,
      ],
      [
        "a v2-only signature",
        () =>
          raw(signed.url, {
            headers: { ...svixHeaders("{}"), "svix-signature": "v2,abcd" },
            body: "{}",
          }),
        401,
      ],
      [
        "svix headers sent twice",
        () => raw(signed.url, { headers: { ...svixHeaders("{}"), "svix-id": "a, b" }, body: "{}" }),
        401,
      ],
      [
        "an unsigned huge body to a signed source",
        () => raw(signed.url, { headers: json, chunks: 8 }),
        [413, -1],
      ],
      [
        "a reserved event name from the transform",
        () => raw(reserved.url, { headers: json, body: "{}" }),
        400,
      ],
    ];
    expect(cases).toHaveLength(40);
    const before = await countEvents();
    for (const [what, send, want] of cases) {
      const status = await send();
      const allowed = Array.isArray(want) ? want : [want];
      expect(allowed, `${what}: got ${status}`).toContain(status);
    }
    expect(await countEvents()).toBe(before);
    expect((await httpRequest(`${gw.url}/health`)).status).toBe(200);
    const ok = await deliver(open.url, '{"still":"serving"}', json);
    expect(ok.status).toBe(200);
  });
});

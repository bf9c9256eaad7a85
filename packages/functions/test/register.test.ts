import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createMemoryRunStore,
  handleRegister,
  parseRegisterBody,
  type RunStore,
  registerAnswer,
} from "@evt/functions";
import { Inngest, NonRetriableError } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** A stand-in for evt's `/fn/register` route: captures each body and answers with this module. */
let capture: Server;
let baseUrl = "";
const captured: { headers: IncomingHttpHeaders; body: unknown }[] = [];
let runs: RunStore;
const servers: Server[] = [];

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  runs = createMemoryRunStore();
  capture = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", async () => {
      const body = JSON.parse(text) as unknown;
      captured.push({ headers: req.headers, body });
      const answer = await handleRegister(runs, body);
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
  });
  baseUrl = await listen(capture);
  process.env.INNGEST_DEV = "1";
  process.env.INNGEST_BASE_URL = baseUrl;
});

afterAll(async () => {
  delete process.env.INNGEST_DEV;
  delete process.env.INNGEST_BASE_URL;
  for (const s of servers) s.close();
  await runs.close();
});

/** Serve `functions` of a new app with the real SDK, PUT its URL (the SDK's sync), return the answer. */
async function syncApp(appId: string, make: (client: Inngest) => unknown[]) {
  const client = new Inngest({ id: appId });
  const app = createServer(serve({ client, functions: make(client) as never }));
  const url = `${await listen(app)}/api/inngest`;
  const before = captured.length;
  const res = await fetch(url, { method: "PUT" });
  return {
    url,
    status: res.status,
    answer: (await res.json()) as { message?: string; modified?: boolean },
    body: captured[before]?.body as Record<string, unknown> & {
      functions: Record<string, unknown>[];
    },
    headers: captured[before]?.headers,
  };
}

const shopFunctions = (client: Inngest) => [
  client.createFunction(
    { id: "user-onboarding", triggers: [{ event: "app/user.signup" }] },
    async ({ event, step }) => {
      await step.sendEvent("activate", { name: "app/user.activated", data: event.data });
      return { ok: true };
    },
  ),
  client.createFunction(
    {
      id: "send-welcome-email",
      retries: 2,
      concurrency: 3,
      triggers: [{ event: "app/user.*", if: "event.data.plan == 'pro'" }],
      onFailure: async () => {},
    },
    async () => {
      throw new NonRetriableError("no");
    },
  ),
  client.createFunction(
    { id: "nightly", triggers: [{ cron: "TZ=Europe/Paris 0 3 * * *" }] },
    async () => "done",
  ),
];

describe("/fn/register with the real inngest@4.24.0 SDK", () => {
  it("accepts the SDK's body, stores the app and its functions, and the SDK reports success", async () => {
    const sync = await syncApp("acc-app", shopFunctions);
    expect(sync.status).toBe(200);
    expect(sync.answer).toMatchObject({ modified: true });
    expect(sync.headers?.authorization).toBe("Bearer undefined"); // dev mode without a key
    const parsed = parseRegisterBody(sync.body, 1_000);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { app, functions } = parsed.registration;
    expect(app).toEqual({
      url: sync.url,
      appId: "acc-app",
      sdk: "js:v4.24.0",
      framework: "nodejs",
      syncedAt: 1_000,
      lastError: null,
    });
    const byId = new Map(functions.map((f) => [f.id, f]));
    expect([...byId.keys()].sort()).toEqual([
      "acc-app-nightly",
      "acc-app-send-welcome-email",
      "acc-app-send-welcome-email-failure",
      "acc-app-user-onboarding",
    ]);
    expect(byId.get("acc-app-send-welcome-email")).toMatchObject({
      retries: 2,
      triggers: [{ event: "app/user.*", expression: "event.data.plan == 'pro'" }],
      config: { concurrency: 3 },
    });
    expect(byId.get("acc-app-user-onboarding")?.retries).toBe(4);
    expect(byId.get("acc-app-send-welcome-email-failure")?.triggers).toEqual([
      {
        event: "inngest/function.failed",
        expression: "event.data.function_id == 'acc-app-send-welcome-email'",
      },
    ]);
    expect(new URL(byId.get("acc-app-user-onboarding")!.stepUrl).searchParams.get("fnId")).toBe(
      "acc-app-user-onboarding",
    );
    expect(await runs.getApp(sync.url)).toMatchObject({ appId: "acc-app", sdk: "js:v4.24.0" });
    expect((await runs.listFunctions(sync.url)).map((f) => [f.id, f.version])).toEqual([
      ["acc-app-nightly", 1],
      ["acc-app-send-welcome-email", 1],
      ["acc-app-send-welcome-email-failure", 1],
      ["acc-app-user-onboarding", 1],
    ]);
  });

  it("a second sync of the same app changes nothing and says so", async () => {
    const client = new Inngest({ id: "same-app" });
    const app = createServer(serve({ client, functions: shopFunctions(client) as never }));
    const url = `${await listen(app)}/api/inngest`;
    const first = await fetch(url, { method: "PUT" });
    expect(((await first.json()) as { modified: boolean }).modified).toBe(true);
    const second = await fetch(url, { method: "PUT" });
    expect(second.status).toBe(200);
    expect(((await second.json()) as { modified: boolean }).modified).toBe(false);
  });

  it("refuses a function whose `if` is not CEL: the SDK's sync fails with the path", async () => {
    const sync = await syncApp("bad-app", (client) => [
      client.createFunction({ id: "ok", triggers: [{ event: "app/a" }] }, async () => 1),
      client.createFunction(
        { id: "broken", triggers: [{ event: "app/b", if: "event.data.x ==" }] },
        async () => 1,
      ),
    ]);
    expect(sync.status).toBe(400);
    const i = sync.body.functions.findIndex((f) => f.id === "bad-app-broken");
    expect(sync.answer.message).toContain(`functions[${i}].triggers[0].expression`);
    expect(await runs.getApp(sync.url)).toBeNull();
    expect(await runs.getFunction("bad-app-ok")).toBeNull();
  });

  it("an app id synced from a second URL is the app moved (as Inngest keys apps by id): its functions follow the last sync", async () => {
    const first = await syncApp("twin", shopFunctions);
    expect(first.status).toBe(200);
    const second = await syncApp("twin", shopFunctions);
    expect(second.status).toBe(200);
    expect(await runs.getApp(first.url)).toBeNull();
    expect(await runs.getApp(second.url)).toMatchObject({ appId: "twin" });
    const fns = await runs.listFunctions(second.url);
    expect(fns.length).toBe(4);
    expect(fns.every((f) => f.stepUrl.startsWith(second.url))).toBe(true);
    expect(await runs.listFunctions(first.url)).toEqual([]);
  });

  it("refuses a function id another app id holds: nothing is stored", async () => {
    await syncApp("holder", shopFunctions);
    const holder = await runs.listFunctions();
    const taken = holder.find((f) => f.id.startsWith("holder-"))!.id;
    const res = await handleRegister(runs, {
      url: "http://127.0.0.1:9/api/inngest",
      appName: "intruder",
      functions: [
        {
          id: taken,
          name: "x",
          triggers: [{ event: "a/b" }],
          steps: { step: { id: "step", runtime: { type: "http", url: "http://127.0.0.1:9/x" } } },
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/is registered by another app/);
    expect(await runs.getApp("http://127.0.0.1:9/api/inngest")).toBeNull();
  });

  it("reports hostile bodies with every problem and its path", async () => {
    const sync = await syncApp("hostile-app", shopFunctions);
    const real = sync.body;
    const edit = (fn: (b: typeof real) => void) => {
      const copy = structuredClone(real);
      fn(copy);
      const result = parseRegisterBody(copy);
      expect(result.ok).toBe(false);
      return result.ok ? [] : result.issues;
    };
    expect(
      edit((b) => {
        (b.functions[1]!.triggers as { event: string }[])[0]!.event = "";
      }),
    ).toEqual([{ path: "functions[1].triggers[0].event", message: expect.any(String) }]);
    expect(
      edit((b) => {
        b.url = "javascript:alert(1)";
        b.appName = "has space";
      }).map((i) => i.path),
    ).toEqual(["url", "appName"]);
    const steps = edit((b) => {
      const step = (b.functions[0]!.steps as Record<string, Record<string, unknown>>).step!;
      step.retries = { attempts: 99 };
      step.runtime = { type: "ws", url: "http://x" };
    });
    expect(steps.map((i) => i.path).sort()).toEqual([
      "functions[0].steps.step.retries.attempts",
      "functions[0].steps.step.runtime.type",
    ]);
    expect(steps.find((i) => i.path.endsWith("attempts"))?.message).toMatch(/at most 20/);
    expect(
      edit((b) => {
        b.functions[2]!.id = b.functions[0]!.id;
      }),
    ).toEqual([{ path: "functions[2].id", message: expect.stringMatching(/ids must be unique/) }]);
    expect(
      edit((b) => {
        b.functions = Array.from({ length: 1001 }, () => b.functions[0]!);
      }),
    ).toEqual([{ path: "functions", message: expect.stringMatching(/at most 1000/) }]);
    for (const body of [null, "x", [], 42]) {
      const result = parseRegisterBody(body);
      expect(result).toEqual({
        ok: false,
        issues: [{ path: "body", message: expect.stringMatching(/must be a JSON object/) }],
      });
    }
    const answer = registerAnswer({
      issues: Array.from({ length: 25 }, (_, n) => ({
        path: `functions[${n}].id`,
        message: "bad",
      })),
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ ok: false, status: 400, modified: false });
    expect(answer.body.error).toMatch(/functions\[19\]\.id: bad; and 5 more$/);
  });
});

describe("parseRegisterBody: idempotency", () => {
  const body = (idempotency: unknown) => ({
    url: "http://127.0.0.1:3000/api/inngest",
    appName: "idem",
    functions: [
      {
        id: "idem-fn",
        name: "fn",
        triggers: [{ event: "a/b" }],
        idempotency,
        steps: { step: { id: "step", runtime: { type: "http", url: "http://127.0.0.1:3000/x" } } },
      },
    ],
  });

  it("accepts a CEL key expression and refuses one that does not compile, or is not a string, at its path", () => {
    expect(parseRegisterBody(body("event.data.userId")).ok).toBe(true);
    for (const bad of ["event.data.", 42]) {
      const result = parseRegisterBody(body(bad));
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.issues[0]).toMatchObject({ path: "functions[0].idempotency" });
    }
  });
});

describe("parseRegisterBody: concurrency", () => {
  const body = (concurrency: unknown) => ({
    url: "http://127.0.0.1:3000/api/inngest",
    appName: "cc",
    functions: [
      {
        id: "cc-fn",
        name: "fn",
        triggers: [{ event: "a/b" }],
        concurrency,
        steps: { step: { id: "step", runtime: { type: "http", url: "http://127.0.0.1:3000/x" } } },
      },
    ],
  });

  it("accepts what the SDKs register: a number, { limit, key?, scope? }, or two of them", () => {
    for (const ok of [
      2,
      0,
      { limit: 1 },
      { limit: 1, key: "event.data.user" },
      [
        { limit: 10, key: '"openai"', scope: "account" },
        { limit: 1, key: "event.data.account_id", scope: "fn" },
      ],
      { limit: 3, key: "event.data.team", scope: "env" },
    ]) {
      expect(parseRegisterBody(body(ok)).ok).toBe(true);
    }
  });

  it("refuses a non-numeric or negative limit, an unknown scope, a key that is not CEL, more than two limits, each at its path", () => {
    const cases: [unknown, string, RegExp][] = [
      [-1, "functions[0].concurrency", /whole number from 0 to 2147483647, got -1/],
      ["2", "functions[0].concurrency", /must be a number or an object/],
      [1.5, "functions[0].concurrency", /whole number/],
      [{ limit: "many" }, "functions[0].concurrency.limit", /whole number.*got "many"/],
      [{ limit: 1e12 }, "functions[0].concurrency.limit", /whole number/],
      [{ limit: 1, scope: "galaxy" }, "functions[0].concurrency.scope", /"fn", "env" or "account"/],
      [{ limit: 1, key: "event.data." }, "functions[0].concurrency.key", /./],
      [{ limit: 1, key: 7 }, "functions[0].concurrency.key", /CEL expression \(a string\)/],
      [[{ limit: 1 }, { limit: -2 }], "functions[0].concurrency[1].limit", /whole number/],
      [[1, 2, 3], "functions[0].concurrency", /at most 2 concurrency limits, got 3/],
    ];
    for (const [bad, path, message] of cases) {
      const result = parseRegisterBody(body(bad));
      expect(result.ok, JSON.stringify(bad)).toBe(false);
      if (!result.ok) {
        expect(result.issues[0]).toMatchObject({ path });
        expect(result.issues[0]!.message).toMatch(message);
      }
    }
  });
});

// The app of the function benchmarks (bench/functions.mjs, bench/cpu-ab.mjs `:#N/M`): a bare
// node:http endpoint in the bench process, no SDK. It answers the gateway's sync (PUT) by
// POSTing an inngest SDK register body with `app.functions` to `<app.gateway>/fn/register`,
// and every call (POST) with 200 {"ok":true} (a one-call run).
import { Agent, createServer, request } from "node:http";

export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** A function config as the SDK registers it: one trigger, one HTTP step at `serveUrl`. */
export function fn(id, event, serveUrl) {
  return {
    id,
    name: id,
    triggers: [{ event }],
    steps: {
      step: {
        id: "step",
        name: "step",
        runtime: { type: "http", url: `${serveUrl}?fnId=${id}&stepId=step` },
        retries: { attempts: 0 },
      },
    },
  };
}

/**
 * `count` functions, the first `matching` triggered by `event`, the others each by an event
 * of their own (`other/<i>`) that nothing sends.
 */
export function benchFunctions(count, matching, event, serveUrl) {
  return Array.from({ length: count }, (_, i) =>
    i < matching
      ? fn(`bench-match-${i}`, event, serveUrl)
      : fn(`bench-other-${i}`, `other/${i}`, serveUrl),
  );
}

export function readAll(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function post(url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        readAll(res).then((text) => resolve({ status: res.statusCode, body: text }), reject);
      },
    );
    req.on("error", reject);
    req.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once the gateway at `url` lists `n` functions (the app's sync went through);
 * `apiKey` for `start` (its reads need one).
 */
export async function waitForFunctions(url, n, apiKey = null) {
  const headers = apiKey === null ? {} : { authorization: `Bearer ${apiKey}` };
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const res = await fetch(`${url}/v1/functions`, { headers });
    const { data } = await res.json();
    if (data?.length === n) return;
    await sleep(50);
  }
  throw new Error(`the gateway did not list ${n} functions within 30 s`);
}

/**
 * Starts the endpoint on a free loopback port. Set `app.functions` (what the next sync
 * registers), `app.gateway` (the gateway's URL, or a promise of it) and, for `start`,
 * `app.signingKey` (sent as the register bearer) before the gateway syncs. `app.calls` and
 * `app.syncs` count the calls and the syncs that registered; `onCall(text, t)` gets every
 * call's body and its arrival time (`performance.now()`).
 */
export async function startFnApp(onCall = () => {}) {
  const app = { gateway: null, functions: [], signingKey: null, calls: 0, syncs: 0, serveUrl: "" };
  const endpoint = createServer(async (req, res) => {
    const t = performance.now();
    const text = await readAll(req);
    if (req.method === "PUT") {
      // The SDK's sync: POST the register body to the gateway, then answer the PUT.
      const gateway = await app.gateway;
      const answer = await post(
        `${gateway}/fn/register`,
        {
          url: app.serveUrl,
          deployType: "ping",
          framework: "nodejs",
          appName: "bench",
          sdk: "js:v4.24.0",
          v: "0.1",
          functions: app.functions,
        },
        app.signingKey === null ? {} : { authorization: `Bearer ${app.signingKey}` },
      );
      if (answer.status === 200) app.syncs++;
      else console.error(`register answered ${answer.status}: ${answer.body}`);
      res.writeHead(answer.status === 200 ? 200 : 500, { "content-type": "application/json" });
      res.end(answer.body);
      return;
    }
    app.calls++;
    onCall(text, t);
    res.writeHead(200, { "content-type": "application/json", "content-length": 11 });
    res.end('{"ok":true}');
  });
  await new Promise((r) => endpoint.listen(0, "127.0.0.1", r));
  app.serveUrl = `http://127.0.0.1:${endpoint.address().port}/api/inngest`;
  app.close = () => {
    endpoint.close();
    agent.destroy();
  };
  return app;
}

import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  checkRegisterAuth,
  FunctionsError,
  hashSigningKey,
  parseSigningKey,
  signRequest,
} from "@evt/functions";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const KEY = `signkey-test-${"a1".repeat(32)}`;
const OTHER = `signkey-test-${"b2".repeat(32)}`;

const servers: Server[] = [];
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Stand-in for evt's `/fn/register`: records the Authorization header of each call. */
const authorizations: (string | undefined)[] = [];
let serveUrl = "";

beforeAll(async () => {
  const recorder = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url?.startsWith("/fn/register")) authorizations.push(req.headers.authorization);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, modified: true }));
    });
  });
  const baseUrl = await listen(recorder);
  const client = new Inngest({ id: "acc", isDev: false, signingKey: KEY, baseUrl });
  const echo = client.createFunction(
    { id: "echo", triggers: [{ event: "demo/x" }] },
    async ({ event }) => ({ got: event.data }),
  );
  serveUrl = `${await listen(createServer(serve({ client, functions: [echo] })))}/api/inngest`;
});

afterAll(() => {
  for (const s of servers) s.close();
});

const event = { name: "demo/x", data: { b: 1, a: "two" } };
const callBody = JSON.stringify({
  event,
  events: [event],
  steps: {},
  ctx: {
    run_id: "01HSIGNINGTEST0000000000000",
    attempt: 0,
    max_attempts: 1,
    disable_immediate_execution: false,
    stack: { stack: [], current: 0 },
  },
  version: -1,
});
/** The same call with its keys in reverse order at every level: not JCS. */
const reversed = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reversed);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversed(v)]),
  );
};
const shuffledBody = JSON.stringify(reversed(JSON.parse(callBody)));

function call(body: string, signature: string) {
  return fetch(`${serveUrl}?fnId=acc-echo&stepId=step`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-inngest-signature": signature },
    body,
  });
}

describe("signRequest against the real inngest@4.24.0 SDK in cloud mode", () => {
  it("a signed call runs the function and returns its output", async () => {
    const res = await call(callBody, signRequest(callBody, KEY));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ got: { b: 1, a: "two" } });
  });

  it("the same body signed with another key is refused", async () => {
    const res = await call(callBody, signRequest(callBody, OTHER));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: "Unauthorized" });
  });

  it("signs the JCS form: a body with keys out of order passes, an HMAC of its raw bytes does not", async () => {
    expect(shuffledBody.startsWith('{"version":-1')).toBe(true);
    const ok = await call(shuffledBody, signRequest(shuffledBody, KEY));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ got: { b: 1, a: "two" } });

    const t = Math.floor(Date.now() / 1000);
    const raw = createHmac("sha256", KEY.replace(/^signkey-\w+-/, ""))
      .update(shuffledBody + t)
      .digest("hex");
    expect((await call(shuffledBody, `t=${t}&s=${raw}`)).status).toBe(401);
  });

  it("uses nowMs for t: a signature from 10 minutes ago has expired", async () => {
    const then = Date.now() - 10 * 60_000;
    const signature = signRequest(callBody, KEY, then);
    expect(signature).toMatch(new RegExp(`^t=${Math.floor(then / 1000)}&s=[0-9a-f]{64}$`));
    expect((await call(callBody, signature)).status).toBe(401);
  });

  it("a GET signed over the empty body gets the authenticated introspection", async () => {
    const res = await fetch(serveUrl, { headers: { "x-inngest-signature": signRequest("", KEY) } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ authentication_succeeded: true, mode: "cloud", app_id: "acc" });
    expect(body.signing_key_hash).toBe(
      hashSigningKey(KEY)
        .replace(/^signkey-\w+-/, "")
        .slice(0, 12),
    );
    expect((await fetch(serveUrl)).status).toBe(401);
  });

  it("refuses a body that is not JSON", () => {
    expect(() => signRequest("{nope", KEY)).toThrow(/body is not JSON/);
  });
});

describe("checkRegisterAuth with the SDK's own register bearer", () => {
  let recorded: string | undefined;

  beforeAll(async () => {
    const before = authorizations.length;
    const res = await fetch(serveUrl, { method: "PUT" });
    expect(res.status).toBe(200);
    expect(authorizations.length).toBe(before + 1);
    recorded = authorizations[before];
  });

  it("the SDK sends the hashed key, and it is accepted", () => {
    expect(recorded).toBe(`Bearer ${hashSigningKey(KEY)}`);
    expect(checkRegisterAuth(recorded, [KEY])).toBe(true);
    expect(checkRegisterAuth(recorded, [OTHER, KEY])).toBe(true);
  });

  it("the plain key is accepted too, with or without its prefix", () => {
    expect(checkRegisterAuth(`Bearer ${KEY}`, [KEY])).toBe(true);
    expect(checkRegisterAuth(`Bearer ${KEY}`, ["a1".repeat(32)])).toBe(true);
  });

  it("another key, no header, Bearer undefined and no keys are refused", () => {
    expect(checkRegisterAuth(recorded, [OTHER])).toBe(false);
    expect(checkRegisterAuth(undefined, [KEY])).toBe(false);
    expect(checkRegisterAuth("Bearer undefined", [KEY])).toBe(false);
    expect(checkRegisterAuth(`Basic ${hashSigningKey(KEY)}`, [KEY])).toBe(false);
    expect(checkRegisterAuth(recorded, [])).toBe(false);
  });

  it("a malformed configured key throws instead of silently refusing", () => {
    expect(() => checkRegisterAuth(recorded, [KEY, "xyz"])).toThrow(/signingKeys\[1\]/);
  });
});

describe("parseSigningKey", () => {
  it("accepts prefixed and bare even-length hex", () => {
    expect(parseSigningKey(KEY)).toEqual({ key: KEY, env: "test" });
    expect(parseSigningKey("AB12")).toEqual({ key: "AB12", env: null });
  });

  const refusals: [string, string, RegExp][] = [
    ["odd hex length", `signkey-prod-${"a1".repeat(31)}a`, /odd number of hex characters \(63\)/],
    ["odd bare hex", "abc", /odd number of hex characters \(3\)/],
    ["junk before the key", `x${"a1".repeat(32)}`, /not hex .*no signkey-<env>- prefix/],
    ["junk in the hex", `signkey-prod-${"zz".repeat(32)}`, /not hex .*after its prefix/],
    ["a prefix without env", `signkey-${"a1".repeat(32)}`, /no "<env>-" after it/],
    ["a prefix without hex", "signkey-prod-", /no hex after its prefix/],
    ["empty", "", /is empty/],
  ];
  for (const [label, value, message] of refusals) {
    it(`refuses ${label} with invalid_input, naming the key and never echoing it`, () => {
      let caught: unknown;
      try {
        parseSigningKey(value, "EVT_SIGNING_KEY");
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(FunctionsError);
      const error = caught as FunctionsError;
      expect(error.code).toBe("invalid_input");
      expect(error.message).toMatch(message);
      expect(error.message).toContain("EVT_SIGNING_KEY");
      expect(error.message).toContain('allowed: "signkey-<env>-<hex>"');
      if (value.length > 0) expect(error.message).not.toContain(value);
      const hex = value.replace(/^signkey-\w+-/, "");
      if (hex.length > 3) expect(error.message).not.toContain(hex);
    });
  }

  it("signRequest and hashSigningKey refuse a malformed key the same way", () => {
    expect(() => signRequest("", "abc")).toThrow(/odd number/);
    expect(() => hashSigningKey("abc")).toThrow(/odd number/);
  });
});

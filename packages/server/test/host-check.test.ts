import { createMemoryStore } from "@evt/dedup";
import { createEventApi, createHostCheck, ServerError } from "@evt/server";
import { createFetchHandler } from "@evt/server/fetch";
import { type Listener, listen } from "@evt/server/node";
import { createMemoryEventStore } from "@evt/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyOf, rawSocket } from "./support/server.js";

const ALLOWED = ["localhost", "127.0.0.1", "::1", "evt.example.com"];

describe("createHostCheck", () => {
  const check = createHostCheck(ALLOWED);

  it.each([
    "localhost",
    "localhost:8288",
    "LOCALHOST:1",
    "127.0.0.1:8288",
    "[::1]:8288",
    "[::1]",
    "evt.example.com",
    "evt.example.com.",
    "Evt.Example.Com:443",
  ])("allows %j", (host) => {
    expect(check(host)).toBeNull();
  });

  it.each([
    "evil.example",
    "evil.example:8288",
    "localhost.evil.example",
    "127.0.0.2",
    "evt.example.com.evil.example",
    "[::2]:8288",
    "localhost:notaport",
    "user@localhost",
    "::1",
    "",
  ])("refuses %j and says what is allowed", (host) => {
    const message = check(host);
    expect(message).not.toBeNull();
    expect(message).toContain("allowed hosts: localhost, 127.0.0.1, [::1], evt.example.com");
  });

  it("refuses a missing Host, quoting nothing", () => {
    expect(check(undefined)).toMatch(/^Request has no Host header/);
  });

  it("quotes at most 100 characters of a refused Host", () => {
    const message = check(`${"a".repeat(5_000)}.example`)!;
    expect(message.length).toBeLessThan(400);
  });

  it.each([
    [[], /non-empty array/],
    [
      ["localhost:8288"],
      /allowedHosts\[0\] "localhost:8288" is not a host name: expected a name or IP address without a port/,
    ],
    [["ok", "http://x/"], /allowedHosts\[1\] "http:\/\/x\/" is not a host name/],
    [["a b"], /allowedHosts\[0\] "a b" is not a host name/],
  ])("refuses the option %j", (list, message) => {
    expect(() => createHostCheck(list as string[])).toThrow(ServerError);
    expect(() => createHostCheck(list as string[])).toThrow(message);
  });

  it("works in front of the fetch adapter", async () => {
    const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
    const handler = createFetchHandler(api);
    const serve = async (request: Request) => {
      const refused = check(new URL(request.url).host);
      if (refused !== null) return Response.json({ status: 421, error: refused }, { status: 421 });
      return handler(request);
    };
    expect((await serve(new Request("http://localhost:3000/health"))).status).toBe(200);
    expect((await serve(new Request("http://evil.example/health"))).status).toBe(421);
  });
});

describe("listen({ allowedHosts }): DNS rebinding", () => {
  let listener: Listener;
  const rejected: string[] = [];
  beforeAll(async () => {
    const api = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      hooks: { onRejected: ({ reason }) => rejected.push(reason) },
    });
    listener = await listen(api, {
      port: 0,
      allowedHosts: ["localhost", "127.0.0.1"],
      // A route added by wrap is behind the check too.
      wrap: (handler) => (req, res) => {
        if (req.url === "/extra") {
          res.end("extra");
          return;
        }
        handler(req, res);
      },
    });
  });
  afterAll(() => listener.close());

  it("answers 421 with a clear body to Host: evil.example, and closes the connection", async () => {
    const body = '{"name":"app/rebound"}';
    const answer = await rawSocket(
      listener.url,
      `POST /e/k HTTP/1.1\r\nHost: evil.example:8288\r\ncontent-type: application/json\r\ncontent-length: ${body.length}`,
      body,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(bodyOf(answer)).toEqual({
      ids: [],
      status: 421,
      error:
        'Host "evil.example:8288" is not served here (allowed hosts: localhost, 127.0.0.1); the server\'s operator can allow more names',
    });
    expect(rejected).toContain("misdirected");
  });

  it.each(["GET /health", "GET /v1/events", "GET /extra"])(
    "%s for evil.example: 421",
    async (line) => {
      const answer = await rawSocket(
        listener.url,
        `${line} HTTP/1.1\r\nHost: evil.example\r\nconnection: close`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    },
  );

  it("an absolute-form target is judged by its authority, not the Host header", async () => {
    const answer = await rawSocket(
      listener.url,
      "GET http://evil.example/health HTTP/1.1\r\nHost: localhost\r\nconnection: close",
    );
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    const ok = await rawSocket(
      listener.url,
      "GET http://localhost/health HTTP/1.1\r\nHost: evil.example\r\nconnection: close",
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("HTTP/1.0 without Host: 421", async () => {
    const answer = await rawSocket(listener.url, "GET /health HTTP/1.0");
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    expect(bodyOf(answer)).toMatchObject({ error: expect.stringMatching(/no Host header/) });
  });

  it("serves allowed hosts, any port", async () => {
    for (const host of ["localhost", "127.0.0.1:1234", "LocalHost:8288"]) {
      const answer = await rawSocket(
        listener.url,
        `GET /health HTTP/1.1\r\nHost: ${host}\r\nconnection: close`,
      );
      expect(answer, host).toMatch(/^HTTP\/1\.1 200 /);
    }
  });

  it("refuses a bad allowedHosts option at listen()", async () => {
    const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
    await expect(listen(api, { port: 0, allowedHosts: ["localhost:80"] })).rejects.toThrow(
      /allowedHosts\[0\]/,
    );
  });
});

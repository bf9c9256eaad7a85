import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpPost, PostError } from "../src/http-post";

// The transport the executor calls apps with (keep-alive sockets per app origin), against a
// real node:http server on a free port.

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const servers: Server[] = [];
const transports: ReturnType<typeof createHttpPost>[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

async function serve(handler: Handler): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, Buffer.concat(chunks).toString("utf8"), res));
  });
  server.on("connection", () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/inngest?fnId=f&stepId=step`,
    connections: () => connections,
  };
}

function transport(options?: Parameters<typeof createHttpPost>[0]) {
  const t = createHttpPost(options);
  transports.push(t);
  return t;
}

const never = new AbortController().signal;

describe("createHttpPost", () => {
  it("posts the body and headers, reads the status, headers and text, and keeps the socket for the next call", async () => {
    const seen: { method?: string; url?: string; type?: string; sig?: string; body: string }[] = [];
    const app = await serve((req, body, res) => {
      seen.push({
        method: req.method,
        url: req.url,
        type: req.headers["content-type"],
        sig: req.headers["x-inngest-signature"] as string,
        body,
      });
      res.writeHead(206, { "content-type": "application/json", "x-inngest-sdk": "js:v4" });
      res.end('{"ok":"é"}');
    });
    const t = transport();
    const headers = { "content-type": "application/json", "x-inngest-signature": "t=1&s=abc" };
    const first = await t.post(app.url, headers, '{"event":"ü"}', never, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = await t.post(app.url, headers, "{}", never, 5_000);
    expect(first.status).toBe(206);
    expect(first.header("x-inngest-sdk")).toBe("js:v4");
    expect(first.header("x-missing")).toBeNull();
    expect(first.text).toBe('{"ok":"é"}');
    expect(second.text).toBe('{"ok":"é"}');
    expect(seen[0]).toEqual({
      method: "POST",
      url: "/api/inngest?fnId=f&stepId=step",
      type: "application/json",
      sig: "t=1&s=abc",
      body: '{"event":"ü"}',
    });
    expect(app.connections()).toBe(1);
  });

  it("reads an answer sent in chunks without a content-length", async () => {
    const app = await serve((_req, _body, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"a":');
      setTimeout(() => res.end('"b"}'), 10);
    });
    const answer = await transport().post(app.url, {}, "{}", never, 5_000);
    expect(answer.text).toBe('{"a":"b"}');
  });

  it("fails a call the app does not answer within timeoutMs", async () => {
    const app = await serve(() => {});
    await expect(transport().post(app.url, {}, "{}", never, 50)).rejects.toThrow(
      new PostError("no answer within 50 ms"),
    );
  });

  it("fails an answer larger than maxBytes", async () => {
    const app = await serve((_req, _body, res) => res.end("x".repeat(100)));
    await expect(transport({ maxBytes: 10 }).post(app.url, {}, "{}", never, 5_000)).rejects.toThrow(
      /the answer is larger than 10 bytes/,
    );
  });

  it("rejects with the signal's reason when the call is aborted, before or while it runs", async () => {
    const app = await serve(() => {});
    const t = transport();
    const controller = new AbortController();
    const call = t.post(app.url, {}, "{}", controller.signal, 5_000);
    setTimeout(() => controller.abort(new Error("lease lost")), 20);
    await expect(call).rejects.toThrow("lease lost");
    await expect(t.post(app.url, {}, "{}", controller.signal, 5_000)).rejects.toThrow("lease lost");
  });

  it("fails a URL it cannot call, and an app that is not listening", async () => {
    const t = transport();
    await expect(t.post("not a url", {}, "{}", never, 5_000)).rejects.toThrow(
      new PostError("not a URL: not a url"),
    );
    const app = await serve(() => {});
    const url = app.url;
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    await expect(t.post(url, {}, "{}", never, 5_000)).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });
});

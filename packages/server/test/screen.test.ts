import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { createMemoryStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { createFetchHandler } from "@evt/server/fetch";
import { createNodeHandler } from "@evt/server/node";
import { createMemoryEventStore } from "@evt/store";
import { afterEach, describe, expect, it } from "vitest";

function make() {
  return createEventApi({
    dedup: createMemoryStore(),
    store: createMemoryEventStore(),
    maxRequestBytes: 1000,
    eventKeys: ["good-key", { key: "prod-only", envs: ["production"] }],
  });
}

const head = (url: string, headers: Record<string, string> = {}, method = "POST") => ({
  method,
  url,
  headers,
});

describe("api.screen: answers from the head alone", () => {
  it("refuses what the head decides and lets the rest through", () => {
    const api = make();
    expect(api.screen(head("/e/unknown"))?.status).toBe(401);
    expect(api.screen(head("/e/good-key", { "content-length": "1001" }))?.status).toBe(413);
    expect(api.screen(head("/e/prod-only", { "x-inngest-env": "staging" }))?.status).toBe(403);
    expect(api.screen(head("/e/good-key", { "x-inngest-env": "bad env!" }))?.status).toBe(400);
    expect(api.screen(head("/nowhere"))?.status).toBe(404);
    expect(api.screen(head("/health"))?.status).toBe(405);
    const refused = api.screen(head("/e/unknown"))!;
    expect(refused.headers.connection).toBe("close");
    expect(JSON.parse(refused.body as string).error).toBe("Event key not found");
    expect(api.screen(head("/e/good-key", { "content-length": "1000" }))).toBeNull();
    expect(api.screen(head("/e/prod-only"))).toBeNull();
    expect(api.screen(head("/health", {}, "GET"))).toBeNull();
  });

  it("answers 503 once the API is closed", async () => {
    const api = make();
    await api.close();
    expect(api.screen(head("/e/good-key"))?.status).toBe(503);
  });
});

describe("adapters screen before reading the body", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  it("node: an unknown key gets 401 at once and the connection closes, the body never sent", async () => {
    server = createServer(createNodeHandler(make(), { bodyTimeoutMs: 60_000 }));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString();
    });
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    // 900 bytes announced, none sent: without screening the adapter would wait for them
    socket.write(
      "POST /e/unknown HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 900\r\n\r\n",
    );
    await closed;
    expect(answer).toMatch(/^HTTP\/1.1 401/);
    expect(answer).toMatch(/connection: close/i);
  });

  it("fetch: an unknown key gets 401 without the body stream being read", async () => {
    const handler = createFetchHandler(make());
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled++;
          controller.enqueue(new TextEncoder().encode('{"name":"a"}'));
          controller.close();
        },
      },
      { highWaterMark: 0 },
    ); // pulled only when somebody reads
    const res = await handler(
      new Request("http://localhost/e/unknown", {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
        duplex: "half",
      } as RequestInit),
    );
    expect(res.status).toBe(401);
    expect(pulled).toBe(0);
  });
});

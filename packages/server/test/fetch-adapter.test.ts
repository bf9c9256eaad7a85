import { createMemoryStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { createFetchHandler } from "@evt/server/fetch";
import { createMemoryEventStore } from "@evt/store";
import { describe, expect, it } from "vitest";

function setup(options: { basePath?: string; maxRequestBytes?: number } = {}) {
  const store = createMemoryEventStore();
  const api = createEventApi({
    dedup: createMemoryStore(),
    store,
    eventKeys: ["k"],
    ...(options.maxRequestBytes ? { maxRequestBytes: options.maxRequestBytes } : {}),
  });
  const handler = createFetchHandler(api, options.basePath ? { basePath: options.basePath } : {});
  return { store, handler };
}

describe("createFetchHandler", () => {
  it("accepts events from a web Request and stores them", async () => {
    const { store, handler } = setup();
    const res = await handler(
      new Request("http://localhost/e/k", {
        method: "POST",
        headers: { "content-type": "application/json", "x-inngest-env": "preview" },
        body: JSON.stringify([{ name: "web.click", data: { x: 1 } }]),
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const body = (await res.json()) as { ids: string[]; status: number };
    expect(body.status).toBe(200);
    expect(await store.get(body.ids[0]!, "preview")).toMatchObject({
      name: "web.click",
      data: { x: 1 },
    });
  });

  it("serves the read API and health", async () => {
    const { handler } = setup();
    const sent = (await (
      await handler(new Request("http://localhost/e/k", { method: "POST", body: '{"name":"r"}' }))
    ).json()) as { ids: string[] };
    const got = await handler(new Request(`http://localhost/v1/events/${sent.ids[0]}`));
    expect(((await got.json()) as { data: { name: string } }).data.name).toBe("r");
    expect(await (await handler(new Request("http://localhost/health"))).json()).toEqual({
      status: 200,
      message: "OK",
    });
  });

  it("strips basePath, and answers 404 outside it", async () => {
    const { handler } = setup({ basePath: "/api/evt/" });
    const ok = await handler(
      new Request("http://localhost/api/evt/e/k", { method: "POST", body: '{"name":"p"}' }),
    );
    expect(ok.status).toBe(200);
    const health = await handler(new Request("http://localhost/api/evt/health?x=1"));
    expect(health.status).toBe(200);
    const outside = await handler(
      new Request("http://localhost/e/k", { method: "POST", body: '{"name":"p"}' }),
    );
    expect(outside.status).toBe(404);
    expect(((await outside.json()) as { error: string }).error).toContain("/api/evt");
  });

  it("answers 413 to a streamed body over the limit", async () => {
    const { store, handler } = setup({ maxRequestBytes: 1024 });
    const chunk = new TextEncoder().encode(`[${'{"name":"a"},'.repeat(100)}`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 1000) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const res = await handler(
      new Request("http://localhost/e/k", { method: "POST", body, duplex: "half" } as RequestInit),
    );
    expect(res.status).toBe(413);
    // Reading stopped right after the limit instead of draining 1000 chunks.
    expect(sent).toBeLessThan(10);
    expect((await store.list({ env: "production", limit: 10 })).events).toHaveLength(0);
  });

  it("answers CORS preflights for the event route", async () => {
    const { handler } = setup();
    const res = await handler(
      new Request("http://localhost/e/k", {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST" },
      }),
    );
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")).toContain("x-inngest-env");
  });

  it("returns an empty body for HEAD", async () => {
    const { handler } = setup();
    const res = await handler(new Request("http://localhost/health", { method: "HEAD" }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });
});

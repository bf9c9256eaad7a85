import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  tempDir,
} from "./helpers";

const EVENT_KEY = "ek_SuperSecretEventKey_7f3a91";
const API_KEY = "ak_SuperSecretApiKey_c0ffee42";
const SECRET_DATA = "payload-secret-4b1d-e55e";

describe("evt-gateway start: logs, metrics, keys (built binary)", () => {
  let gw: RunningGateway;
  const dataDir = tempDir();

  beforeAll(async () => {
    gw = await startGatewayProcess(
      ["start", "--port", "0", "--data-dir", dataDir, "--log-level", "trace"],
      { EVT_EVENT_KEYS: EVENT_KEY, EVT_API_KEYS: API_KEY },
    );
  });
  afterAll(() => stopProcess(gw, "SIGTERM"));

  it("prints one start line with the URL, mode and drivers", () => {
    const line = gw
      .stdout()
      .split("\n")
      .find((l) => l.startsWith("evt-gateway "));
    expect(line).toBe(
      `evt-gateway start listening on ${gw.url} (dedup: sqlite, store: sqlite, runs: sqlite, data: ${dataDir}, SQLite ${availableParallelism() > 1 ? "in a worker thread" : "on the HTTP thread"})`,
    );
  });

  it("creates the one SQLite file in the data dir", () => {
    expect(existsSync(join(dataDir, "evt.sqlite"))).toBe(true);
    expect(existsSync(join(dataDir, "dedup.sqlite"))).toBe(false);
    expect(existsSync(join(dataDir, "events.sqlite"))).toBe(false);
  });

  it("accepts the configured key, refuses others, and never logs keys or event data", async () => {
    const ok = await sendEvents(
      gw.url,
      EVENT_KEY,
      [{ name: "app/secret.checked", data: { token: SECRET_DATA } }],
      { "x-request-id": "req-ops-1" },
    );
    expect(ok.status).toBe(200);
    expect(ok.headers["x-request-id"]).toBe("req-ops-1");
    const id = ok.body.ids![0]!;

    const wrong = await sendEvents(gw.url, "not-the-key", { name: "app/x" });
    expect(wrong.status).toBe(401);

    const read = await httpRequest(`${gw.url}/v1/events/${id}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(read.status).toBe(200);
    expect(read.body).toContain(SECRET_DATA);

    const badRead = await httpRequest(`${gw.url}/v1/events/${id}`, {
      headers: { authorization: `Bearer ${EVENT_KEY}` },
    });
    expect(badRead.status).toBe(401);

    // Let the access log lines of these requests reach the pipe.
    await new Promise((r) => setTimeout(r, 200));
    const logs = gw.stdout() + gw.stderr();
    expect(logs).toContain('"requestId":"req-ops-1"');
    expect(logs).toContain('"route":"/e/:eventKey"');
    expect(logs).not.toContain(EVENT_KEY);
    expect(logs).not.toContain(API_KEY);
    expect(logs).not.toContain(SECRET_DATA);
    expect(logs).not.toContain("not-the-key");
  });

  it("replaces an unsafe x-request-id with a generated one", async () => {
    const res = await sendEvents(
      gw.url,
      EVENT_KEY,
      { name: "app/x" },
      {
        "x-request-id": "bad id with spaces",
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("serves Prometheus metrics behind the API key", async () => {
    const denied = await httpRequest(`${gw.url}/metrics`);
    expect(denied.status).toBe(401);

    await sendEvents(gw.url, EVENT_KEY, [
      { name: "app/m", id: "metrics-dup-1" },
      { name: "app/m", id: "metrics-dup-1" },
    ]);
    await httpRequest(`${gw.url}/e/${EVENT_KEY}`, { method: "POST", body: "{not json" });

    const res = await httpRequest(`${gw.url}/metrics`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const text = res.body;
    expect(text).toMatch(/^evt_events_accepted_total [1-9]\d*$/m);
    expect(text).toMatch(/^evt_events_duplicate_total [1-9]\d*$/m);
    expect(text).toMatch(/^evt_requests_rejected_total\{reason="unauthorized"\} [1-9]/m);
    expect(text).toMatch(/^evt_requests_rejected_total\{reason="invalid_json"\} 1$/m);
    expect(text).toMatch(
      /^evt_http_request_duration_seconds_count\{route="\/e\/:eventKey",method="POST",status="200"\} \d+/m,
    );
    expect(text).toMatch(/^evt_dedup_duration_seconds_count [1-9]/m);
    expect(text).toMatch(/^evt_store_duration_seconds_count [1-9]/m);
    expect(text).toMatch(/^evt_http_requests_in_flight 1$/m); // this very request
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).not.toContain(EVENT_KEY);
  });

  it("answers /health and /ready", async () => {
    expect((await httpRequest(`${gw.url}/health`)).body).toBe('{"status":200,"message":"OK"}');
    expect((await httpRequest(`${gw.url}/ready`)).status).toBe(200);
  });
});

describe("evt-gateway dev", () => {
  it("accepts any key, keeps reads open and warns at start", async () => {
    const gw = await startGatewayProcess([
      "dev",
      "--port",
      "0",
      "--dedup",
      "memory",
      "--store",
      "memory",
    ]);
    try {
      expect(gw.stdout()).toContain("evt-gateway dev listening on http://127.0.0.1:");
      expect(gw.stdout()).toContain("(dedup: memory, store: memory, runs: memory)");
      expect(gw.stdout()).toMatch(/"level":40.*any event key is accepted/);
      const res = await sendEvents(gw.url, "whatever", { name: "app/dev" });
      expect(res.status).toBe(200);
      const read = await httpRequest(`${gw.url}/v1/events/${res.body.ids![0]}`);
      expect(read.status).toBe(200);
      expect((await httpRequest(`${gw.url}/metrics`)).status).toBe(200);
    } finally {
      await stopProcess(gw, "SIGTERM");
    }
  });
});

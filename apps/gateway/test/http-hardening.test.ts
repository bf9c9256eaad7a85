import { connect } from "node:net";
import { Writable } from "node:stream";
import { createMemoryStore } from "@evt/dedup";
import { createMemoryEventStore } from "@evt/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type Gateway, startGateway } from "../src/index";
import { httpRequest, waitFor } from "./helpers";

const EVENT_KEY = "ev-key-hardening";
const API_KEY = "read-key-hardening";

describe("one bearer parser and one key comparison for every route", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({
      mode: "start",
      port: 0,
      dedup: "memory",
      store: "memory",
      eventKeys: [EVENT_KEY],
      apiKeys: [API_KEY],
      logLevel: "silent",
    });
  });
  afterAll(() => gw.close());

  const headers = [
    `Bearer ${API_KEY}`,
    `bearer ${API_KEY}`,
    `Bearer  ${API_KEY}`,
    `Bearer ${API_KEY} `,
    `Bearer\t${API_KEY}`,
    `Bearer ${API_KEY} extra`,
    `Basic ${API_KEY}`,
    API_KEY,
    "Bearer ",
    `Bearer ${API_KEY.slice(0, -1)}`,
  ];

  it.each(headers)("Authorization %j: /metrics answers as GET /v1/events does", async (auth) => {
    const read = await httpRequest(`${gw.url}/v1/events`, { headers: { authorization: auth } });
    const metrics = await httpRequest(`${gw.url}/metrics`, { headers: { authorization: auth } });
    expect([200, 401]).toContain(read.status);
    expect(metrics.status).toBe(read.status);
  });
});

/** Sends raw bytes on one connection; resolves with everything the server sent back. */
function rawRequest(url: string, text: string, endAfterMs?: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(text);
      if (endAfterMs !== undefined) setTimeout(() => socket.destroy(), endAfterMs);
    });
    let out = "";
    socket.on("data", (c: Buffer) => {
      out += c.toString();
    });
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
  });
}

describe("access and readiness log lines", () => {
  let gw: Gateway;
  const lines: string[] = [];
  let failPing = false;
  const records = () =>
    lines
      .join("")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const dedup = createMemoryStore();
    const ping = dedup.ping.bind(dedup);
    dedup.ping = () => (failPing ? Promise.reject(new Error("disk is full")) : ping());
    gw = await startGateway({
      mode: "dev",
      port: 0,
      logger: createLogger({ level: "debug", destination }),
      stores: { dedup, store: createMemoryEventStore() },
    });
  });
  afterAll(() => gw.close());

  it("an aborted request is logged without a status (not the 200 nothing sent)", async () => {
    await rawRequest(
      gw.url,
      "POST /e/secret-key HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n{",
      100,
    );
    expect(await waitFor(() => records().some((r) => r.aborted === true), 5_000)).toBe(true);
    const line = records().find((r) => r.aborted === true)!;
    expect(line).toMatchObject({ route: "/e/:eventKey", method: "POST", status: null, level: 30 });
    expect(line.msg).toBe("connection closed before the answer was sent");
    expect(lines.join("")).not.toContain("secret-key");
  });

  it("an absolute-form target is logged by its route and /metrics is served on it", async () => {
    const { host } = new URL(gw.url);
    const body = '{"name":"app/absolute"}';
    const answer = await rawRequest(
      gw.url,
      `POST http://${host}/e/secret-key HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    const metrics = await rawRequest(
      gw.url,
      `GET http://${host}/metrics HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`,
    );
    expect(metrics).toMatch(/^HTTP\/1\.1 200/);
    expect(metrics).toContain("evt_events_accepted_total");
    const routes = records()
      .filter((r) => r.msg === "request")
      .map((r) => r.route);
    expect(routes).toEqual(expect.arrayContaining(["/e/:eventKey", "/metrics"]));
    expect(routes).not.toContain("unknown");
    expect(lines.join("")).not.toContain("secret-key");
  });

  it("a failed readiness check logs the store's error, not {}", async () => {
    failPing = true;
    try {
      const res = await httpRequest(`${gw.url}/ready`);
      expect(res.status).toBe(503);
    } finally {
      failPing = false;
    }
    const line = records().find((r) => r.msg === "readiness check failed");
    expect(line?.dedupErr).toMatchObject({ type: "Error", message: "disk is full" });
    expect(line?.storeErr).toBeUndefined();
  });

  it("a refusal (4xx) logs at debug, not info", async () => {
    const res = await httpRequest(`${gw.url}/nowhere`);
    expect(res.status).toBe(404);
    const line = records().find((r) => r.msg === "request refused");
    expect(line).toMatchObject({ route: "unknown", status: 404, level: 20 });
  });
});

describe("Host check (DNS rebinding)", () => {
  const gateways: Gateway[] = [];
  afterAll(() => Promise.all(gateways.map((g) => g.close())));

  async function start(options: Parameters<typeof startGateway>[0]) {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const gw = await startGateway({
      port: 0,
      dedup: "memory",
      store: "memory",
      logger: createLogger({ level: "warn", destination }),
      ...options,
    });
    gateways.push(gw);
    const warnings = () =>
      lines
        .join("")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
    return { gw, warnings };
  }
  const withHost = (url: string, host: string) => httpRequest(url, { headers: { host } });

  it("dev on 127.0.0.1: Host evil.example gets 421 on every route, loopback names are served", async () => {
    const { gw } = await start({ mode: "dev" });
    const port = new URL(gw.url).port;
    for (const path of ["/health", "/v1/events", "/metrics"]) {
      const res = await withHost(`${gw.url}${path}`, `evil.example:${port}`);
      expect(res.status, path).toBe(421);
      expect(JSON.parse(res.body).error).toContain('Host "evil.example:');
    }
    for (const host of ["localhost", `127.0.0.1:${port}`, "[::1]:1"]) {
      expect((await withHost(`${gw.url}/health`, host)).status, host).toBe(200);
    }
  });

  it("--allowed-hosts adds names", async () => {
    const { gw } = await start({ mode: "dev", allowedHosts: ["evt.test"] });
    expect((await withHost(`${gw.url}/health`, "evt.test:8288")).status).toBe(200);
    expect((await withHost(`${gw.url}/health`, "evil.example")).status).toBe(421);
  });

  it("dev on 0.0.0.0: loopback names only, and two loud warnings", async () => {
    const { gw, warnings } = await start({ mode: "dev", host: "0.0.0.0" });
    const url = gw.url.replace("0.0.0.0", "127.0.0.1");
    expect((await withHost(`${url}/health`, "evil.example")).status).toBe(421);
    expect((await withHost(`${url}/health`, "localhost")).status).toBe(200);
    expect(warnings()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^DEVELOPMENT MODE ON A NON-LOOPBACK INTERFACE \(0\.0\.0\.0\)/),
        expect.stringMatching(/^listening on every interface \(0\.0\.0\.0\) in development mode/),
      ]),
    );
  });

  it("start on 0.0.0.0 without --allowed-hosts: any Host, with a warning", async () => {
    const { gw, warnings } = await start({
      mode: "start",
      host: "0.0.0.0",
      eventKeys: [EVENT_KEY],
      apiKeys: [API_KEY],
    });
    const url = gw.url.replace("0.0.0.0", "127.0.0.1");
    expect((await withHost(`${url}/health`, "evt-gateway-1:8288")).status).toBe(200);
    expect(warnings()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/without --allowed-hosts: any Host header is served/),
      ]),
    );
  });

  it("start on 0.0.0.0 with --allowed-hosts: those and loopback only", async () => {
    const { gw } = await start({
      mode: "start",
      host: "0.0.0.0",
      eventKeys: [EVENT_KEY],
      apiKeys: [API_KEY],
      allowedHosts: ["evt.example.com"],
    });
    const url = gw.url.replace("0.0.0.0", "127.0.0.1");
    expect((await withHost(`${url}/health`, "evt.example.com")).status).toBe(200);
    expect((await withHost(`${url}/health`, "127.0.0.1")).status).toBe(200);
    expect((await withHost(`${url}/health`, "evil.example")).status).toBe(421);
  });
});

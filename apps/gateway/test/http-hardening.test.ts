import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "../src/index";
import { httpRequest } from "./helpers";

const EVENT_KEY = "ev-key-hardening";
const API_KEY = "read-key-hardening";

function captureLogger(level = "trace") {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level }, stream);
  return {
    logger,
    records: () =>
      lines
        .join("")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

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

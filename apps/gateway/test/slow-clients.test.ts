import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  sleep,
  startGatewayProcess,
  stopProcess,
} from "./helpers";

const KEY = "slow-clients-key";
let gw: RunningGateway | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await stopProcess(gw);
  gw = undefined;
});

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/** Opens a connection that sends `head` and then nothing more, counting the bytes it gets back. */
function slowConnection(port: number, head: string) {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  const state = { answered: "", closed: false };
  socket.on("data", (d) => {
    state.answered += d.toString();
  });
  socket.on("close", () => {
    state.closed = true;
  });
  socket.on("error", () => {});
  socket.write(head);
  return state;
}

describe("hostile clients without a key (built binary)", () => {
  it("600 slow keyless uploads and a pipelining connection do not stop real ingest or the probes", {
    timeout: 60_000,
  }, async () => {
    gw = await startGatewayProcess([
      "start",
      "--port",
      "0",
      "--dedup",
      "memory",
      "--store",
      "memory",
      "--event-key",
      KEY,
      "--public-reads",
      "--log-level",
      "warn",
    ]);
    const port = Number(new URL(gw.url).port);
    const slow = [];
    for (let i = 0; i < 600; i++) {
      // headers and one byte of a 100 KB body, with a key the gateway does not know
      slow.push(
        slowConnection(
          port,
          `POST /e/not-a-key-${i} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`,
        ),
      );
    }
    // one connection pipelining 200 requests with a bad key
    const pipelined = slowConnection(
      port,
      `POST /e/nope HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`.repeat(
        200,
      ),
    );
    await sleep(500);
    for (let i = 0; i < 10; i++) {
      const res = await sendEvents(gw.url, KEY, { name: "app/real", data: { i } });
      expect(res.status).toBe(200);
    }
    expect((await httpRequest(`${gw.url}/health`)).status).toBe(200);
    expect((await httpRequest(`${gw.url}/ready`)).status).toBe(200);
    // every keyless upload was answered 401 and its connection closed, body unread
    for (let i = 0; i < 50 && slow.some((s) => !s.closed); i++) await sleep(100);
    expect(slow.filter((s) => s.answered.startsWith("HTTP/1.1 401")).length).toBe(600);
    expect(slow.every((s) => s.closed)).toBe(true);
    expect(pipelined.answered.startsWith("HTTP/1.1 401")).toBe(true);
    expect(pipelined.closed).toBe(true);
  });

  it("30 keyless uploads of 64 MB are refused without buffering them", {
    timeout: 60_000,
  }, async () => {
    gw = await startGatewayProcess([
      "start",
      "--port",
      "0",
      "--dedup",
      "memory",
      "--store",
      "memory",
      "--event-key",
      KEY,
      "--public-reads",
      "--max-request-bytes",
      "64mb",
      "--log-level",
      "warn",
    ]);
    const port = Number(new URL(gw.url).port);
    const before = rssKb(gw.proc.pid!);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const uploads = Array.from({ length: 30 }, (_, i) => {
      const s = slowConnection(
        port,
        `POST /e/not-a-key-${i} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n`,
      );
      return s;
    });
    // push 8 MB on each connection while it is open (the server should have closed it)
    for (let mb = 0; mb < 8; mb++) {
      for (const [i, s] of uploads.entries()) if (!s.closed) sockets[i]!.write(chunk);
      await sleep(20);
    }
    for (let i = 0; i < 150 && uploads.some((s) => !s.closed); i++) await sleep(100);
    const grown = rssKb(gw.proc.pid!) - before;
    // The server answered 401 and closed each connection with the body unread. (A client that
    // keeps writing into a closed connection may see a reset that discards the answer.)
    const status = "HTTP/1.1 401";
    expect(uploads.filter((s) => !s.closed).length, "connections left open").toBe(0);
    expect(uploads.some((s) => s.answered.startsWith(status))).toBe(true);
    const other = uploads
      .map((s) => s.answered.slice(0, status.length))
      .filter((a) => a !== "" && !status.startsWith(a));
    expect(other, "answers other than 401").toEqual([]);
    // 30 x 8 MB = 240 MB were pushed; buffering them would show here
    expect(grown, "RSS growth in KiB").toBeLessThan(100 * 1024);
  });
});

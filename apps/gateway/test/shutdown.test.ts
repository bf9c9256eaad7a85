import { request } from "node:http";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { sleep, startGatewayProcess, stopProcess, tempDir } from "./helpers";

type Outcome =
  | { kind: "ok"; ids: string[] }
  | { kind: "unavailable" }
  | { kind: "refused"; code: string }
  | { kind: "broken"; detail: string };

/**
 * One POST on its own connection. `refused`: the connection failed before any byte of an
 * answer (the request was not acknowledged). `broken`: an answer started and was cut, or an
 * answer other than 200/503.
 */
function post(url: string, events: unknown[]): Promise<Outcome> {
  return new Promise((resolve) => {
    let answered = false;
    const req = request(
      `${url}/e/dev-key`,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", connection: "close" },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("aborted", () =>
          resolve({ kind: "broken", detail: `answer ${res.statusCode} cut mid-body` }),
        );
        res.on("error", (e) => resolve({ kind: "broken", detail: `answer cut: ${e.message}` }));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode === 200)
            resolve({ kind: "ok", ids: (JSON.parse(text) as { ids: string[] }).ids });
          else if (res.statusCode === 503 && res.headers["retry-after"])
            resolve({ kind: "unavailable" });
          else resolve({ kind: "broken", detail: `status ${res.statusCode}: ${text}` });
        });
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (answered) resolve({ kind: "broken", detail: `after answer: ${err.code}` });
      else resolve({ kind: "refused", code: err.code ?? err.message });
    });
    req.end(JSON.stringify(events));
  });
}

describe("graceful shutdown (SIGTERM)", () => {
  it("answers every request and loses no acknowledged event", { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const args = ["dev", "--port", "0", "--data-dir", dataDir, "--log-level", "warn"];
    const gw = await startGatewayProcess(args);
    const outcomes: Outcome[] = [];
    let signalledAt = Number.POSITIVE_INFINITY;
    let answeredAfterSignal = 0;
    let exited = false;
    let seq = 0;
    const senders = Array.from({ length: 6 }, async () => {
      // Keep sending until well after the process is gone.
      let afterExit = 0;
      while (afterExit < 5) {
        if (exited) afterExit++;
        const events = Array.from({ length: 20 }, () => ({
          name: "test/shutdown",
          data: { n: seq++ },
        }));
        const outcome = await post(gw.url, events);
        outcomes.push(outcome);
        if (Date.now() > signalledAt && (outcome.kind === "ok" || outcome.kind === "unavailable")) {
          answeredAfterSignal++;
        }
      }
    });
    await sleep(1200);
    signalledAt = Date.now();
    gw.proc.kill("SIGTERM");
    const exit = await gw.exited;
    exited = true;
    await Promise.all(senders);

    expect(exit).toEqual({ code: 0, signal: null });
    // Requests in flight when the signal came were answered, not dropped.
    expect(answeredAfterSignal).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.kind === "broken")).toEqual([]);
    const refusedCodes = new Set(outcomes.flatMap((o) => (o.kind === "refused" ? [o.code] : [])));
    // Refused before any answer byte: the port was closed (or, rarely, the connection was
    // still in the kernel's accept queue when the listener closed).
    for (const code of refusedCodes) expect(["ECONNREFUSED", "ECONNRESET"]).toContain(code);
    expect(outcomes.some((o) => o.kind === "refused")).toBe(true);
    const acked = outcomes.flatMap((o) => (o.kind === "ok" ? o.ids : []));
    expect(acked.length).toBeGreaterThan(0);

    const again = await startGatewayProcess(args);
    try {
      const missing: string[] = [];
      for (const id of acked) {
        const res = await fetch(`${again.url}/v1/events/${id}`);
        await res.text();
        if (res.status !== 200) missing.push(id);
      }
      expect(missing).toEqual([]);
    } finally {
      await stopProcess(again, "SIGTERM");
    }
  });

  it("exits 1 with a log line when a request outlives --shutdown-timeout", {
    timeout: 30_000,
  }, async () => {
    const gw = await startGatewayProcess([
      "dev",
      "--port",
      "0",
      "--dedup",
      "memory",
      "--store",
      "memory",
      "--shutdown-timeout",
      "500ms",
    ]);
    const { port } = new URL(gw.url);
    // A request whose body never finishes keeps the gateway busy.
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      "POST /e/k HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    );
    socket.on("error", () => {});
    await sleep(300);
    gw.proc.kill("SIGTERM");
    const exit = await gw.exited;
    socket.destroy();
    expect(exit.code).toBe(1);
    expect(gw.stdout()).toContain("shutdown did not finish within --shutdown-timeout");
  });

  it("exits 0 on SIGINT when idle", { timeout: 30_000 }, async () => {
    const gw = await startGatewayProcess([
      "dev",
      "--port",
      "0",
      "--dedup",
      "memory",
      "--store",
      "memory",
    ]);
    gw.proc.kill("SIGINT");
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    await stopProcess(gw);
  });
});

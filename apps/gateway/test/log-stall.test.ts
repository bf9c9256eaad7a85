import { Agent, request } from "node:http";
import { describe, expect, it } from "vitest";
import { httpRequest, type RunningGateway, startGatewayProcess, stopProcess } from "./helpers";

const API_KEY = "read-key-stall";

/** POST a refused request (unknown event key) on a keep-alive agent; resolves with the status or the error code. */
function refused(url: string, agent: Agent): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      `${url}/e/not-a-key`,
      { method: "POST", agent, timeout: 5_000, headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", () => resolve("response error"));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end('{"name":"app/refused"}');
  });
}

describe("a stalled log reader (built binary)", () => {
  it("does not freeze the process: refusals keep being answered, overflow is counted, SIGTERM exits 0", {
    timeout: 60_000,
  }, async () => {
    let gw: RunningGateway | undefined;
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      gw = await startGatewayProcess([
        "start",
        "--port",
        "0",
        "--dedup",
        "memory",
        "--store",
        "memory",
        "--event-key",
        "k-stall",
        "--api-key",
        API_KEY,
        // Every refusal is a log line, so 4,000 of them overflow the pipe many times.
        "--log-level",
        "debug",
        "--log-buffer",
        "64kb",
      ]);
      // From now on nobody reads stdout: the pipe (64 KiB) fills and stays full.
      gw.proc.stdout!.pause();

      const statuses = new Map<number | string, number>();
      const url = gw.url;
      let next = 0;
      const worker = async () => {
        while (next < 4_000) {
          next++;
          const s = await refused(url, agent);
          statuses.set(s, (statuses.get(s) ?? 0) + 1);
          // A frozen process answers nothing more: stop at the first request it did not answer.
          if (s !== 401) next = 4_000;
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      expect(Object.fromEntries(statuses)).toEqual({ 401: 4_000 });

      const metrics = await httpRequest(`${url}/metrics`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      expect(metrics.status).toBe(200);
      const dropped = Number(/^evt_log_lines_dropped_total (\d+)$/m.exec(metrics.body)?.[1]);
      expect(dropped).toBeGreaterThan(0);
      const rejected = /^evt_requests_rejected_total\{reason="unauthorized"\} (\d+)$/m.exec(
        metrics.body,
      )?.[1];
      expect(Number(rejected)).toBe(4_000);

      agent.destroy();
      gw.proc.kill("SIGTERM");
      const exit = await Promise.race([
        gw.exited,
        new Promise<"still running">((r) => setTimeout(() => r("still running"), 5_000)),
      ]);
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
      await stopProcess(gw);
    }
  });
});

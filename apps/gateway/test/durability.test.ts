import { describe, expect, it } from "vitest";
import {
  type RunningGateway,
  sendEvents,
  sleep,
  startGatewayProcess,
  stopProcess,
  tempDir,
} from "./helpers";

/** Sends batches from `senders` loops until `stop()`; records every id acknowledged with 200. */
function load(url: string, senders: number, tag: string) {
  const acked = new Map<string, string>(); // internal id -> the sender's dedup id
  let running = true;
  let seq = 0;
  const loops = Array.from({ length: senders }, async (_, s) => {
    while (running) {
      const size = 1 + (seq % 5);
      const events = Array.from({ length: size }, () => {
        seq++;
        return { name: "test/durability", id: `${tag}-${s}-${seq}`, data: { seq } };
      });
      try {
        const res = await sendEvents(url, "dev-key", events);
        if (res.status === 200) {
          for (const [i, id] of res.body.ids!.entries()) acked.set(id, events[i]!.id);
        }
      } catch {
        // The gateway was killed: this request was never acknowledged.
        await sleep(20);
      }
    }
  });
  return {
    acked,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function missingIds(url: string, ids: string[]): Promise<string[]> {
  const missing: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const res = await fetch(`${url}/v1/events/${id}`);
        await res.text();
        if (res.status !== 200) missing.push(id);
      }
    }),
  );
  return missing;
}

describe.each([
  ["SQLite in worker threads", ["--sqlite-thread", "true"]],
  ["SQLite on the main thread", ["--sqlite-thread", "false"]],
])("durability (SQLite store and dedup, kill -9): %s", (_mode, extra: string[]) => {
  it("keeps every acknowledged event across 3 kills under load", { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    const args = ["dev", "--port", "0", "--data-dir", dataDir, "--log-level", "warn", ...extra];
    const allAcked = new Map<string, string>();
    let gw: RunningGateway | undefined;
    try {
      for (let round = 1; round <= 3; round++) {
        gw = await startGatewayProcess(args);
        // Everything acknowledged before the previous kill is still there.
        expect(await missingIds(gw.url, [...allAcked.keys()])).toEqual([]);

        const traffic = load(gw.url, 4, `r${round}`);
        await sleep(1500);
        gw.proc.kill("SIGKILL");
        await gw.exited;
        await traffic.stop();
        expect(traffic.acked.size).toBeGreaterThan(0);
        for (const [k, v] of traffic.acked) allAcked.set(k, v);
      }

      gw = await startGatewayProcess(args);
      expect(await missingIds(gw.url, [...allAcked.keys()])).toEqual([]);

      // The dedup claims survived too: a retry of an acknowledged event gets its first id.
      const [internalId, dedupId] = [...allAcked.entries()].at(-1)!;
      const retry = await sendEvents(gw.url, "dev-key", { name: "test/durability", id: dedupId });
      expect(retry.body.ids).toEqual([internalId]);
    } finally {
      await stopProcess(gw);
    }
  });
});

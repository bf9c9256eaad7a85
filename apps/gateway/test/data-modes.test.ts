import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SQLITE_FILES } from "../src/drivers";
import { SQLITE_FILE } from "../src/sqlite-file";
import { httpRequest, sendEvents, startGatewayProcess, stopProcess, tempDir } from "./helpers";

const mode = (path: string) => statSync(path).mode & 0o777;

/** The first CPU this process may run on (`Cpus_allowed_list` of /proc/self/status). */
function firstCpu(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  const list = /Cpus_allowed_list:\s*(\d+)/.exec(status);
  return list ? Number(list[1]) : 0;
}

describe("the data folder and SQLite files are private to the gateway's user", () => {
  it.each([
    ["worker threads", ["--sqlite-thread", "true"]],
    ["main thread", ["--sqlite-thread", "false"]],
  ])("folder 0700, files 0600, SQLite on %s", { timeout: 30_000 }, async (_how, extra) => {
    const dataDir = join(tempDir(), "data");
    const gw = await startGatewayProcess([
      "dev",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
      ...extra,
    ]);
    try {
      expect((await sendEvents(gw.url, "k", { name: "app/private" })).status).toBe(200);
      expect(mode(dataDir)).toBe(0o700);
      for (const name of [SQLITE_FILE]) {
        const path = join(dataDir, name);
        expect(mode(path), name).toBe(0o600);
        for (const side of [`${path}-wal`, `${path}-shm`]) {
          if (existsSync(side)) expect(mode(side), side).toBe(0o600);
        }
      }
      expect(existsSync(join(dataDir, `${SQLITE_FILE}-wal`))).toBe(true);
    } finally {
      await stopProcess(gw, "SIGTERM");
    }
  });

  it("by default keeps SQLite on the HTTP thread when the gateway may use one CPU, in a worker when more", {
    timeout: 30_000,
  }, async () => {
    const cpus = availableParallelism();
    const pinned = await startGatewayProcess(
      ["dev", "--port", "0", "--data-dir", join(tempDir(), "data"), "--log-level", "warn"],
      {},
      ["taskset", "-c", String(firstCpu())],
    );
    try {
      expect(pinned.stdout()).toContain("SQLite on the HTTP thread");
      const sent = await sendEvents(pinned.url, "k", [
        { name: "app/one", id: "o-1" },
        { name: "app/one", id: "o-1" },
      ]);
      expect(sent.status).toBe(200);
      // One request, both events claimed in one part of the commit: the second is its duplicate.
      expect(sent.body.ids?.[1]).toBe(sent.body.ids?.[0]);
      // The store step's times still reach the metrics from the HTTP thread.
      const metrics = (await httpRequest(`${pinned.url}/metrics`)).body;
      expect(metrics).toMatch(/^evt_dedup_duration_seconds_count [1-9]/m);
      expect(metrics).toMatch(/^evt_store_duration_seconds_count [1-9]/m);
      expect(metrics).toMatch(/^evt_events_duplicate_total 1$/m);
    } finally {
      await stopProcess(pinned, "SIGTERM");
    }
    const free = await startGatewayProcess([
      "dev",
      "--port",
      "0",
      "--data-dir",
      join(tempDir(), "data"),
      "--log-level",
      "warn",
    ]);
    try {
      expect(free.stdout()).toContain(
        cpus > 1 ? "SQLite in a worker thread" : "SQLite on the HTTP thread",
      );
    } finally {
      await stopProcess(free, "SIGTERM");
    }
  });

  it("tightens SQLite files that exist with group or other permissions", {
    timeout: 30_000,
  }, async () => {
    const dataDir = tempDir();
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, SQLITE_FILES.dedup);
    writeFileSync(path, "");
    chmodSync(path, 0o664);
    const gw = await startGatewayProcess(["dev", "--port", "0", "--data-dir", dataDir]);
    try {
      expect(mode(path)).toBe(0o600);
    } finally {
      await stopProcess(gw, "SIGTERM");
    }
  });
});

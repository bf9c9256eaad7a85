import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SQLITE_FILES } from "../src/drivers";
import { SQLITE_FILE } from "../src/sqlite-file";
import { sendEvents, startGatewayProcess, stopProcess, tempDir } from "./helpers";

const mode = (path: string) => statSync(path).mode & 0o777;

describe("the data folder and SQLite files are private to the gateway's user", () => {
  it.each([
    ["worker threads (default)", []],
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

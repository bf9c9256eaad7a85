import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SQLITE_FILES } from "../src/drivers";
import { runCli, tempDir } from "./helpers";

// A data folder holding a file that is not a SQLite database must stop the start with one line
// that names the store, the file and the problem, whichever thread runs SQLite.
describe.each([
  ["worker threads (default)", []],
  ["main thread", ["--sqlite-thread", "false"]],
])("a broken SQLite file at start, SQLite on %s", (_mode, extra: string[]) => {
  it.each([
    ["dedup", SQLITE_FILES.dedup],
    ["event", SQLITE_FILES.store],
  ])("stops with exit 1 when the %s store's file is not a database", async (which, file) => {
    const dataDir = tempDir();
    const path = join(dataDir, file);
    writeFileSync(path, "this is not a SQLite database, it is a text file".repeat(200));
    const { code, stderr } = await runCli([
      "dev",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--log-level",
      "silent",
      ...extra,
    ]);
    expect(code).toBe(1);
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${which} store cannot start`);
    expect(lines[0]).toContain(path);
    expect(lines[0]).toContain("file is not a database");
  });

  it.each([
    ["dedup", SQLITE_FILES.dedup],
    ["event", SQLITE_FILES.store],
  ])(
    "stops with exit 1 when the %s store's file cannot be opened (a folder)",
    async (which, file) => {
      const dataDir = tempDir();
      const path = join(dataDir, file);
      mkdirSync(path);
      const { code, stderr } = await runCli([
        "dev",
        "--port",
        "0",
        "--data-dir",
        dataDir,
        "--log-level",
        "silent",
        ...extra,
      ]);
      expect(code).toBe(1);
      const lines = stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${which} store cannot start`);
      expect(lines[0]).toContain(path);
      expect(lines[0]).toContain("SQLITE_CANTOPEN");
    },
  );
});

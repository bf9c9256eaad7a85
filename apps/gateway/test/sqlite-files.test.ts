import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SQLITE_FILES } from "../src/drivers";
import { SQLITE_FILE } from "../src/sqlite-file";
import { runCli, tempDir } from "./helpers";

// A data folder holding a SQLite file that is broken or cannot be opened must stop the start with
// one line that names the store, the file and the problem, whichever thread runs SQLite.
/** Ways to spoil a SQLite file, and what the start error must then say. */
const SPOILED: [string, (path: string) => void, string][] = [
  [
    "is not a database",
    (path) => writeFileSync(path, "this is not a SQLite database, it is a text file".repeat(200)),
    "file is not a database",
  ],
  ["cannot be opened (a folder)", (path) => mkdirSync(path), "SQLITE_CANTOPEN"],
];

describe.each([
  ["worker threads", ["--sqlite-thread", "true"]],
  ["main thread", ["--sqlite-thread", "false"]],
])("a broken SQLite file at start, SQLite on %s", (_mode, extra: string[]) => {
  describe.each(SPOILED)("when the file %s", (_how, spoil, problem) => {
    it.each([
      ["dedup", SQLITE_FILES.dedup],
      ["event", SQLITE_FILES.store],
      // The one file of a new data folder: the first store to open it reports it.
      ["dedup", SQLITE_FILE],
    ])("the %s store stops the start with exit 1 and one line", async (which, file) => {
      const dataDir = tempDir();
      const path = join(dataDir, file);
      spoil(path);
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
      expect(lines[0]).toContain(problem);
    });
  });
});

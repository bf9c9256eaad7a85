import { execFile, spawnSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../project.ts";

// Code a user pastes into examples/ or a git-ignored scratch/ folder must not fail `npm test`
// on lint; and when lint (or another step before the tests) fails, the closing line says so
// instead of counting a failed test.
const run = promisify(execFile);
const BAD = "var unused = 1;\nif (unused == 2) {\n  debugger;\n}\n";
const probes = [`scratch/lint-probe-${process.pid}.mjs`, `examples/lint-probe-${process.pid}.mjs`];
const control = `scripts/consumer/lint-probe-${process.pid}.mjs`;

async function biome(...paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await run(join(ROOT, "node_modules", ".bin", "biome"), ["lint", ...paths], {
      cwd: ROOT,
    });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

afterAll(async () => {
  for (const file of [...probes, control]) await rm(join(ROOT, file), { force: true });
});

describe("npm test and code a user tries out", () => {
  it("biome leaves examples/ and scratch/ alone, and lints the same code elsewhere", async () => {
    await mkdir(join(ROOT, "scratch"), { recursive: true });
    for (const file of [...probes, control]) await writeFile(join(ROOT, file), BAD);
    const elsewhere = await biome(control);
    expect(elsewhere.code, elsewhere.output).not.toBe(0);
    expect(elsewhere.output).toContain("lint/suspicious/noDebugger");
    const ignored = await biome(...probes);
    expect(ignored.output).not.toContain("lint/");
    for (const file of probes) expect(ignored.output).toContain(file);
    expect(ignored.output).toContain("ignored");
  });

  it("closes with the step that failed, not a failed test, when lint fails before the tests", () => {
    // What scripts/test.sh runs when its biome step fails (no vitest results were written).
    const step = "sh scripts/pnpm.sh exec biome check .";
    const missing = join(ROOT, "scratch", `no-results-${process.pid}.json`);
    const r = spawnSync(process.execPath, ["scripts/summary.mjs", missing, step], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stdout.trim()).toBe(`0 passed, 0 failed; step failed: ${step}`);
  });
});

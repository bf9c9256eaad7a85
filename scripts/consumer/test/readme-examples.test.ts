import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  EXAMPLES,
  firstCodeExample,
  PACKAGE_READMES,
  readmeExamples,
  TESTED_ELSEWHERE,
} from "../examples.ts";
import { ROOT } from "../project.ts";

// The READMEs show their examples verbatim; the consumer test runs the files. This keeps the two
// the same text, so what a reader pastes is what was run.
const READMES = [...new Set(["README.md", "apps/gateway/README.md", ...PACKAGE_READMES])];
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "node_modules") return [];
    const path = `${dir}/${entry.name}`;
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

describe("the READMEs' examples", () => {
  it("are shown exactly as the files under examples/ that the consumer test runs", () => {
    const shown: string[] = [];
    for (const readme of READMES) {
      for (const { file, code } of readmeExamples(read(readme))) {
        shown.push(`${readme} -> ${file}`);
        expect(code, `${readme}: no code block right after <!-- example: ${file} -->`).not.toBe(
          null,
        );
        expect(
          code,
          `${readme} shows another text than ${file}: copy the file into the README (or the README's block into the file)`,
        ).toBe(read(file));
      }
    }
    const expected = EXAMPLES.flatMap((e) => e.readmes.map((readme) => `${readme} -> ${e.file}`));
    expect(shown.sort()).toEqual(expected.sort());
  });

  it("come first in each package README", () => {
    for (const readme of PACKAGE_READMES) {
      const text = read(readme);
      const first = firstCodeExample(text);
      expect(first, `${readme} has no code example`).toBeGreaterThan(0);
      const before = text.slice(0, first);
      expect(before, `${readme}: its first code example is not an examples/ file`).toMatch(
        /<!-- example: \S+ -->\n$/,
      );
    }
  });

  it("are every script under examples/, and none listens on the gateway's port 8288", () => {
    // (lint-probe-<pid> files are scratch-lint.test.ts's, there for a moment)
    const scripts = filesUnder("examples").filter(
      (f) => /\.(m|c)?[jt]s$/.test(f) && !/\/lint-probe-\d+\./.test(f),
    );
    const known = [...EXAMPLES.map((e) => e.file), ...Object.keys(TESTED_ELSEWHERE)];
    expect(scripts.sort()).toEqual(known.sort());
    for (const file of scripts) {
      expect(read(file), `${file} would collide with npm start's gateway`).not.toMatch(
        /port:\s*8288|listen\(\s*8288|PORT \?\? 8288/,
      );
    }
    const elsewhere: Record<string, string> = { ...TESTED_ELSEWHERE };
    for (const e of EXAMPLES) if (e.runBy) elsewhere[e.file] = e.runBy;
    for (const [file, test] of Object.entries(elsewhere)) {
      expect(read(test), `${test} runs ${file}`).toContain(file);
    }
  });
});

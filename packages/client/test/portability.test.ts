import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const srcDir = fileURLToPath(new URL("../src/", import.meta.url));

describe("the main entry runs in any runtime with fetch", () => {
  const files = readdirSync(srcDir).filter((f) => f.endsWith(".ts"));

  it.each(files)("%s has no Node-only imports or globals", (file) => {
    // Code only: TSDoc may mention process.env in prose.
    const code = readFileSync(srcDir + file, "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    expect(code).not.toMatch(/from\s+["']node:/);
    expect(code).not.toMatch(/from\s+["'](fs|http|https|net|crypto|buffer|events|os|path)["']/);
    expect(code).not.toMatch(/\bBuffer\./);
    expect(code).not.toMatch(/\brequire\(/);
    // process is only reached through globalThis, guarded.
    expect(code.replace(/globalThis as[^)]*\)\.process/g, "")).not.toMatch(/(^|[^.\w#])process\./m);
  });
});

import { defineConfig, type Options } from "tsup";

/**
 * The one tsup setup every package builds with: ESM + CJS + types for each
 * entry, so `exports` can offer `import` and `require` with their own types.
 */
export function packageBuild(entry: Record<string, string> | string[], extra: Options = {}) {
  return defineConfig({
    entry,
    format: ["esm", "cjs"],
    dts: true,
    clean: true,
    sourcemap: true,
    target: "node20",
    splitting: false,
    treeshake: true,
    tsconfig: "tsconfig.build.json",
    ...extra,
  });
}

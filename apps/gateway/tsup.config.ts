import { defineConfig } from "tsup";

// The gateway is an app, not a library: one ESM build of the CLI with a shebang.
export default defineConfig({
  entry: { cli: "src/cli.ts", index: "src/index.ts", "sqlite-worker": "src/sqlite-worker.ts" },
  format: ["esm"],
  dts: false,
  clean: true,
  sourcemap: true,
  target: "node20",
  tsconfig: "tsconfig.build.json",
  banner: { js: "" },
});

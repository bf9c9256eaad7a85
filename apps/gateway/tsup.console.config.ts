import { defineConfig } from "tsup";

// The console page: one small browser script (no framework, no CDN) and its static files,
// built into dist/console/ and served by the gateway at `/`.
export default defineConfig({
  entry: { app: "console/app.ts" },
  outDir: "dist/console",
  format: ["iife"],
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  dts: false,
  clean: false,
  tsconfig: "console/tsconfig.json",
  outExtension: () => ({ js: ".js" }),
  publicDir: "console/public",
});

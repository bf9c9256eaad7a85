import { fileURLToPath } from "node:url";
import { defineProject } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));

/**
 * Per-package vitest project. `@evt/<pkg>` and `@evt/<pkg>/<entry>` resolve to
 * the workspace sources (`packages/<pkg>/src/index.ts`, `src/<entry>.ts`), so
 * tests always run against the code in the tree, built or not.
 */
export function evtProject(name: string, test: Record<string, unknown> = {}) {
  return defineProject({
    resolve: {
      alias: [
        { find: /^@evt\/([a-z-]+)$/, replacement: `${root}packages/$1/src/index.ts` },
        { find: /^@evt\/([a-z-]+)\/([a-z-]+)$/, replacement: `${root}packages/$1/src/$2.ts` },
      ],
    },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 20_000,
      hookTimeout: 30_000,
      // Service-backed suites may retry in CI only; locally a flake must show.
      retry: process.env.CI ? 1 : 0,
      typecheck: { enabled: true, include: ["test/**/*.test-d.ts"] },
      ...test,
    },
  });
}

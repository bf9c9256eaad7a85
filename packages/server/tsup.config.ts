import { packageBuild } from "../../tsup.shared";

// `@evt/server/node` imports the main entry by name, so `ServerError` is one class everywhere.
export default packageBuild(
  { index: "src/index.ts", node: "src/node.ts", fetch: "src/fetch.ts" },
  { external: ["@evt/server"] },
);

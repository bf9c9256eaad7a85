import { packageBuild } from "../../tsup.shared";

export default packageBuild({
  index: "src/index.ts",
  memory: "src/memory.ts",
  sqlite: "src/sqlite.ts",
  postgres: "src/postgres.ts",
  testing: "src/testing.ts",
});

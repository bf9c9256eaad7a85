// zod is not (yet) a devDependency of @evt/client, and the lockfile is frozen while several
// packages are built at once; reach the copy @evt/schema depends on. Replace with `"zod"` once
// the devDependency is added.
export * from "../../../schema/node_modules/zod";

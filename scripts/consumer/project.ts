import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Repository root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Files copied into the consumer project (check.mjs, check.cjs, types.mts, ...), from ROOT. */
export const FIXTURE = "scripts/consumer/fixture";

/** The publishable packages: name -> directory (not @evt/gateway, which is private). */
export const PACKAGES: Record<string, string> = {
  "@evt/schema": "packages/schema",
  "@evt/client": "packages/client",
  "@evt/dedup": "packages/dedup",
  "@evt/store": "packages/store",
  "@evt/server": "packages/server",
  "@evt/triggers": "packages/triggers",
  "@evt/functions": "packages/functions",
  "@evt/webhooks": "packages/webhooks",
};

// npm settings a consumer keeps (registry, cache, certificates, proxies); everything else that
// pnpm/npm put in the environment of this process (npm_config_local_prefix points at the repo!)
// must not reach the npm run in the temp project.
const KEEP =
  /^npm_config_(registry|cache|cafile|userconfig|globalconfig|https?_proxy|proxy|noproxy|strict_ssl)$/i;

/** The environment for commands run in the consumer project. */
export function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_)/i.test(key) && !KEEP.test(key)) continue;
    if (key === "NODE_OPTIONS" || key === "NODE_PATH" || key.startsWith("VITEST")) continue;
    env[key] = value;
  }
  return env;
}

/** Runs a command; on failure throws with its output, so the test says what went wrong. */
export async function sh(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: options.timeoutMs ?? 0,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${file} ${args.join(" ")} failed in ${options.cwd}: ${e.message}\n--- stdout\n${e.stdout ?? ""}\n--- stderr\n${e.stderr ?? ""}`,
    );
  }
}

/** Throws, naming the command to run, when a package has no build output. */
export function assertBuilt(): void {
  const missing = Object.entries(PACKAGES)
    .filter(([, dir]) => !existsSync(join(ROOT, dir, "dist", "index.js")))
    .map(([name, dir]) => `${name} (${dir}/dist)`);
  if (missing.length > 0) {
    throw new Error(
      `the consumer test packs built packages, but these have no dist/: ${missing.join(", ")}. ` +
        `Build first: sh scripts/pnpm.sh exec turbo run build --filter './packages/*' (npm test does it).`,
    );
  }
}

/**
 * `pnpm pack` of every publishable package into `dest` (one pnpm call); returns the tarball
 * path by package name. pnpm rewrites `workspace:^` ranges to the versions in the tree.
 */
export async function packAll(dest: string): Promise<Record<string, string>> {
  await mkdir(dest, { recursive: true });
  const filters = Object.keys(PACKAGES).flatMap((name) => ["--filter", name]);
  const { stdout } = await sh(
    "sh",
    ["scripts/pnpm.sh", ...filters, "pack", "--pack-destination", dest, "--json"],
    { cwd: ROOT },
  );
  const packed = JSON.parse(stdout) as
    | { name: string; filename: string }[]
    | { name: string; filename: string };
  const list = Array.isArray(packed) ? packed : [packed];
  const tarballs: Record<string, string> = {};
  for (const { name, filename } of list) tarballs[name] = filename;
  const files = await readdir(dest);
  if (
    Object.keys(tarballs).length !== Object.keys(PACKAGES).length ||
    files.length !== list.length
  ) {
    throw new Error(`pnpm pack made ${files.join(", ")}; expected one tarball per package`);
  }
  return tarballs;
}

/** The package.json inside a tarball, as packed. */
export async function packedManifest(tarball: string): Promise<Record<string, unknown>> {
  const { stdout } = await sh("tar", ["-xOzf", tarball, "package/package.json"], { cwd: ROOT });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/**
 * A fresh npm project in `dir` with every tarball installed in one `npm install` (so their
 * `@evt/*` dependencies resolve to each other), plus the registry packages in `extra`
 * (`name@range`), then `files` copied in (paths in the repository -> paths in the project).
 */
export async function createConsumer(
  dir: string,
  tarballs: readonly string[],
  options: { extra?: readonly string[]; files?: Record<string, string> } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const env = consumerEnv();
  await sh("npm", ["init", "-y"], { cwd: dir, env });
  await sh(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel=error",
      ...tarballs,
      ...(options.extra ?? []),
    ],
    { cwd: dir, env },
  );
  for (const [from, to] of Object.entries(options.files ?? {})) {
    await mkdir(dirname(join(dir, to)), { recursive: true });
    await cp(join(ROOT, from), join(dir, to), { recursive: true });
  }
}

/** `name@range` of a dependency as the repository pins it (`package.json` at `manifest`). */
export async function pinned(manifest: string, name: string): Promise<string> {
  const json = JSON.parse(await readFile(join(ROOT, manifest), "utf8"));
  const range = json.dependencies?.[name] ?? json.devDependencies?.[name];
  if (typeof range !== "string") throw new Error(`${manifest} does not depend on ${name}`);
  return `${name}@${range}`;
}

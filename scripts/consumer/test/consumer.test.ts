import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLES } from "../examples.ts";
import {
  assertBuilt,
  consumerEnv,
  createConsumer,
  FIXTURE,
  PACKAGES,
  packAll,
  packedManifest,
  pinned,
  ROOT,
  sh,
} from "../project.ts";

// One consumer project for the whole file: pack (one pnpm call) + one npm install of the
// tarballs and @types/node, nothing else (the strict TypeScript check must see no driver library).
let base = "";
let app = "";
let tarballs: Record<string, string> = {};
/** The README examples that run here (the others name the test that runs them). */
const EXAMPLES_HERE = EXAMPLES.filter((e) => !e.runBy);
const timings: Record<string, number> = {};

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - start);
  }
}

beforeAll(async () => {
  assertBuilt();
  base = await mkdtemp(join(tmpdir(), "evt-consumer-"));
  app = join(base, "app");
  tarballs = await timed("pack", () => packAll(join(base, "tarballs")));
  const examples = Object.fromEntries(EXAMPLES_HERE.map((e) => [e.file, e.file]));
  await timed("install", async () =>
    createConsumer(app, Object.values(tarballs), {
      extra: [await pinned("package.json", "@types/node")],
      files: { [FIXTURE]: ".", ...examples },
    }),
  );
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
  // Seen in the vitest output: where the time of this suite goes.
  console.log(`consumer timings (ms): ${JSON.stringify(timings)}`);
});

type Entry = { ok: boolean; file: string; code?: string; message?: string };
type Report = {
  format: string;
  entries: Record<string, Entry>;
  eventSchemaTitle: string;
  /** What fixture/exercise.cjs returns; checked field by field below. */
  results: {
    schema: unknown;
    triggers: unknown;
    server: {
      status: number;
      body: { ids: string[] };
      clientIds: string[];
      dispatched: unknown;
      listStatus: number;
      listed: string[];
    };
    functions: unknown;
  };
};

async function runNode(file: string): Promise<Report> {
  const { stdout } = await timed(file, () =>
    sh(process.execPath, [file], { cwd: app, env: consumerEnv() }),
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Report;
}

function expectReport(report: Report, ext: ".js" | ".cjs") {
  // Every exported entry of every package loads from the installed copy, in this format;
  // only the `testing` entries need their optional peer vitest, which a consumer installs.
  const specs = Object.keys(report.entries);
  expect(specs).toEqual(
    expect.arrayContaining(["@evt/functions/memory", "@evt/store/memory", "@evt/server/node"]),
  );
  for (const name of Object.keys(PACKAGES)) expect(specs).toContain(name);
  for (const [spec, entry] of Object.entries(report.entries)) {
    const file = entry.file.replace(/^file:\/\//, "");
    expect(
      relative(app, file).startsWith(`node_modules/${spec.split("/").slice(0, 2).join("/")}/dist/`),
      spec,
    ).toBe(true);
    expect(file.endsWith(ext), `${spec} resolved to ${file}`).toBe(true);
    if (spec.endsWith("/testing")) {
      expect(entry, spec).toMatchObject({
        ok: false,
        message: expect.stringContaining("'vitest'"),
      });
    } else {
      expect(entry, `${spec}: ${entry.message}`).toMatchObject({ ok: true });
    }
  }
  expect(report.eventSchemaTitle).toBe("evt event payload");

  const { schema, triggers, server, functions } = report.results;
  expect(schema).toEqual({
    goodOk: true,
    goodName: "app/user.signup",
    badOk: false,
    badMessage: expect.stringContaining("(seconds?)"),
  });
  expect(triggers).toEqual({
    match: [{ functionId: "send-welcome", triggerIndex: 0 }],
    noMatch: [],
    wildcard: true,
  });
  expect(server.status).toBe(200);
  expect(server.body).toEqual({
    ids: [expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/)],
    status: 200,
  });
  expect(server.clientIds).toEqual([expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/)]);
  expect(server.dispatched).toEqual([
    { env: "production", internalId: server.body.ids[0], name: "app/user.signup" },
    { env: "production", internalId: server.clientIds[0], name: "app/order.placed" },
  ]);
  expect(server.listStatus).toBe(200);
  expect(server.listed).toEqual(["app/order.placed", "app/user.signup"]);
  expect(functions).toEqual({
    packageName: "@evt/functions",
    created: true,
    status: "queued",
    againCreated: false,
    sameRun: true,
    claimed: [{ runId: true, functionId: "send-welcome", status: "running" }],
    closedError: { isFunctionsError: true, instanceOf: true, code: "closed" },
  });
}

describe("the packed @evt/* packages in a project outside the monorepo", () => {
  it("pack with real versions instead of workspace: ranges", async () => {
    expect(Object.keys(tarballs).sort()).toEqual(Object.keys(PACKAGES).sort());
    for (const [name, tarball] of Object.entries(tarballs)) {
      const manifest = await packedManifest(tarball);
      const source = JSON.parse(
        await readFile(join(ROOT, PACKAGES[name] ?? "", "package.json"), "utf8"),
      );
      expect(manifest.name).toBe(name);
      expect(JSON.stringify(manifest), name).not.toContain("workspace:");
      const deps = (manifest.dependencies ?? {}) as Record<string, string>;
      for (const [dep, range] of Object.entries(source.dependencies ?? {})) {
        if (!String(range).startsWith("workspace:")) continue;
        const version = JSON.parse(
          await readFile(join(ROOT, PACKAGES[dep] ?? "", "package.json"), "utf8"),
        ).version;
        expect(deps[dep], `${name} -> ${dep}`).toBe(`^${version}`);
      }
    }
    // The packed manifests are what npm installed: internal deps resolved to the tarballs
    // (one copy each, none fetched from the registry).
    const lock = JSON.parse(await readFile(join(app, "package-lock.json"), "utf8"));
    for (const [path, entry] of Object.entries(
      lock.packages as Record<string, { resolved?: string }>,
    )) {
      if (!/(^|\/)node_modules\/@evt\//.test(path)) continue;
      expect(path, "a second copy of an @evt package").toMatch(/^node_modules\/@evt\/[a-z-]+$/);
      expect(entry.resolved, path).toMatch(/^file:.*\.tgz$/);
    }
  });

  it("work from an ES module (import)", async () => {
    const report = await runNode("check.mjs");
    expect(report.format).toBe("esm");
    expectReport(report, ".js");
  });

  it("work from a CommonJS module (require)", async () => {
    const report = await runNode("check.cjs");
    expect(report.format).toBe("cjs");
    expectReport(report, ".cjs");
  });

  it("type-check for a strict nodenext TypeScript consumer (import and require), declarations included", async () => {
    const tsc = join(ROOT, "node_modules", ".bin", "tsc");
    await stat(tsc);
    // No --skipLibCheck: the packages' .d.ts (and what they import) are checked too, as in a
    // consumer's project with the default settings. The project has no driver library, so a
    // declaration importing pg, ioredis or better-sqlite3 types fails here with TS2307/TS7016.
    for (const lib of ["pg", "ioredis", "better-sqlite3", "@types/pg", "@types/better-sqlite3"]) {
      expect(existsSync(join(app, "node_modules", lib)), `${lib} is installed`).toBe(false);
    }
    const args = ["--module", "nodenext", "--moduleResolution", "nodenext", "--noEmit", "--strict"];
    const files = ["types.mts", "types.cts", "drivers.mts"];
    const { stdout } = await timed("tsc", () =>
      sh(tsc, [...args, "--listFiles", ...files], { cwd: app, env: consumerEnv() }),
    );
    const list = stdout.trim().split("\n");
    expect(list.filter((line) => line.includes("error TS"))).toEqual([]);
    expect(list).toContain(join(app, "node_modules/@evt/dedup/dist/sqlite.d.ts"));
    // The declarations come from the installed packages, both flavours, none from the repo.
    expect(list).toContain(join(app, "node_modules/@evt/server/dist/index.d.ts"));
    expect(list).toContain(join(app, "node_modules/@evt/server/dist/index.d.cts"));
    expect(list).toContain(join(app, "node_modules/@evt/functions/dist/memory.d.ts"));
    // Only TypeScript's own lib files come from the repo (its tsc is the one running).
    const fromRepo = list.filter(
      (f) => f.startsWith(ROOT) && !/\/typescript\/lib\/lib\.[^/]+\.d\.ts$/.test(f),
    );
    expect(fromRepo).toEqual([]);
  });
});

describe("the READMEs' examples, run as pasted in a project made from the tarballs", () => {
  let api: ChildProcess | undefined;
  let url = "";

  beforeAll(async () => {
    // The Event API the sending examples talk to (the installed @evt/server, a free port).
    const child = spawn(process.execPath, ["event-api.mjs"], {
      cwd: app,
      env: consumerEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    api = child;
    const lines = createInterface({ input: child.stdout });
    url = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`event-api.mjs exited (${code})`)));
    });
  });

  afterAll(() => {
    api?.kill("SIGTERM");
  });

  for (const example of EXAMPLES_HERE) {
    it(`${example.file} prints what its README says`, async () => {
      const env = { ...consumerEnv(), ...example.sendsTo?.(url) };
      const { stdout, stderr } = await timed(example.file, () =>
        sh(process.execPath, [example.file], { cwd: app, env, timeoutMs: 30_000 }),
      );
      const lines = stdout.trimEnd().split("\n");
      expect(lines, `${example.file} printed:\n${stdout}\nstderr:\n${stderr}`).toHaveLength(
        example.output.length,
      );
      example.output.forEach((pattern, i) => {
        expect(lines[i], `line ${i + 1} of ${example.file}`).toMatch(pattern);
      });
      if (example.sendsTo) {
        // The id it printed is an event the API stored, as sent.
        const id = /'([0-9A-Z]{26})'/.exec(lines[0] ?? "")?.[1];
        const res = await fetch(`${url}/v1/events/${id}`);
        expect(res.status).toBe(200);
        const { data } = (await res.json()) as { data: { name: string; data: unknown } };
        expect(data).toMatchObject({ name: "app/user.signup", data: { userId: "u1" } });
      }
    });
  }
});

import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Journal, SdkVersion } from "./fixtures/seed-app";
import {
  dropTestData,
  httpRequest,
  POSTGRES_URL,
  REDIS_URL,
  type RunningGateway,
  startGatewayProcess,
  stopProcess,
  uniqueSuffix,
  waitFor,
} from "./helpers";

export type { Journal, SdkVersion };

const FIXTURE = fileURLToPath(new URL("./fixtures/seed-app.ts", import.meta.url));

/** A free TCP port on 127.0.0.1 (listen on 0, close). */
export async function freePort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The seed app (fixtures/seed-app.ts) in a process of its own, served by the real SDK. */
export interface TestApp {
  url: string;
  proc: ChildProcess;
  /** What the functions did so far (read from the app). */
  journal(): Promise<Journal>;
  close(): Promise<void>;
}

/**
 * Start the seed app with SDK `version` against the gateway at `gatewayUrl`, in a child
 * process: v3 and v4 cannot share one process (each keeps its own global AsyncLocalStorage).
 */
/** What the seed app serves besides its default functions (each gated by an env variable). */
export interface SeedAppOptions {
  port?: number;
  signingKey?: string;
  cron?: string;
  webhooks?: boolean;
  waits?: boolean;
  concurrency?: boolean;
  batch?: boolean;
  timeline?: boolean;
  flow?: boolean;
}

export function startSeedApp(
  version: SdkVersion,
  gatewayUrl: string,
  options: SeedAppOptions = {},
): Promise<TestApp> {
  const args = ["--import", "tsx", FIXTURE, version, gatewayUrl, String(options.port ?? 0)];
  if (options.signingKey) args.push(options.signingKey);
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("INNGEST_")) delete env[k];
  if (options.cron) env.SEED_APP_CRON = options.cron;
  else delete env.SEED_APP_CRON;
  if (options.webhooks) env.SEED_APP_WEBHOOKS = "1";
  else delete env.SEED_APP_WEBHOOKS;
  if (options.timeline) env.SEED_APP_TIMELINE = "1";
  else delete env.SEED_APP_TIMELINE;
  if (options.waits) env.SEED_APP_WAITS = "1";
  else delete env.SEED_APP_WAITS;
  if (options.concurrency) env.SEED_APP_CONCURRENCY = "1";
  else delete env.SEED_APP_CONCURRENCY;
  if (options.batch) env.SEED_APP_BATCH = "1";
  else delete env.SEED_APP_BATCH;
  if (options.flow) env.SEED_APP_FLOW = "1";
  else delete env.SEED_APP_FLOW;
  const proc = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stderr!.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`the seed app did not start\n${out}\n${err}`));
    }, 20_000);
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      const url = m[1]!;
      const origin = new URL(url).origin;
      resolve({
        url,
        proc,
        async journal() {
          const res = await fetch(`${origin}/journal`);
          return (await res.json()) as Journal;
        },
        async close() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
          await exited;
        },
      });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the seed app exited before listening\n${out}\n${err}`));
    });
  });
}

/** The seed app and a gateway process that runs its functions, and how to restart the gateway. */
export interface AppAndGateway {
  app: TestApp;
  gw: RunningGateway;
  /** Start the gateway again with the same command (after a kill). */
  restart(): Promise<RunningGateway>;
}

/**
 * Start the seed app with SDK `version` and `evt-gateway <args>` on a free port with
 * `--app-url` the app, and wait until the gateway lists the app's functions.
 */
export async function startAppAndGateway(
  version: SdkVersion,
  args: string[],
  options: {
    cron?: string;
    signingKey?: string;
    headers?: Record<string, string>;
    webhooks?: boolean;
    waits?: boolean;
    concurrency?: boolean;
    batch?: boolean;
    timeline?: boolean;
    flow?: boolean;
  } = {},
): Promise<AppAndGateway> {
  const port = await freePort();
  const app = await startSeedApp(version, `http://127.0.0.1:${port}`, options);
  const [mode, ...rest] = args;
  const command = [mode!, "--port", String(port), ...rest, "--app-url", app.url];
  const gw = await startGatewayProcess(command);
  const synced = await waitFor(async () => {
    const res = await httpRequest(`${gw.url}/v1/functions`, { headers: options.headers ?? {} });
    return res.status === 200 && JSON.parse(res.body).data.length >= 10;
  });
  if (!synced) throw new Error(`the gateway did not list the app's functions\n${gw.stdout()}`);
  return { app, gw, restart: () => startGatewayProcess(command) };
}

/** Two gateways on one PostgreSQL and Redis (tables and keys of their own) and the seed app. */
export interface GatewayPair {
  app: TestApp;
  /** Started with `--app-url`: it syncs the app. */
  a: RunningGateway;
  /** Knows the functions only from the shared run store. */
  b: RunningGateway;
  /** The flags both were started with (stores, prefixes, `extraArgs`). */
  shared: string[];
  tablePrefix: string;
  redisPrefix: string;
  /** Stop both gateways and the app, and drop the test's tables and keys. */
  close(): Promise<void>;
}

/**
 * Start the seed app and two `dev` gateways sharing PostgreSQL (events, runs) and Redis
 * (dedup) under prefixes of their own; resolve once gateway B lists the functions `ready`
 * accepts (A's sync, read from the shared run store).
 */
export async function startGatewayPair(
  version: SdkVersion,
  options: {
    /** Short tag for the prefixes (`fncc` gives tables `fncc_<suffix>_*`). */
    label: string;
    app?: SeedAppOptions;
    extraArgs?: string[];
    ready: (functionIds: string[]) => boolean;
  },
): Promise<GatewayPair> {
  const suffix = uniqueSuffix();
  const tablePrefix = `${options.label}_${suffix}_`;
  const redisPrefix = `${options.label}:${suffix}:`;
  const shared = [
    "--dedup",
    REDIS_URL,
    "--store",
    POSTGRES_URL,
    "--runs",
    POSTGRES_URL,
    "--pg-table-prefix",
    tablePrefix,
    "--redis-prefix",
    redisPrefix,
    ...(options.extraArgs ?? []),
  ];
  const portA = await freePort();
  const app = await startSeedApp(version, `http://127.0.0.1:${portA}`, options.app ?? {});
  let a: RunningGateway | undefined;
  let b: RunningGateway | undefined;
  const close = async () => {
    await stopProcess(a);
    await stopProcess(b);
    await app.close();
    await dropTestData(redisPrefix, tablePrefix);
  };
  try {
    a = await startGatewayProcess([
      "dev",
      "--port",
      String(portA),
      ...shared,
      "--app-url",
      app.url,
    ]);
    b = await startGatewayProcess(["dev", "--port", "0", ...shared]);
    const gwB = b;
    let listed = 0;
    const seen = await waitFor(async () => {
      const res = await httpRequest(`${gwB.url}/v1/functions`);
      if (res.status !== 200) return false;
      const ids = (JSON.parse(res.body).data as { id: string }[]).map((f) => f.id);
      listed = ids.length;
      return options.ready(ids);
    }, 20_000);
    if (!seen) throw new Error(`gateway B did not list the app's functions\n${gwB.stdout()}`);
    // Listed is read from the store; B's trigger index re-reads it every 2 s. Wait until B
    // has indexed them all, or an event sent to B at once would start nothing.
    const indexed = await waitFor(async () => {
      const res = await httpRequest(`${gwB.url}/v1/status`);
      return res.status === 200 && JSON.parse(res.body).data.functions >= listed;
    }, 20_000);
    if (!indexed) throw new Error(`gateway B did not index the app's functions\n${gwB.stdout()}`);
  } catch (err) {
    await close();
    throw err;
  }
  return { app, a, b, shared, tablePrefix, redisPrefix, close };
}

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";

/** The built binary the tests run (`turbo run build --filter=@evt/gateway...` first; `EVT_GATEWAY_CLI` names another build, e.g. to measure an older one). */
export const CLI =
  process.env.EVT_GATEWAY_CLI ?? fileURLToPath(new URL("../dist/cli.js", import.meta.url));

export const REDIS_URL = process.env.EVT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const POSTGRES_URL =
  process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";

export function assertBuilt(): void {
  if (!existsSync(CLI)) {
    throw new Error(
      `${CLI} is missing: build first with sh scripts/pnpm.sh exec turbo run build --filter=@evt/gateway...`,
    );
  }
}

/** A fresh temporary folder. */
export function tempDir(prefix = "evt-gw-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A unique, lower-case suffix for Redis prefixes and table names of one test run. */
export function uniqueSuffix(): string {
  return `${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export interface RunningGateway {
  proc: ChildProcess;
  url: string;
  /** Everything written to stdout so far (JSON log lines and the start line). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code and signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built CLI to completion and returns its output. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { ...cleanEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    proc.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`evt-gateway ${args.join(" ")} did not exit within 10 s`));
    }, 10_000);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      // Let the pipes drain before resolving.
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
  });
}

/** The environment without any EVT_ setting of the machine running the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("EVT_")) delete env[key];
  return env;
}

/**
 * Starts the built gateway and resolves once it printed the URL it listens on. `wrap` runs it
 * under another command, e.g. `["taskset", "-c", "0"]`.
 */
export function startGatewayProcess(
  args: string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
): Promise<RunningGateway> {
  assertBuilt();
  const [command, ...before] = [...wrap, process.execPath];
  const proc = spawn(command!, [...before, CLI, ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`gateway did not start within 15 s\nstdout: ${out}\nstderr: ${err}`));
    }, 15_000);
    proc.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
    });
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1]!, stdout: () => out, stderr: () => err, exited });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `gateway exited (${code ?? signal}) before listening\nstdout: ${out}\nstderr: ${err}`,
        ),
      );
    });
  });
}

/** Kills a gateway process (SIGKILL unless told) and waits until it is gone. */
export async function stopProcess(
  gw: RunningGateway | undefined,
  signal: NodeJS.Signals = "SIGKILL",
) {
  if (!gw || gw.proc.exitCode !== null || gw.proc.signalCode !== null) return;
  gw.proc.kill(signal);
  await gw.exited;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request on its own connection (no keep-alive), so connection errors belong to this
 * request alone. Rejects with the socket error (`ECONNREFUSED`, `ECONNRESET`, ...).
 */
export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "GET",
        agent: false,
        headers: {
          connection: "close",
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
        res.on("aborted", () =>
          reject(Object.assign(new Error("response aborted"), { code: "EABORTED" })),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** POST events; returns the status and parsed JSON body. */
export async function sendEvents(
  url: string,
  key: string,
  events: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  body: { ids?: string[]; status?: number; error?: string };
  headers: HttpResult["headers"];
}> {
  const res = await httpRequest(`${url}/e/${key}`, {
    method: "POST",
    body: JSON.stringify(events),
    headers,
  });
  return { status: res.status, body: JSON.parse(res.body || "{}"), headers: res.headers };
}

/**
 * A TCP proxy in front of a real server, to simulate an outage: `stop()` closes the listener
 * and destroys every connection; `start()` listens again on the same port.
 */
export class TcpProxy {
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

/** Removes one test run's Redis keys and PostgreSQL tables. */
export async function dropTestData(redisPrefix: string, tablePrefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE starts_with(tablename, $1)",
      [tablePrefix],
    );
    for (const { tablename } of rows)
      await client.query(`DROP TABLE IF EXISTS "${tablename}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** A stored event for the store drivers' `append` (env `dev`, received now, from the API). */
export function storedEvent(internalId: string, name = "app/x") {
  const now = Date.now();
  return {
    internal_id: internalId,
    id: null,
    name,
    data: {},
    user: null,
    ts: now,
    v: null,
    env: "dev",
    received_at: now,
    source: "api" as const,
    source_id: null,
  };
}

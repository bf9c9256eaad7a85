import { describe, expect, it } from "vitest";
import { parseCommandLine } from "../src/args";
import { ConfigError, resolveConfig, sqliteInWorker } from "../src/config";
import { parseBytes, parseDuration } from "../src/units";
import { runCli } from "./helpers";

describe("units", () => {
  it("reads durations with a unit and refuses bare numbers", () => {
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("10s")).toBe(10_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30d")).toBe(30 * 86_400_000);
    expect(parseDuration("30")).toBeUndefined();
    expect(parseDuration("1w")).toBeUndefined();
  });

  it("reads sizes in binary units", () => {
    expect(parseBytes("512kb")).toBe(524_288);
    expect(parseBytes("1MB")).toBe(1_048_576);
    expect(parseBytes("2048")).toBe(2048);
    expect(parseBytes("lots")).toBeUndefined();
    expect(parseBytes("1gb")).toBe(1024 ** 3);
  });
});

describe("parseCommandLine", () => {
  it("uses the documented defaults", () => {
    const cmd = parseCommandLine(["dev"], {});
    expect(cmd.kind).toBe("run");
    if (cmd.kind !== "run") return;
    expect(cmd.config).toMatchObject({
      mode: "dev",
      port: 8288,
      host: "127.0.0.1",
      dataDir: "./.evt",
      dedup: "sqlite",
      store: "sqlite",
      dedupWindowMs: 86_400_000,
      maxRequestBytes: 524_288,
      shutdownTimeoutMs: 10_000,
      retentionMs: null,
      sqliteThread: "auto",
      sqliteTimeoutMs: 5_000,
      maxInflightBytes: 64 * 1024 * 1024,
      eventKeys: [],
    });
  });

  it("refuses driver URLs without a host (redis:/oops is not a socket path)", () => {
    for (const bad of ["redis:/oops", "redis:oops", "postgres:/db", "redis://"]) {
      expect(() => parseCommandLine(["dev", "--dedup", bad], {})).toThrow(
        /--dedup ".*" is not valid: expected memory, sqlite, redis:\/\/host/,
      );
    }
    expect(() => parseCommandLine(["dev", "--store", "postgres:/db"], {})).toThrow(ConfigError);
  });

  it("reads --max-inflight-bytes and --sqlite-timeout, and refuses a budget below one request", () => {
    const cmd = parseCommandLine(
      ["dev", "--max-inflight-bytes", "1gb", "--sqlite-timeout", "2s"],
      {},
    );
    expect(cmd.kind === "run" && cmd.config.maxInflightBytes).toBe(1024 ** 3);
    expect(cmd.kind === "run" && cmd.config.sqliteTimeoutMs).toBe(2_000);
    expect(() =>
      parseCommandLine(["dev", "--max-request-bytes", "64mb", "--max-inflight-bytes", "32mb"], {}),
    ).toThrow(/--max-inflight-bytes \(33554432 bytes\) is smaller than --max-request-bytes/);
    expect(() => parseCommandLine(["dev", "--sqlite-timeout", "5"], {})).toThrow(
      /--sqlite-timeout "5" is not valid: expected a duration from 100ms to 10m/,
    );
  });

  it("reads env vars and lets flags win", () => {
    const cmd = parseCommandLine(
      ["start", "--port", "9000", "--event-key", "k1", "--event-key", "k2"],
      {
        EVT_PORT: "8000",
        EVT_HOST: "0.0.0.0",
        EVT_EVENT_KEYS: "env-key",
        EVT_API_KEYS: "a1, a2",
        EVT_DEDUP_WINDOW: "1h",
        EVT_RETENTION: "30d",
        EVT_MAX_REQUEST_BYTES: "1mb",
        EVT_SQLITE_THREAD: "false",
      },
    );
    if (cmd.kind !== "run") throw new Error("expected run");
    expect(cmd.config.port).toBe(9000);
    expect(cmd.config.host).toBe("0.0.0.0");
    expect(cmd.config.eventKeys).toEqual(["k1", "k2"]);
    expect(cmd.config.apiKeys).toEqual(["a1", "a2"]);
    expect(cmd.config.dedupWindowMs).toBe(3_600_000);
    expect(cmd.config.retentionMs).toBe(30 * 86_400_000);
    expect(cmd.config.maxRequestBytes).toBe(1_048_576);
    expect(cmd.config.sqliteThread).toBe(false);
  });

  it("--sqlite-thread auto (the default) puts SQLite in a worker only when more than one CPU is available", () => {
    const dev = parseCommandLine(["dev"], {});
    const auto = parseCommandLine(["dev", "--sqlite-thread", "auto"], {});
    const on = parseCommandLine(["dev"], { EVT_SQLITE_THREAD: "true" });
    if (dev.kind !== "run" || auto.kind !== "run" || on.kind !== "run")
      throw new Error("expected run");
    expect(dev.config.sqliteThread).toBe("auto");
    expect(auto.config.sqliteThread).toBe("auto");
    expect([1, 2, 8].map((cpus) => sqliteInWorker(dev.config, cpus))).toEqual([false, true, true]);
    // An explicit choice holds whatever the CPUs.
    expect([1, 2].map((cpus) => sqliteInWorker(on.config, cpus))).toEqual([true, true]);
    expect(sqliteInWorker({ sqliteThread: false }, 8)).toBe(false);
  });

  it("reads the read limits: --max-page-bytes and --max-concurrent-reads, with their env vars", () => {
    const dev = parseCommandLine(["dev"], {});
    if (dev.kind !== "run") throw new Error("expected run");
    expect(dev.config.maxPageBytes).toBe(8 * 1024 * 1024);
    expect(dev.config.maxConcurrentReads).toBe(4);
    const cmd = parseCommandLine(["dev", "--max-page-bytes", "1mb"], {
      EVT_MAX_CONCURRENT_READS: "16",
    });
    if (cmd.kind !== "run") throw new Error("expected run");
    expect(cmd.config.maxPageBytes).toBe(1_048_576);
    expect(cmd.config.maxConcurrentReads).toBe(16);
    expect(() => parseCommandLine(["dev", "--max-concurrent-reads", "0"], {})).toThrow(
      '--max-concurrent-reads "0" is not valid: expected an integer 1..1000',
    );
    expect(() => parseCommandLine(["dev"], { EVT_MAX_PAGE_BYTES: "1kb" })).toThrow(
      'EVT_MAX_PAGE_BYTES "1kb" is not valid: expected a size from 64kb to 256mb',
    );
  });

  it("names the env var when the bad value came from it", () => {
    expect(() => parseCommandLine(["dev"], { EVT_DEDUP: "mysql://x" })).toThrow(
      'EVT_DEDUP "mysql://x" is not valid: expected memory, sqlite, redis://',
    );
  });

  it("accepts driver URLs", () => {
    const cmd = parseCommandLine(
      ["dev", "--dedup", "redis://127.0.0.1:6379/2", "--store", "postgresql://u@h:5432/db"],
      {},
    );
    if (cmd.kind !== "run") throw new Error("expected run");
    expect(cmd.config.dedup).toBe("redis://127.0.0.1:6379/2");
    expect(cmd.config.store).toBe("postgresql://u@h:5432/db");
  });

  it("refuses start without an event key and says how to set one", () => {
    expect(() => parseCommandLine(["start"], {})).toThrow(ConfigError);
    expect(() => parseCommandLine(["start"], {})).toThrow(/--event-key <key>.*EVT_EVENT_KEYS/);
  });

  it("validates programmatic options with the same rules", () => {
    expect(() => resolveConfig({ port: 70_000 })).toThrow(
      "options.port 70000 is not valid: expected an integer 0..65535",
    );
    expect(resolveConfig({ mode: "start", eventKeys: ["k"], apiKeys: ["a"] }).mode).toBe("start");
  });
});

describe("evt-gateway binary: configuration", () => {
  const bad: [string[], string][] = [
    [
      ["dev", "--port", "abc"],
      'evt-gateway: --port "abc" is not valid: expected an integer 0..65535',
    ],
    [
      ["dev", "--dedup", "mongo://x"],
      'evt-gateway: --dedup "mongo://x" is not valid: expected memory, sqlite',
    ],
    [
      ["dev", "--store", "redis://x"],
      'evt-gateway: --store "redis://x" is not valid: expected sqlite, memory',
    ],
    [
      ["dev", "--dedup-window", "5"],
      'evt-gateway: --dedup-window "5" is not valid: expected a duration',
    ],
    [
      ["dev", "--max-request-bytes", "huge"],
      'evt-gateway: --max-request-bytes "huge" is not valid',
    ],
    [
      ["dev", "--log-level", "loud"],
      'evt-gateway: --log-level "loud" is not valid: expected one of fatal',
    ],
    [["dev", "--shutdown-timeout", "1y"], 'evt-gateway: --shutdown-timeout "1y" is not valid'],
    [
      ["dev", "--retention", "5m"],
      'evt-gateway: --retention "5m" is not valid: expected off, or a duration from 1h',
    ],
    [
      ["dev", "--sqlite-thread", "maybe"],
      'evt-gateway: --sqlite-thread "maybe" is not valid: expected true, false or auto',
    ],
    [["dev", "--nope"], "evt-gateway: unknown flag --nope"],
    [["serve"], 'evt-gateway: unknown command "serve"'],
  ];

  it.each(bad)("exits 2 with one line for %j", async (args, message) => {
    const { code, stderr, stdout } = await runCli(args);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(message);
    expect(stdout).toBe("");
  });

  it("names the env var in the message", async () => {
    const { code, stderr } = await runCli(["dev"], { EVT_PORT: "-1" });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'evt-gateway: EVT_PORT "-1" is not valid: expected an integer 0..65535',
    );
  });

  it("refuses to start in production mode without an event key", async () => {
    const { code, stderr } = await runCli([
      "start",
      "--port",
      "0",
      "--store",
      "memory",
      "--dedup",
      "memory",
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain("needs at least one event key");
    expect(stderr).toContain("--event-key");
    expect(stderr).toContain("EVT_EVENT_KEYS");
  });

  it("--help lists every flag and environment variable", async () => {
    const { code, stdout } = await runCli(["--help"]);
    expect(code).toBe(0);
    for (const flag of [
      "--port",
      "--host",
      "--data-dir",
      "--event-key",
      "--api-key",
      "--dedup",
      "--store",
      "--dedup-window",
      "--max-request-bytes",
      "--log-level",
      "--shutdown-timeout",
      "--retention",
      "--pretty",
      "--sqlite-thread",
      "--version",
    ]) {
      expect(stdout).toContain(flag);
    }
    for (const env of [
      "EVT_PORT",
      "EVT_HOST",
      "EVT_DATA_DIR",
      "EVT_EVENT_KEYS",
      "EVT_API_KEYS",
      "EVT_DEDUP",
      "EVT_STORE",
      "EVT_DEDUP_WINDOW",
      "EVT_MAX_REQUEST_BYTES",
      "EVT_LOG_LEVEL",
      "EVT_SHUTDOWN_TIMEOUT",
      "EVT_RETENTION",
      "EVT_SQLITE_THREAD",
    ]) {
      expect(stdout).toContain(env);
    }
    expect(stdout).toMatch(/evt-gateway dev/);
    expect(stdout).toMatch(/evt-gateway start/);
  });

  it("--version prints the package version", async () => {
    const { code, stdout } = await runCli(["--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

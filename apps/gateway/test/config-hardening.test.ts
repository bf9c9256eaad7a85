import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseCommandLine, resolveConfig } from "../src/index";
import { maskPassword } from "../src/secrets";
import {
  httpRequest,
  type RunningGateway,
  runCli,
  startGatewayProcess,
  stopProcess,
} from "./helpers";

const MEMORY = ["--port", "0", "--dedup", "memory", "--store", "memory"];

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("start needs an API key (reads are never open by accident)", () => {
  it("refuses start with event keys but no API key, and says how to fix it", () => {
    const message = configError(() => parseCommandLine(["start", "--event-key", "k1"], {}));
    expect(message).toContain("needs at least one API key");
    expect(message).toContain("--api-key <key>");
    expect(message).toContain("EVT_API_KEYS");
    expect(message).toContain("--public-reads");
    expect(() => resolveConfig({ mode: "start", eventKeys: ["k1"] })).toThrow(/API key/);
  });

  it.each([",", " ", " , ,"])(
    "refuses the blank key list %j in EVT_API_KEYS and EVT_EVENT_KEYS",
    (blank) => {
      expect(
        configError(() =>
          parseCommandLine(["start", "--api-key", "a1"], { EVT_EVENT_KEYS: blank }),
        ),
      ).toContain(`EVT_EVENT_KEYS ${JSON.stringify(blank)} lists nothing`);
      expect(
        configError(() =>
          parseCommandLine(["start", "--event-key", "k1"], { EVT_API_KEYS: blank }),
        ),
      ).toContain(`EVT_API_KEYS ${JSON.stringify(blank)} lists nothing`);
      // Even in dev, where keys are ignored: a blank list is a mistake worth saying.
      expect(() => parseCommandLine(["dev"], { EVT_API_KEYS: blank })).toThrow(ConfigError);
    },
  );

  it("refuses a blank or comma-holding --api-key value", () => {
    expect(() => parseCommandLine(["start", "--event-key", "k", "--api-key", " "], {})).toThrow(
      ConfigError,
    );
    expect(() => parseCommandLine(["start", "--event-key", "k", "--api-key", ","], {})).toThrow(
      ConfigError,
    );
  });

  it("accepts --public-reads or EVT_PUBLIC_READS=true instead, but not together with a key", () => {
    const flag = parseCommandLine(["start", "--event-key", "k1", "--public-reads"], {});
    expect(flag.kind === "run" && flag.config.publicReads).toBe(true);
    const env = parseCommandLine(["start", "--event-key", "k1"], { EVT_PUBLIC_READS: "true" });
    expect(env.kind === "run" && env.config.publicReads).toBe(true);
    expect(
      configError(() =>
        parseCommandLine(["start", "--event-key", "k1", "--api-key", "a1", "--public-reads"], {}),
      ),
    ).toContain("exclude each other");
  });

  it("the binary exits 2 with one line when start has no API key", async () => {
    const { code, stderr, stdout } = await runCli(["start", ...MEMORY, "--event-key", "k1"]);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^evt-gateway: start \(production mode\) needs at least one API key/);
    expect(stdout).toBe("");
  });

  describe("--public-reads", () => {
    let gw: RunningGateway | undefined;
    afterAll(() => stopProcess(gw));

    it("warns at start and serves reads without a key", { timeout: 30_000 }, async () => {
      gw = await startGatewayProcess(["start", ...MEMORY, "--event-key", "k1", "--public-reads"]);
      const warning = gw
        .stdout()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .find((l) => l.msg.startsWith("reads are public"));
      expect(warning?.level).toBe(40);
      expect((await httpRequest(`${gw.url}/v1/events`)).status).toBe(200);
      expect((await httpRequest(`${gw.url}/metrics`)).status).toBe(200);
    });
  });
});

describe("configuration errors never print secrets", () => {
  const SECRET = "s3cret-key-value";

  it.each([
    ["EVT_EVENT_KEYS", { EVT_EVENT_KEYS: `${SECRET},bad key`, EVT_API_KEYS: "a1" }],
    ["EVT_API_KEYS", { EVT_EVENT_KEYS: "k1", EVT_API_KEYS: `${SECRET},bad key` }],
    ["EVT_API_KEYS", { EVT_EVENT_KEYS: "k1", EVT_API_KEYS: `a1,bad ${SECRET}` }],
  ])("%s with one bad key: names the position, prints no key", (name, env) => {
    const message = configError(() => parseCommandLine(["start"], env));
    expect(message).toContain(name);
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain("bad");
    expect(message).toMatch(/key \d of 2 is not valid \(a space is not allowed/);
  });

  it("--event-key/--api-key with a bad value: prints no key", () => {
    for (const flag of ["--event-key", "--api-key"]) {
      const message = configError(() =>
        parseCommandLine(
          ["start", "--event-key", "k1", "--api-key", "a1", flag, SECRET, flag, `${SECRET}!é`],
          {},
        ),
      );
      expect(message).toContain(flag);
      expect(message).not.toContain(SECRET);
    }
  });

  it("programmatic key options: prints no key", () => {
    const message = configError(() =>
      resolveConfig({ mode: "start", eventKeys: [SECRET, ""], apiKeys: ["a"] }),
    );
    expect(message).toBe(
      "options.eventKeys key 2 of 2 is empty: expected keys of 1..256 characters from A-Z a-z 0-9 . _ ~ + / = -",
    );
  });

  it("a stray argument (a key without its flag) is not echoed", () => {
    const message = configError(() => parseCommandLine(["start", SECRET], {}));
    expect(message).toContain('unexpected argument after "start"');
    expect(message).not.toContain(SECRET);
  });

  it("an unknown command that is not a word (a key in the wrong place) is not echoed", () => {
    expect(configError(() => parseCommandLine([SECRET], {}))).toBe(
      'unknown command (not shown): expected "dev", "start" or "migrate" (see evt-gateway --help)',
    );
    expect(configError(() => parseCommandLine(["serve"], {}))).toContain('"serve"');
  });

  it("a password in a refused --cors-origin is masked", () => {
    const message = configError(() =>
      parseCommandLine(["dev", "--cors-origin", "https://user:hunter2@app.example"], {}),
    );
    expect(message).toContain("https://user:***@app.example");
    expect(message).not.toContain("hunter2");
  });

  it.each([
    ["--dedup", "mysql://evt:hunter2@db:3306/evt", "mysql://evt:***@db:3306/evt"],
    ["--store", "redis://user:hunter2@db:6379", "redis://user:***@db:6379"],
    ["--store", "postgres://evt:hun/ter@2@db/evt x", "postgres://evt:***@db/evt x"],
  ])("%s with a password in a refused URL: masked", (flag, value, shown) => {
    const message = configError(() => parseCommandLine(["dev", flag, value], {}));
    expect(message).toContain(JSON.stringify(shown));
    expect(message).not.toContain("hunter");
  });

  it("EVT_DEDUP from the environment: masked too, and the binary prints it masked", async () => {
    const { code, stderr } = await runCli(["dev"], {
      EVT_DEDUP: "mongodb://admin:hunter2@db:27017/evt",
    });
    expect(code).toBe(2);
    expect(stderr).toContain('EVT_DEDUP "mongodb://admin:***@db:27017/evt" is not valid');
    expect(stderr).not.toContain("hunter2");
  });

  it("maskPassword leaves URLs without a password alone", () => {
    expect(maskPassword("postgres://evt@db:5432/evt")).toBe("postgres://evt@db:5432/evt");
    expect(maskPassword("redis://db:6379")).toBe("redis://db:6379");
    expect(maskPassword("sqlite")).toBe("sqlite");
  });
});

import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCommandLine } from "../src/args";
import { ConfigError } from "../src/config";
import { keyId, loadKeysFile, parseKeysFile } from "../src/keys-file";
import {
  httpRequest,
  type RunningGateway,
  runCli,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  tempDir,
} from "./helpers";

const PUBLIC = "pk_storefront_4f9a2c";
const SHARED = "sk_backend_77b1e0";
const PLAIN = "sk_plain_flag_key_01";
const API = "read_key_for_tests_1";

function problem(text: string, plain: string[] = []): string {
  try {
    parseKeysFile(text, "keys.json", plain);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected parseKeysFile to throw");
}

describe("keys file parsing", () => {
  it("turns entries into scoped keys; public ones get a namespace named by a hash, never the key", () => {
    const keys = parseKeysFile(
      JSON.stringify([
        { key: PUBLIC, envs: ["production"], names: ["shop/*"], public: true, name: "storefront" },
        { key: SHARED },
      ]),
      "keys.json",
    );
    expect(keys.map((k) => k.options)).toEqual([
      {
        key: PUBLIC,
        envs: ["production"],
        names: ["shop/*"],
        dedupNamespace: `key:${keyId(PUBLIC)}`,
      },
      { key: SHARED },
    ]);
    expect(keyId(PUBLIC)).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(keys.map((k) => k.summary))).not.toContain(PUBLIC);
    expect(keys[0]!.summary).toMatchObject({ name: "storefront", public: true });
  });

  it("names the entry and field of a bad pattern and never prints the key", () => {
    const message = problem(
      JSON.stringify([{ key: SHARED }, { key: PUBLIC, names: ["shop*"], name: "storefront" }]),
    );
    expect(message).toContain(
      'keys file keys.json, entry 2: names[0] "shop*": has "*" right after',
    );
    expect(message).not.toContain(PUBLIC);
  });

  it("refuses bad fields, each with what is allowed, without the key", () => {
    const cases: [unknown, string][] = [
      [[{ key: `${PUBLIC} space` }], "entry 1: key is not valid: expected 1..256 characters"],
      [[{ envs: ["production"] }], "entry 1: key is missing"],
      [[{ key: PUBLIC, envs: [] }], "entry 1: envs [] is not valid: expected a non-empty array"],
      [[{ key: PUBLIC, envs: ["prod uction"] }], 'entry 1: envs[0] "prod uction": expected 1..64'],
      [
        [{ key: PUBLIC, public: "yes" }],
        'entry 1: public "yes" is not valid: expected true or false',
      ],
      [[{ key: PUBLIC, scope: "all" }], 'entry 1: unknown field "scope" (allowed: key, envs'],
      [[PUBLIC], "entry 1: must be an object"],
      [[], "must hold a non-empty JSON array"],
      [{ key: PUBLIC }, "must hold a non-empty JSON array"],
      [[{ key: PUBLIC }, { key: PUBLIC }], "entry 2: key repeats the key of entry 1"],
    ];
    for (const [value, expected] of cases) {
      const message = problem(JSON.stringify(value));
      expect(message).toContain(expected);
      expect(message).not.toContain(PUBLIC);
    }
    const repeated = problem(JSON.stringify([{ key: PLAIN }]), [PLAIN]);
    expect(repeated).toContain("entry 1: key repeats an --event-key / EVT_EVENT_KEYS key");
    expect(repeated).not.toContain(PLAIN);
  });

  it("reports bad JSON by position only (the text around it may hold a key)", () => {
    const message = problem(`[{"key": ${PUBLIC}}]`);
    expect(message).toContain("keys file keys.json is not valid JSON");
    expect(message).not.toContain(PUBLIC);
  });

  it("says why a file cannot be read", () => {
    expect(() => loadKeysFile(join(tempDir(), "missing.json"))).toThrow(
      /keys file .*missing\.json cannot be read \(no such file\)/,
    );
  });

  it("lets start run with a keys file and no --event-key, from the flag or EVT_KEYS_FILE", () => {
    const flag = parseCommandLine(
      ["start", "--keys-file", "/etc/evt/keys.json", "--api-key", API],
      {},
    );
    if (flag.kind !== "run") throw new Error("expected run");
    expect(flag.config.keysFile).toBe("/etc/evt/keys.json");
    const env = parseCommandLine(["start"], { EVT_KEYS_FILE: "/k.json", EVT_API_KEYS: API });
    if (env.kind !== "run") throw new Error("expected run");
    expect(env.config.keysFile).toBe("/k.json");
    expect(() => parseCommandLine(["start", "--api-key", API], {})).toThrow(/--keys-file/);
  });
});

describe("evt-gateway start with a keys file (built binary)", () => {
  let gw: RunningGateway | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("evt-gw-keys-");
    const file = join(dir, "keys.json");
    writeFileSync(
      file,
      JSON.stringify([
        { key: PUBLIC, envs: ["production"], names: ["shop/*"], public: true, name: "storefront" },
        { key: SHARED, name: "orders" },
      ]),
    );
    gw = await startGatewayProcess(
      [
        "start",
        "--port",
        "0",
        "--data-dir",
        join(dir, "data"),
        "--event-key",
        PLAIN,
        "--api-key",
        API,
        "--keys-file",
        file,
      ],
      { EVT_LOG_LEVEL: "info" },
    );
  });

  afterAll(async () => {
    await stopProcess(gw, "SIGTERM");
  });

  async function list(name: string) {
    const res = await httpRequest(`${gw!.url}/v1/events?name=${encodeURIComponent(name)}`, {
      headers: { authorization: `Bearer ${API}` },
    });
    expect(res.status).toBe(200);
    return (JSON.parse(res.body) as { data: { internal_id: string }[] }).data;
  }

  it("answers 403 for an environment or a name outside the key's scope, storing nothing", async () => {
    const env = await sendEvents(
      gw!.url,
      PUBLIC,
      { name: "shop/cart.viewed" },
      {
        "x-inngest-env": "staging",
      },
    );
    expect(env.status).toBe(403);
    expect(env.body.error).toContain('environment "staging" (allowed: "production")');
    const name = await sendEvents(gw!.url, PUBLIC, [
      { name: "shop/cart.viewed" },
      { name: "billing/refund.issued" },
    ]);
    expect(name.status).toBe(403);
    expect(name.body.error).toContain('index 1 has name "billing/refund.issued"');
    expect(await list("shop/cart.viewed")).toEqual([]);
    expect(await list("billing/refund.issued")).toEqual([]);
    // The plain --event-key and the key without a scope may do both.
    const plain = await sendEvents(
      gw!.url,
      PLAIN,
      { name: "billing/refund.issued" },
      {
        "x-inngest-env": "staging",
      },
    );
    expect(plain.status).toBe(200);
  });

  it("public key sends id X, then a private key sends id X: both are stored", async () => {
    const event = { name: "shop/order.placed", id: "order-1001" };
    const pub = await sendEvents(gw!.url, PUBLIC, event);
    const priv = await sendEvents(gw!.url, SHARED, event);
    expect(pub.status).toBe(200);
    expect(priv.status).toBe(200);
    expect(priv.body.ids![0]).not.toBe(pub.body.ids![0]);
    expect((await list("shop/order.placed")).length).toBe(2);
  });

  it("keys that are not public share one namespace, as before", async () => {
    const event = { name: "shop/order.shipped", id: "order-2002" };
    const first = await sendEvents(gw!.url, PLAIN, event);
    const second = await sendEvents(gw!.url, SHARED, event);
    expect(second.status).toBe(200);
    expect(second.body.ids).toEqual(first.body.ids);
    expect((await list("shop/order.shipped")).length).toBe(1);
  });

  it("logs the scoped keys by name and id, never the keys", () => {
    const out = gw!.stdout();
    expect(out).toContain("scoped event keys loaded");
    expect(out).toContain(keyId(PUBLIC));
    for (const k of [PUBLIC, SHARED, PLAIN, API]) expect(out).not.toContain(k);
  });
});

describe("evt-gateway start with a bad keys file (built binary)", () => {
  it("exits 2 with the entry and field, and no key, before opening a store", async () => {
    const dir = tempDir("evt-gw-keys-bad-");
    const file = join(dir, "keys.json");
    writeFileSync(file, JSON.stringify([{ key: SHARED }, { key: PUBLIC, names: ["shop*"] }]));
    const res = await runCli(["start", "--port", "0", "--data-dir", join(dir, "data")], {
      EVT_KEYS_FILE: file,
      EVT_API_KEYS: API,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('entry 2: names[0] "shop*"');
    expect(res.stderr + res.stdout).not.toContain(PUBLIC);
    expect(res.stderr + res.stdout).not.toContain(SHARED);
    expect(existsSync(join(dir, "data"))).toBe(false);
  });
});

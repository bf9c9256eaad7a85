import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { assertBuilt, httpRequest, sleep } from "./helpers";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

describe("npm start (the quick start's first command)", () => {
  it("SIGTERM to npm stops the gateway: nothing keeps answering on its port", {
    timeout: 60_000,
  }, async () => {
    assertBuilt();
    const npm = spawn(
      "npm",
      [
        "start",
        "--",
        "--port",
        "0",
        "--store",
        "memory",
        "--dedup",
        "memory",
        "--log-level",
        "info",
      ],
      {
        cwd: ROOT,
        env: { ...process.env, EVT_START_SKIP_BUILD: "1", CI: "true" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    npm.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    npm.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => npm.on("exit", (code) => r(code)));
    let url: string | undefined;
    for (let i = 0; i < 300 && !url; i++) {
      url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (!url) await sleep(100);
    }
    expect(url, out).toBeDefined();
    expect((await httpRequest(`${url}/health`)).status).toBe(200);
    npm.kill("SIGTERM");
    await exited;
    // The gateway went with npm: its port refuses connections (poll: shutdown is graceful).
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await httpRequest(`${url}/health`).then(
        () => false,
        () => true,
      );
      if (!refused) await sleep(100);
    }
    expect(refused, "the gateway still answers after npm stopped").toBe(true);
  });
});

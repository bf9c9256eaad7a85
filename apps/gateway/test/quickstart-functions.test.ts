import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import { freePort } from "./sdk-apps";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const README = readFileSync(`${ROOT}README.md`, "utf8");
const EXAMPLE = `${ROOT}examples/functions/app.mjs`;
const SEND = `${ROOT}examples/functions/send.mjs`;

describe("the README's functions quick start, as written", () => {
  let gw: RunningGateway | undefined;
  let app: ChildProcess | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    app?.kill("SIGKILL");
  });

  it("names the commands this test runs", () => {
    expect(README).toContain("npm start -- --app-url http://127.0.0.1:3000/api/inngest");
    expect(README).toContain("INNGEST_DEV=1 node examples/functions/app.mjs");
    expect(README).toContain(
      `curl -X POST http://127.0.0.1:8288/e/dev-key -d '{"name":"app/user.signup","data":{"userId":"u1"}}'`,
    );
    expect(README).toContain("welcome email sent to u1");
    expect(README).toContain("INNGEST_DEV=1 node examples/functions/send.mjs");
    expect(README).toContain(
      '"function_id":"my-app-user-onboarding","status":"Completed","output":{"onboarded":"u1"}',
    );
  });

  it("runs examples/functions/app.mjs against the gateway: the chain prints the welcome line, the run reads Completed", async () => {
    // The README's ports (8288, 3000) may be taken on a test machine: the same commands on free ports.
    const gwPort = await freePort();
    const appPort = await freePort();
    const appUrl = `http://127.0.0.1:${appPort}/api/inngest`;
    gw = await startGatewayProcess([
      "dev",
      "--port",
      String(gwPort),
      "--data-dir",
      tempDir("evt-qs-"),
      "--app-url",
      appUrl,
    ]);
    let out = "";
    app = spawn(process.execPath, [EXAMPLE], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        INNGEST_DEV: "1",
        INNGEST_BASE_URL: gw.url,
        PORT: String(appPort),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    app.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
    });
    app.stderr!.on("data", (c: Buffer) => {
      out += c.toString();
    });
    expect(await waitFor(() => out.includes(`functions served on ${appUrl}`), 15_000), out).toBe(
      true,
    );
    expect(
      await waitFor(async () => {
        const res = await httpRequest(`${gw!.url}/v1/functions`);
        return JSON.parse(res.body).data.length === 2;
      }, 15_000),
      gw.stdout(),
    ).toBe(true);
    const sent = await sendEvents(gw.url, "dev-key", {
      name: "app/user.signup",
      data: { userId: "u1" },
    });
    expect(sent.status).toBe(200);
    expect(await waitFor(() => out.includes("welcome email sent to u1"), 15_000), out).toBe(true);
    let runs: { data: unknown[] } = { data: [] };
    await waitFor(async () => {
      runs = JSON.parse((await httpRequest(`${gw!.url}/v1/events/${sent.body.ids![0]}/runs`)).body);
      return JSON.stringify(runs).includes('"status":"Completed"');
    });
    expect(runs.data).toMatchObject([
      { function_id: "my-app-user-onboarding", status: "Completed", output: { onboarded: "u1" } },
    ]);
  });

  it("runs examples/functions/send.mjs, the README's SDK snippet: the inngest SDK sends to evt-gateway dev with no key", async () => {
    const sender = await startGatewayProcess([
      "dev",
      "--port",
      String(await freePort()),
      "--data-dir",
      tempDir("evt-qs-send-"),
    ]);
    try {
      const { stdout, stderr, code } = await new Promise<{
        stdout: string;
        stderr: string;
        code: number | null;
      }>((resolve) => {
        const child = spawn(process.execPath, [SEND], {
          cwd: ROOT,
          // INNGEST_BASE_URL: the README's 8288 may be taken here; the SDK reads it as documented
          env: { PATH: process.env.PATH ?? "", INNGEST_DEV: "1", INNGEST_BASE_URL: sender.url },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
        });
        child.stderr.on("data", (c: Buffer) => {
          err += c.toString();
        });
        child.once("exit", (exitCode) => resolve({ stdout: out, stderr: err, code: exitCode }));
      });
      expect(code, stderr).toBe(0);
      const id = /^\[ '([0-9A-HJKMNP-TV-Z]{26})' \]$/.exec(stdout.trim())?.[1];
      expect(id, stdout).toBeDefined();
      const stored = await httpRequest(`${sender.url}/v1/events/${id}`);
      expect(stored.status).toBe(200);
      expect(JSON.parse(stored.body).data).toMatchObject({
        name: "app/user.signup",
        data: { userId: "u1" },
      });
    } finally {
      await stopProcess(sender);
    }
  });
});

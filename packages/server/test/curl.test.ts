import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "./support/server.js";

const run = promisify(execFile);

/** The request of the "Sending events" seed document, as a shell command (host swapped in). */
const SEED_COMMAND = `curl -X POST https://inn.gs/e/$INNGEST_EVENT_KEY \\
  -H 'Content-Type: application/json' \\
  --data '{
    "name": "user.signup",
    "data": {
      "userId": "645ea8289ad09eac29230442"
    }
  }'`;

describe("curl, exactly as the seed document shows it", () => {
  let server: TestServer;
  const key = "curl-event-key";

  beforeAll(async () => {
    server = await startServer({ eventKeys: [key] });
  });
  afterAll(async () => {
    await server.close();
  });

  async function sh(command: string) {
    const { stdout } = await run("sh", ["-c", command], {
      env: { ...process.env, INNGEST_EVENT_KEY: key },
    });
    return stdout;
  }

  it("gets the documented response shape and stores the event", async () => {
    const stdout = await sh(SEED_COMMAND.replace("https://inn.gs", server.url));
    const body = JSON.parse(stdout);
    expect(Object.keys(body)).toEqual(["ids", "status"]);
    expect(body.status).toBe(200);
    expect(body.ids).toHaveLength(1);
    expect(body.ids[0]).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const stored = await server.store.get(body.ids[0], "production");
    expect(stored).toMatchObject({
      name: "user.signup",
      data: { userId: "645ea8289ad09eac29230442" },
      env: "production",
    });
  });

  it("accepts curl's default form content type with a JSON body", async () => {
    const stdout = await sh(
      `curl -s ${server.url}/e/$INNGEST_EVENT_KEY --data '[{"name":"a"},{"name":"b"}]'`,
    );
    expect(JSON.parse(stdout)).toMatchObject({
      status: 200,
      ids: [expect.any(String), expect.any(String)],
    });
  });

  it("prints a JSON error with the status for a bad event", async () => {
    const stdout = await sh(
      `curl -s -w '\\n%{http_code}' ${server.url}/e/$INNGEST_EVENT_KEY --data '{"name":"a","ts":1700000000}'`,
    );
    const [json, code] = stdout.split("\n");
    expect(code).toBe("400");
    expect(JSON.parse(json!)).toMatchObject({
      ids: [],
      status: 400,
      error: expect.stringContaining("events[0].ts"),
    });
  });
});

import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/index";

describe("error logs", () => {
  it("write an error's cause once, as `cause`, not again in its message and stack", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: "error", destination: destination as never });
    const err = new Error("event ingest failed", { cause: new Error("SQLITE_FULL: disk full") });
    logger.error({ err, storeErr: err }, "failed");
    const line = JSON.parse(lines[0]!) as Record<
      string,
      { message: string; stack: string; cause: { message: string } }
    >;
    for (const key of ["err", "storeErr"]) {
      expect(line[key]!.message).toBe("event ingest failed");
      expect(line[key]!.stack).not.toContain("SQLITE_FULL");
      expect(line[key]!.cause.message).toBe("SQLITE_FULL: disk full");
      expect(lines[0]!.split("SQLITE_FULL").length - 1).toBe(4); // 2 keys x (cause message + cause stack)
    }
  });
});

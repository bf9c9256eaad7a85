import { randomBytes } from "node:crypto";
import { createUlidFactory } from "@evt/schema";
import { describe, expect, it } from "vitest";
import { runIdOfTraceparent, runTraceparent } from "../src/trace";

const ulid = createUlidFactory();

describe("the run id in traceparent", () => {
  it("reads back the run id it wrote, as a valid W3C traceparent", () => {
    for (let i = 0; i < 50; i++) {
      const runId = ulid();
      const header = runTraceparent(runId, randomBytes(8).toString("hex"))!;
      expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(runIdOfTraceparent(header)).toBe(runId);
    }
  });

  it("writes no header for what is not a ULID or a bad span id", () => {
    expect(runTraceparent("not-a-ulid", "00f067aa0ba902b7")).toBeNull();
    expect(runTraceparent("81ARZ3NDEKTSV4RRFFQ69G5FAV", "00f067aa0ba902b7")).toBeNull();
    expect(runTraceparent(ulid(), "xyz")).toBeNull();
  });

  it("refuses malformed headers, and other tracers' random trace ids without a lookup", () => {
    for (const bad of [
      undefined,
      "",
      "00-abc-def-01",
      `01-${"a".repeat(32)}-${"b".repeat(16)}-01`,
    ]) {
      expect(runIdOfTraceparent(bad)).toBeNull();
    }
    let accepted = 0;
    for (let i = 0; i < 2_000; i++) {
      const header = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
      if (runIdOfTraceparent(header) !== null) accepted++;
    }
    expect(accepted).toBeLessThan(10);
    // A run id made in the future (beyond a minute of skew) is not one of ours either.
    const at = (ms: number) =>
      `00-${ms.toString(16).padStart(12, "0")}${"7".repeat(20)}-00f067aa0ba902b7-01`;
    expect(runIdOfTraceparent(at(Date.now() + 3_600_000))).toBeNull();
    expect(runIdOfTraceparent(at(Date.now() - 6 * 366 * 86_400_000))).toBeNull();
    expect(runIdOfTraceparent(at(Date.now() - 30 * 86_400_000))).not.toBeNull();
  });
});

import { PACKAGE_NAME } from "@evt/functions";
import { describe, expect, it } from "vitest";

describe("@evt/functions", () => {
  it("resolves from the workspace sources", () => {
    expect(PACKAGE_NAME).toBe("@evt/functions");
  });
});

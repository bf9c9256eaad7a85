import { PACKAGE_NAME } from "@evt/dedup";
import { describe, expect, it } from "vitest";

describe("@evt/dedup", () => {
  it("resolves from the workspace sources", () => {
    expect(PACKAGE_NAME).toBe("@evt/dedup");
  });
});

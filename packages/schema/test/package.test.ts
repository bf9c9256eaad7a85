import { PACKAGE_NAME } from "@evt/schema";
import { describe, expect, it } from "vitest";

describe("@evt/schema", () => {
  it("resolves from the workspace sources", () => {
    expect(PACKAGE_NAME).toBe("@evt/schema");
  });
});

import { PACKAGE_NAME } from "@evt/store";
import { describe, expect, it } from "vitest";

describe("@evt/store", () => {
  it("resolves from the workspace sources", () => {
    expect(PACKAGE_NAME).toBe("@evt/store");
  });
});

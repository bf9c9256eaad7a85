import { PACKAGE_NAME } from "@evt/client";
import { describe, expect, it } from "vitest";

describe("@evt/client", () => {
  it("resolves from the workspace sources", () => {
    expect(PACKAGE_NAME).toBe("@evt/client");
  });
});

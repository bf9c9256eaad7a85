import { PACKAGE_NAME } from "@evt/server";
import { describe, expect, it } from "vitest";

describe("@evt/server", () => {
  it("resolves from the workspace sources", () => {
    expect(PACKAGE_NAME).toBe("@evt/server");
  });
});

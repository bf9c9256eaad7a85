import { describe, expect, it } from "vitest";
import { APP_NAME } from "../src/index";

describe("gateway", () => {
  it("names the binary", () => {
    expect(APP_NAME).toBe("evt-gateway");
  });
});

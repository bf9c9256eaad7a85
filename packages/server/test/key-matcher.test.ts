import * as nodeCrypto from "node:crypto";
import { describe, expect, it, vi } from "vitest";

// Count the SHA-256 digests the matcher computes (the cost of a key check).
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, hash: vi.fn(real.hash), createHash: vi.fn(real.createHash) };
});

const { KeyMatcher } = await import("../src/keys.js");
const digests = () =>
  vi.mocked(nodeCrypto.hash).mock.calls.length + vi.mocked(nodeCrypto.createHash).mock.calls.length;

describe("KeyMatcher", () => {
  it("hashes a key once when it matched, and every wrong key every time", () => {
    const keys = new KeyMatcher(["key-one", "key-two"]);
    const start = digests();
    expect(keys.find("key-two")).toBe(1);
    expect(keys.find("key-two")).toBe(1);
    expect(keys.matches("key-two")).toBe(true);
    expect(digests() - start).toBe(1);
    // A wrong key is never remembered: each check compares digests again.
    expect(keys.find("key-tw")).toBe(-1);
    expect(keys.find("key-tw")).toBe(-1);
    expect(keys.find("key-two ")).toBe(-1);
    expect(digests() - start).toBe(4);
    expect(keys.find("key-one")).toBe(0);
    expect(keys.find("")).toBe(-1);
    expect(keys.find(null)).toBe(-1);
  });
});

import { DEFAULT_RETRY_POLICY, type RetryPolicy, retryDelayMs, sleepUntil } from "@evt/functions";
import { describe, expect, it } from "vitest";

const policy: RetryPolicy = { baseMs: 1_000, maxMs: 60_000, jitter: 0.5 };
const low = () => 0;
const high = () => 1;

describe("retryDelayMs", () => {
  it("doubles from baseMs, the whole delay when random() is 0", () => {
    expect(retryDelayMs(0, policy, low)).toBe(1_000);
    expect(retryDelayMs(1, policy, low)).toBe(2_000);
    expect(retryDelayMs(3, policy, low)).toBe(8_000);
  });

  it("takes off up to `jitter` of the delay at random", () => {
    expect(retryDelayMs(0, policy, high)).toBe(500);
    expect(retryDelayMs(3, policy, high)).toBe(4_000);
    expect(retryDelayMs(3, policy, () => 0.5)).toBe(6_000);
  });

  it("never waits longer than maxMs", () => {
    expect(retryDelayMs(6, policy, low)).toBe(60_000);
    expect(retryDelayMs(10, policy, high)).toBe(30_000);
  });

  it("stays finite and capped for very large attempt numbers", () => {
    for (const attempt of [31, 100, 1_100, Number.MAX_SAFE_INTEGER]) {
      expect(retryDelayMs(attempt, policy, low)).toBe(60_000);
      expect(retryDelayMs(attempt, DEFAULT_RETRY_POLICY, high)).toBe(1_800_000);
    }
  });
});

describe("sleepUntil", () => {
  const now = 1_000_000;

  it.each([
    ["3s", 3_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
    ["500ms", 500],
    ["2d", 172_800_000],
    ["1w", 604_800_000],
    ["1m30s", 90_000],
  ])("reads the duration %s", (text, ms) => {
    expect(sleepUntil(text, now)).toBe(now + ms);
  });

  it("reads an ISO date as the wake time itself", () => {
    expect(sleepUntil("2030-01-01T00:00:00.000Z", now)).toBe(Date.UTC(2030, 0, 1));
  });

  it.each([["garbage"], [""], ["   "], ["3x"], ["30"], ["1m30"], ["s"]])(
    "answers null for %j",
    (text) => {
      expect(sleepUntil(text, now)).toBeNull();
    },
  );

  it("keeps wake times the run store can hold (0 up to the last Date)", () => {
    const far = sleepUntil("99999999999999999d", now);
    expect(far).toBe(8_640_000_000_000_000);
    expect(Number.isSafeInteger(far)).toBe(true);
    expect(sleepUntil("1960-01-01T00:00:00Z", now)).toBe(0);
  });

  it("answers null for no text", () => {
    expect(sleepUntil(null, now)).toBeNull();
  });
});

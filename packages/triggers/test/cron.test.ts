import { describe, expect, it } from "vitest";
import { createTriggerIndex, cronJitterMs, nextTicks } from "../src/index";

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

// Expected instants worked out by hand from each zone's 2026 rules:
// New York: EST (UTC-5) -> EDT (UTC-4) Sun 8 Mar 02:00; back Sun 1 Nov 02:00 EDT -> 01:00 EST.
// Paris: CET (UTC+1) -> CEST (UTC+2) Sun 29 Mar 02:00; back Sun 25 Oct 03:00 CEST -> 02:00 CET.
// Sydney: AEDT (UTC+11) -> AEST (UTC+10) Sun 5 Apr 03:00; AEST -> AEDT Sun 4 Oct 02:00 -> 03:00.
const cases: [cron: string, after: string, expected: string[], note: string][] = [
  [
    "TZ=America/New_York 0 12 * * *",
    "2026-03-06T18:00:00Z",
    ["2026-03-07T17:00:00.000Z", "2026-03-08T16:00:00.000Z"],
    "noon EST, then noon EDT",
  ],
  [
    "TZ=America/New_York 30 2 * * *",
    "2026-03-07T12:00:00Z",
    ["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"],
    "02:30 does not exist on 8 Mar: fires at 03:00 EDT, once",
  ],
  [
    "TZ=America/New_York 30 1 * * *",
    "2026-10-31T12:00:00Z",
    ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"],
    "01:30 happens twice on 1 Nov: fires at the first (EDT) only",
  ],
  [
    "TZ=Europe/Paris 0 12 * * 5",
    "2026-03-27T00:00:00Z",
    ["2026-03-27T11:00:00.000Z", "2026-04-03T10:00:00.000Z", "2026-04-10T10:00:00.000Z"],
    "the issue's example: Friday noon CET, then CEST",
  ],
  [
    "TZ=Europe/Paris 30 2 * * *",
    "2026-03-28T00:00:00Z",
    ["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"],
    "02:30 does not exist on 29 Mar: 03:00 CEST",
  ],
  [
    "CRON_TZ=Europe/Paris 30 2 * * *",
    "2026-10-24T00:00:00Z",
    ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"],
    "02:30 twice on 25 Oct: once, at 02:30 CEST",
  ],
  [
    "TZ=Australia/Sydney 0 2 * * *",
    "2026-04-04T00:00:00Z",
    ["2026-04-04T15:00:00.000Z", "2026-04-05T16:00:00.000Z"],
    "02:00 twice on 5 Apr: once at 02:00 AEDT; then 02:00 AEST",
  ],
  [
    "TZ=Australia/Sydney 30 2 * * *",
    "2026-10-03T00:00:00Z",
    ["2026-10-03T16:00:00.000Z", "2026-10-04T15:30:00.000Z"],
    "02:30 does not exist on 4 Oct: 03:00 AEDT",
  ],
  [
    "*/15 9-10 * * MON-FRI",
    "2026-01-02T10:50:00Z",
    ["2026-01-05T09:00:00.000Z", "2026-01-05T09:15:00.000Z"],
    "UTC without a prefix; names and steps; Friday 2 Jan to Monday 5 Jan",
  ],
  [
    "0 0 13 * FRI",
    "2026-02-01T00:00:00Z",
    ["2026-02-06T00:00:00.000Z", "2026-02-13T00:00:00.000Z", "2026-02-20T00:00:00.000Z"],
    "day of month OR day of week (Vixie, as robfig/cron); Friday the 13th once",
  ],
  ["0 12 * * *", "2026-03-27T12:00:00.000Z", ["2026-03-28T12:00:00.000Z"], "strictly after"],
  ["0 12 * * *", "2026-03-27T11:59:59.999Z", ["2026-03-27T12:00:00.000Z"], "a tick right after"],
  [
    "0 0 1 jan,jul *",
    "2026-02-01T00:00:00Z",
    ["2026-07-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
    "month names",
  ],
];

describe("nextTicks", () => {
  it.each(cases)("%s after %s (%s)", (cron, after, expected) => {
    expect(iso(nextTicks(cron, new Date(after), expected.length))).toEqual(expected);
  });

  it("count 0 gives nothing; a bad count or date is an invalid_argument error", () => {
    expect(nextTicks("* * * * *", new Date(0), 0)).toEqual([]);
    expect(() => nextTicks("* * * * *", new Date(0), -1)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => nextTicks("* * * * *", new Date(Number.NaN), 1)).toThrow(
      /after must be a valid Date/,
    );
  });

  const bad: [string, RegExp][] = [
    ["0 0 * *", /has 4 fields; a cron is five fields/],
    ["0 0 0 * * *", /has 6 fields/],
    ["@daily", /has 1 field;/],
    ["0 0 L * *", /"L" in the day of month field/],
    ["0 0 * * 5#2", /"5#2" in the day of week field/],
    ["61 * * * *", /does not parse: Invalid value for minute: 61/],
    ["0 0 * * MON-XYZ", /does not parse/],
    ["TZ=Mars/Base 0 0 * * *", /"Mars\/Base", which is not an IANA zone/],
    ["TZ=Europe/Paris", /prefix without a schedule/],
    [`0 0 * * *${" ".repeat(250)}`, /259 characters long; at most 255/],
  ];
  it.each(bad)("%j is rejected: %s", (cron, why) => {
    expect(() => nextTicks(cron, new Date(0), 1)).toThrow(why);
    expect(() => nextTicks(cron, new Date(0), 1)).toThrow(
      expect.objectContaining({
        code: "invalid_cron",
        issues: [{ path: "cron", message: expect.stringMatching(why) }],
      }),
    );
    expect(() => createTriggerIndex([{ id: "f", triggers: [{ cron }] }])).toThrow(
      expect.objectContaining({
        issues: [{ path: "functions[0].triggers[0].cron", message: expect.stringMatching(why) }],
      }),
    );
  });
});

describe("jitter", () => {
  const at = new Date("2026-03-27T11:00:00Z");
  it("is stable per function and tick, between 1 s and the jitter", () => {
    const a = cronJitterMs("5m", "weekly-report", at);
    expect(cronJitterMs("5m", "weekly-report", new Date(at.getTime()))).toBe(a);
    const seen = new Set<number>();
    for (const tick of nextTicks("* * * * *", at, 200)) {
      const j = cronJitterMs("5m", "weekly-report", tick);
      expect(j).toBeGreaterThanOrEqual(1000);
      expect(j).toBeLessThanOrEqual(300_000);
      seen.add(j);
    }
    expect(seen.size).toBeGreaterThan(150); // spread over ticks, not one constant
    expect(cronJitterMs("1s", "f", at)).toBe(1000);
    expect(cronJitterMs("1m30s", "f", at)).toBeLessThanOrEqual(90_000);
  });

  it.each(["0s", "500ms", "6m", "5 m", "five", "1d", ""])("%j is rejected", (jitter) => {
    expect(() => cronJitterMs(jitter, "f", at)).toThrow(/jitter .* from 1s to 5m/);
    expect(() =>
      createTriggerIndex([{ id: "f", triggers: [{ cron: "* * * * *", jitter }] }]),
    ).toThrow(
      expect.objectContaining({
        issues: [
          {
            path: "functions[0].triggers[0].jitter",
            message: expect.stringMatching(/from 1s to 5m/),
          },
        ],
      }),
    );
  });

  it("the index lists cron triggers for the scheduler", () => {
    const index = createTriggerIndex([
      {
        id: "a",
        triggers: [{ event: "x" }, { cron: "TZ=Europe/Paris 0 12 * * 5", jitter: "30s" }],
      },
      { id: "b", triggers: [{ cron: "0 * * * *" }] },
    ]);
    expect(index.crons()).toEqual([
      {
        functionId: "a",
        triggerIndex: 1,
        cron: "TZ=Europe/Paris 0 12 * * 5",
        timezone: "Europe/Paris",
        jitter: "30s",
        jitterMs: 30_000,
      },
      {
        functionId: "b",
        triggerIndex: 0,
        cron: "0 * * * *",
        timezone: "UTC",
        jitter: null,
        jitterMs: null,
      },
    ]);
    expect(index.match({ name: "x" })).toEqual([{ functionId: "a", triggerIndex: 0 }]);
  });
});

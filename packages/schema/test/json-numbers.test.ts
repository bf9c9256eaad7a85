import { checkJsonNumbers } from "@evt/schema";
import { describe, expect, it } from "vitest";

describe("checkJsonNumbers", () => {
  it.each([
    ['{"name":"a","data":{"amount":9007199254740993}}', "events[0].data.amount", /lose digits/],
    ['{"name":"a","data":{"n":-12345678901234567890}}', "events[0].data.n", /lose digits/],
    [
      '[{"name":"a"},{"name":"b","data":{"list":[1,2,1e400]}}]',
      "events[1].data.list[2]",
      /Infinity/,
    ],
    ['{"name":"a","data":{"tiny":1e-400}}', "events[0].data.tiny", /would read as 0/],
    ['{"name":"a","data":{"x y":{"\\"q":-1E+999}}}', 'events[0].data["x y"]["\\"q"]', /Infinity/],
    [
      `{"name":"a","data":{"tiny":0.${"0".repeat(400)}1}}`,
      "events[0].data.tiny",
      /would read as 0/,
    ],
    ['{"name":"a","ts":99999999999999999}', "events[0].ts", /lose digits/],
  ])("refuses %s at its path", (text, path, problem) => {
    const found = checkJsonNumbers(text);
    expect(found?.path).toBe(path);
    expect(found?.message).toMatch(problem);
    expect(found?.message.startsWith(`${path}: the number `)).toBe(true);
  });

  it.each([
    '{"name":"a","data":{"amount":9007199254740991,"neg":-9007199254740991}}',
    '{"name":"a","data":{"f":0.1234567890123456789,"e":1e308,"z":0,"z2":0e-999,"z3":-0.0}}',
    '{"name":"a","data":{"id":"12345678901234567890","s":"1e400"}}',
    '{"name":"12345678901234567890","data":{"1e999":1}}',
    '{"name":"a","data":{"denormal":5e-324}}',
  ])("keeps %s", (text) => {
    expect(checkJsonNumbers(text)).toBeNull();
  });

  it("cuts a very long literal in the message", () => {
    const found = checkJsonNumbers(`{"name":"a","data":{"n":${"9".repeat(500)}}}`);
    expect(found?.literal).toBe(`${"9".repeat(37)}...`);
    expect(found?.message.length).toBeLessThan(200);
  });
});

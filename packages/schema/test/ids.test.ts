import {
  createEventIdSeed,
  createUlidFactory,
  deriveEventIds,
  EvtSchemaError,
  parseEventIdSeed,
} from "@evt/schema";
import { decodeTime, isValid } from "ulid";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeBase64, encodeBase64 } from "../src/seed";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Reference ULID encoder, written independently with BigInt: 128 bits -> 26 base32 chars. */
function referenceUlid(millis: number, entropy: Uint8Array): string {
  let value = BigInt(millis);
  for (const byte of entropy) value = (value << 8n) | BigInt(byte);
  let out = "";
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(value & 31n)]! + out;
    value >>= 5n;
  }
  return out;
}

/** The 80-bit entropy of a ULID as a BigInt. */
function entropyOf(id: string): bigint {
  let value = 0n;
  for (const char of id.slice(10)) value = (value << 5n) | BigInt(CROCKFORD.indexOf(char));
  return value;
}

/** The seed derivation of the facts file, spelled out on bytes. */
function referenceDerive(millis: number, entropy: Uint8Array, position: number): string {
  const bytes = Uint8Array.from(entropy);
  const view = new DataView(bytes.buffer);
  view.setUint32(6, (view.getUint32(6) + position) >>> 0);
  return referenceUlid(millis, bytes);
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("createUlidFactory", () => {
  it("makes valid, strictly increasing ULIDs with the current time", () => {
    const next = createUlidFactory();
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, () => next());
    for (const id of ids) {
      expect(id).toMatch(ULID_RE);
      expect(isValid(id)).toBe(true);
    }
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(decodeTime(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("increments the entropy by one within a millisecond, across carries", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2025, 0, 1));
    // Entropy 00 00 00 00 01 | 00 ff ff ff fd: the low 40 bits are 3 short of a carry into
    // the high 40 bits, and every 1024 we also cross a cached-prefix boundary.
    vi.spyOn(globalThis.crypto, "getRandomValues").mockImplementation(((array: Uint8Array) => {
      array.set([0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xfd]);
      return array;
    }) as typeof globalThis.crypto.getRandomValues);
    const next = createUlidFactory();
    const ids = Array.from({ length: 2100 }, () => next());
    const first = entropyOf(ids[0]!);
    expect(first).toBe((1n << 40n) | 0xfffffffffdn);
    ids.forEach((id, i) => {
      expect(decodeTime(id)).toBe(Date.UTC(2025, 0, 1));
      expect(entropyOf(id)).toBe(first + BigInt(i));
    });
    expect(ids[3]!.slice(10)).toBe(
      referenceUlid(0, Uint8Array.from([0, 0, 0, 0, 2, 0, 0, 0, 0, 0])).slice(10),
    );
  });

  it("draws the entropy of 64 new milliseconds in one getRandomValues call, never reusing it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const t0 = Date.UTC(2025, 0, 1);
    const spy = vi.spyOn(globalThis.crypto, "getRandomValues");
    const next = createUlidFactory();
    const randoms = new Set<string>();
    for (let ms = 0; ms < 128; ms++) {
      vi.setSystemTime(t0 + ms);
      await Promise.resolve(); // a new task: the factory reads the clock again
      const id = next();
      expect(decodeTime(id)).toBe(t0 + ms);
      randoms.add(id.slice(10));
    }
    // One call per 64 milliseconds (the cost at one request per millisecond), fresh bytes each.
    expect(spy).toHaveBeenCalledTimes(2);
    expect(randoms.size).toBe(128);
  });

  it("takes fresh entropy in a new millisecond and never goes back in time", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const t0 = Date.UTC(2025, 0, 1);
    vi.setSystemTime(t0);
    const next = createUlidFactory();
    const a = next();
    await Promise.resolve(); // a new task: the factory reads the clock again
    vi.setSystemTime(t0 + 5);
    const b = next();
    expect(decodeTime(a)).toBe(t0);
    expect(decodeTime(b)).toBe(t0 + 5);
    await Promise.resolve();
    vi.setSystemTime(t0 - 1000); // the clock steps back
    const c = next();
    expect(decodeTime(c)).toBe(t0 + 5);
    expect(c > b).toBe(true);
  });
});

describe("event-id seeds", () => {
  const header = "1700000000000,AAECAwQFBgcICQ==";

  it("parses the SDK's header", () => {
    expect(parseEventIdSeed(header)).toEqual({
      millis: 1_700_000_000_000,
      entropy: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    });
    expect(parseEventIdSeed(" 1700000000000 , AAECAwQFBgcICQ ")?.entropy).toEqual(
      Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    );
  });

  it("pins the derivation: fixed vectors", () => {
    const seed = parseEventIdSeed(header)!;
    expect(deriveEventIds(seed, 3)).toEqual([
      "01HF7YAT00000G40R40M30E20A",
      "01HF7YAT00000G40R40M30E20B",
      "01HF7YAT00000G40R40M30E20C",
    ]);
  });

  it("matches an independent BigInt implementation, positions 1..n", () => {
    for (const text of [
      header,
      "1735689600123,/////////////w==",
      "281474976710655,q83vEjRWeJq83g==",
    ]) {
      const seed = parseEventIdSeed(text)!;
      expect(seed).not.toBeNull();
      const ids = deriveEventIds(seed, 50);
      ids.forEach((id, i) => {
        expect(id).toBe(referenceDerive(seed.millis, seed.entropy, i + 1));
        expect(isValid(id)).toBe(true);
        expect(decodeTime(id)).toBe(seed.millis);
      });
    }
  });

  it("wraps the counter word at 2^32 without touching byte 5", () => {
    const seed = {
      millis: 1_700_000_000_000,
      entropy: Uint8Array.from([9, 9, 9, 9, 9, 0x12, 0xff, 0xff, 0xff, 0xfe]),
    };
    const [first, second, third] = deriveEventIds(seed, 3);
    expect(first).toBe(
      referenceUlid(seed.millis, Uint8Array.from([9, 9, 9, 9, 9, 0x12, 0xff, 0xff, 0xff, 0xff])),
    );
    expect(second).toBe(
      referenceUlid(seed.millis, Uint8Array.from([9, 9, 9, 9, 9, 0x12, 0, 0, 0, 0])),
    );
    expect(third).toBe(
      referenceUlid(seed.millis, Uint8Array.from([9, 9, 9, 9, 9, 0x12, 0, 0, 0, 1])),
    );
  });

  it("gives a retried request the same ids and leaves the seed unchanged", () => {
    const seed = parseEventIdSeed(header)!;
    const copy = Uint8Array.from(seed.entropy);
    expect(deriveEventIds(seed, 10)).toEqual(deriveEventIds(parseEventIdSeed(header)!, 10));
    expect(deriveEventIds(seed, 10).slice(0, 4)).toEqual(deriveEventIds(seed, 4));
    expect(seed.entropy).toEqual(copy);
    expect(deriveEventIds(seed, 0)).toEqual([]);
  });

  it.each([
    ["absent", undefined],
    ["null", null],
    ["empty", ""],
    ["one part", "1700000000000"],
    ["three parts", "1700000000000,AAECAwQFBgcICQ==,x"],
    ["millis zero", "0,AAECAwQFBgcICQ=="],
    ["millis negative", "-5,AAECAwQFBgcICQ=="],
    ["millis not a number", "abc,AAECAwQFBgcICQ=="],
    ["millis fractional", "1700000000000.5,AAECAwQFBgcICQ=="],
    ["millis beyond ULID time", "281474976710656,AAECAwQFBgcICQ=="],
    ["entropy 8 bytes", "1700000000000,AAECAwQFBgc="],
    ["entropy 12 bytes", "1700000000000,AAECAwQFBgcICQoL"],
    ["entropy not base64", "1700000000000,!!!!!!!!!!!!!!=="],
    ["entropy empty", "1700000000000,"],
  ])("reports a malformed seed as unusable: %s", (_label, value) => {
    expect(parseEventIdSeed(value as string | null | undefined)).toBeNull();
  });

  it("creates seeds in the SDK's format that parse back", () => {
    const a = createEventIdSeed(1_700_000_000_000);
    expect(a).toMatch(/^1700000000000,[A-Za-z0-9+/]{14}==$/);
    expect(parseEventIdSeed(a)?.millis).toBe(1_700_000_000_000);
    expect(createEventIdSeed()).not.toBe(createEventIdSeed());
  });

  it("encodes and decodes base64 like Buffer", () => {
    for (let length = 0; length < 20; length++) {
      const bytes = new Uint8Array(length);
      globalThis.crypto.getRandomValues(bytes);
      const text = Buffer.from(bytes).toString("base64");
      expect(encodeBase64(bytes)).toBe(text);
      expect(decodeBase64(text)).toEqual(bytes);
    }
  });

  it("rejects impossible seeds and counts with invalid_seed", () => {
    const entropy = new Uint8Array(10);
    const bad: [unknown, number][] = [
      [{ millis: 0, entropy }, 1],
      [{ millis: 1.5, entropy }, 1],
      [{ millis: 1, entropy: new Uint8Array(9) }, 1],
      [{ millis: 1, entropy }, -1],
      [{ millis: 1, entropy }, 1.5],
    ];
    for (const [seed, count] of bad) {
      expect(() => deriveEventIds(seed as never, count)).toThrow(EvtSchemaError);
      try {
        deriveEventIds(seed as never, count);
      } catch (error) {
        expect((error as EvtSchemaError).code).toBe("invalid_seed");
        expect((error as Error).message).toMatch(/^\[evt\/schema\] deriveEventIds: .*allowed/);
      }
    }
  });
});

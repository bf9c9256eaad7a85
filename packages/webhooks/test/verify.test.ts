import { createHmac } from "node:crypto";
import { handleWebhook, validateSource, verifyRequest } from "@evt/webhooks";
import { describe, expect, it } from "vitest";
import {
  GITHUB_SECRET,
  githubHeaders,
  githubPush,
  STRIPE_SECRET,
  SVIX_SECRET,
  stripeHeaders,
  svixHeaders,
} from "./sign";

const bytes = (s: string) => Buffer.from(s);
const flip = (s: string) => s.replace("e", "E"); // one changed byte

describe("signature schemes, checked against signatures computed from each provider's published rules", () => {
  const body = JSON.stringify({ type: "user.created", data: { id: "u1" } });
  const svix = validateSource({ name: "clerk", verify: { scheme: "svix", secret: SVIX_SECRET } });
  const stripe = validateSource({
    name: "stripe",
    verify: { scheme: "stripe", secret: STRIPE_SECRET },
  });
  const github = validateSource({
    name: "gh",
    verify: { scheme: "github", secret: GITHUB_SECRET },
  });
  const now = Date.now();
  const check = (source: typeof svix, raw: string, headers: Record<string, string>, at = now) =>
    verifyRequest(source.verify, { rawBody: bytes(raw), headers, now: at });

  it("svix: accepts a v1 signature among several entries, refuses a wrong secret, a changed byte and an old or future timestamp", () => {
    const h = svixHeaders(body);
    expect(check(svix, body, h)).toEqual({ ok: true });
    expect(
      check(svix, body, { ...h, "svix-signature": `v1,AAAA v2,zzz ${h["svix-signature"]}` }),
    ).toEqual({ ok: true });
    const other = `whsec_${Buffer.from("another-key").toString("base64")}`;
    expect(check(svix, body, svixHeaders(body, { secret: other })).ok).toBe(false);
    expect(check(svix, flip(body), h).ok).toBe(false);
    const old = svixHeaders(body, { ts: Math.floor(now / 1000) - 301 });
    const result = check(svix, body, old);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.reason).toMatch(/301 s from the server's clock \(allowed: 300 s\)/);
    expect(check(svix, body, svixHeaders(body, { ts: Math.floor(now / 1000) + 400 })).ok).toBe(
      false,
    );
    expect(check(svix, body, { "svix-id": "x" }).ok).toBe(false);
  });

  it("svix: the signed content includes the id, so a signature cannot be moved to another message id", () => {
    const h = svixHeaders(body, { id: "msg_a" });
    expect(check(svix, body, { ...h, "svix-id": "msg_b" }).ok).toBe(false);
  });

  it("stripe: t and v1, with the tolerance; other v1 entries and v0 are ignored", () => {
    const h = stripeHeaders(body);
    expect(check(stripe, body, h)).toEqual({ ok: true });
    expect(check(stripe, body, { "stripe-signature": `${h["stripe-signature"]},v0=abcd` })).toEqual(
      { ok: true },
    );
    expect(check(stripe, flip(body), h).ok).toBe(false);
    expect(check(stripe, body, stripeHeaders(body, { secret: "whsec_wrong" })).ok).toBe(false);
    expect(check(stripe, body, stripeHeaders(body, { ts: Math.floor(now / 1000) - 600 })).ok).toBe(
      false,
    );
    expect(check(stripe, body, { "stripe-signature": "v1=00" }).ok).toBe(false);
  });

  it("github: sha256=<hex> over the raw body", () => {
    const raw = JSON.stringify(githubPush);
    expect(check(github, raw, githubHeaders(raw))).toEqual({ ok: true });
    expect(check(github, flip(raw), githubHeaders(raw)).ok).toBe(false);
    expect(check(github, raw, githubHeaders(raw, { secret: "nope" })).ok).toBe(false);
    expect(check(github, raw, { "x-hub-signature-256": "sha1=abc" }).ok).toBe(false);
  });

  it("hmac: a configurable header, base64 or hex, with an optional prefix", () => {
    const hex = validateSource({
      name: "h",
      verify: { scheme: "hmac", secret: "k", header: "X-Signature", prefix: "sha256=" },
    });
    const b64 = validateSource({
      name: "h",
      verify: { scheme: "hmac", secret: "k", header: "x-sig", encoding: "base64" },
    });
    const mac = createHmac("sha256", "k").update(body);
    const d = mac.digest();
    expect(check(hex, body, { "x-signature": `sha256=${d.toString("hex")}` })).toEqual({
      ok: true,
    });
    expect(check(hex, body, { "x-signature": d.toString("hex") }).ok).toBe(false);
    expect(check(b64, body, { "x-sig": d.toString("base64") })).toEqual({ ok: true });
    expect(check(b64, flip(body), { "x-sig": d.toString("base64") }).ok).toBe(false);
  });

  it("several secrets verify at once, and a rotated-out secret stops at the end of its overlap", () => {
    const raw = JSON.stringify(githubPush);
    const two = validateSource({
      name: "gh",
      verify: { scheme: "github", secret: ["new", "old"] },
    });
    expect(check(two, raw, githubHeaders(raw, { secret: "old" }))).toEqual({ ok: true });
    expect(check(two, raw, githubHeaders(raw, { secret: "new" }))).toEqual({ ok: true });
    const rotated = {
      ...github,
      verify: {
        ...github.verify,
        secrets: [
          { secret: "new", expiresAt: null },
          { secret: GITHUB_SECRET, expiresAt: now + 1000 },
        ],
      },
    };
    expect(check(rotated, raw, githubHeaders(raw))).toEqual({ ok: true });
    expect(check(rotated, raw, githubHeaders(raw), now + 1001).ok).toBe(false);
  });

  it("agrees with the example vectors the providers publish (Svix docs, GitHub docs)", () => {
    const svixDocs = validateSource({
      name: "svix-docs",
      verify: { scheme: "svix", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
    });
    const headers = {
      "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "svix-timestamp": "1614265330",
      "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    expect(check(svixDocs, '{"test": 2432232314}', headers, 1614265330_000)).toEqual({ ok: true });
    const githubDocs = validateSource({
      name: "github-docs",
      verify: { scheme: "github", secret: "It's a Secret to Everybody" },
    });
    expect(
      check(githubDocs, "Hello, World!", {
        "x-hub-signature-256":
          "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      }),
    ).toEqual({ ok: true });
  });

  it("handleWebhook answers 401 before reading the body, and never puts a secret in the message", () => {
    const outcome = handleWebhook(svix, {
      rawBody: bytes("{not json"),
      headers: svixHeaders("other"),
    });
    expect(outcome).toMatchObject({ ok: false, status: 401 });
    if (!outcome.ok) expect(outcome.error).not.toContain(SVIX_SECRET.slice(6));
  });
});

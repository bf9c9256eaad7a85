import { applyPatch, newWebhookId, sourceView, validateSource, WebhooksError } from "@evt/webhooks";
import { describe, expect, it } from "vitest";
import { SVIX_SECRET } from "./sign";

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhooksError);
    return (err as WebhooksError).issues;
  }
  throw new Error("did not throw");
};

describe("source definitions", () => {
  it("gives 26-character base32 ids (130 random bits), all different", () => {
    const ids = new Set(Array.from({ length: 1000 }, newWebhookId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[a-z2-7]{26}$/);
  });

  it("lists every problem with its path and what is allowed", () => {
    const issues = issuesOf(() =>
      validateSource({
        name: "",
        env: "bad env",
        transform: { name: "body.", colour: "x" },
        verify: { scheme: "svix", secret: "not-whsec" },
        allow: ["*"],
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      "name",
      "env",
      "transform.colour",
      "transform.name",
      "verify.secret",
      "allow[0]",
    ]);
  });

  it('refuses scheme "none" outside dev unless verify.force is true', () => {
    const issues = issuesOf(() => validateSource({ name: "x" }));
    expect(issues).toEqual([
      { path: "verify.scheme", message: expect.stringMatching(/"force": true/) },
    ]);
    expect(validateSource({ name: "x" }, { dev: true }).verify.scheme).toBe("none");
    expect(
      validateSource({ name: "x", verify: { scheme: "none", force: true } }).verify.force,
    ).toBe(true);
  });

  it("needs a fixed id of at least 22 url-safe characters in files, and refuses one from the API", () => {
    expect(
      issuesOf(() =>
        validateSource(
          { id: "short", name: "x" },
          { fixedId: true, dev: true, path: "webhooks[0]" },
        ),
      )[0]!.path,
    ).toBe("webhooks[0].id");
    expect(
      issuesOf(() => validateSource({ id: "a".repeat(30), name: "x" }, { dev: true }))[0]!.path,
    ).toBe("id");
    expect(validateSource({ id: "A".repeat(22), name: "x" }, { fixedId: true, dev: true }).id).toBe(
      "A".repeat(22),
    );
  });

  it("rotates a secret: the new one first, the old one until the overlap ends; views never show secrets", () => {
    const s = validateSource(
      { name: "c", verify: { scheme: "svix", secret: SVIX_SECRET } },
      { now: 1_000 },
    );
    const other = `whsec_${Buffer.from("next").toString("base64")}`;
    const next = applyPatch(s, { verify: { secret: other, overlap: 10 } }, { now: 2_000 });
    expect(next.verify.secrets).toEqual([
      { secret: other, expiresAt: null },
      { secret: SVIX_SECRET, expiresAt: 12_000 },
    ]);
    expect(sourceView(next, 5_000).verify).toEqual({ scheme: "svix", tolerance: 300, secrets: 2 });
    expect(sourceView(next, 13_000).verify.secrets).toBe(1);
    expect(JSON.stringify(sourceView(next))).not.toContain("whsec_");
    const now = applyPatch(next, { verify: { secret: SVIX_SECRET, overlap: 0 } }, { now: 3_000 });
    expect(now.verify.secrets).toEqual([{ secret: SVIX_SECRET, expiresAt: null }]);
  });

  it("a scheme change needs its own secret; a patch refuses unknown fields", () => {
    const s = validateSource({ name: "c", verify: { scheme: "svix", secret: SVIX_SECRET } });
    expect(issuesOf(() => applyPatch(s, { verify: { scheme: "github" } }))[0]!.path).toBe(
      "verify.secret",
    );
    expect(applyPatch(s, { verify: { scheme: "github", secret: "x" } }).verify.secrets).toEqual([
      { secret: "x", expiresAt: null },
    ]);
    expect(issuesOf(() => applyPatch(s, { id: "x" }))[0]!.path).toBe("id");
  });
});

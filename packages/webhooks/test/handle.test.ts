import { handleWebhook, parseBody, validateSource, type WebhookSource } from "@evt/webhooks";
import { describe, expect, it } from "vitest";
import {
  clerkUserCreated,
  GITHUB_SECRET,
  githubHeaders,
  githubPush,
  resendEmailDelivered,
  STRIPE_SECRET,
  SVIX_SECRET,
  stripeCheckoutCompleted,
  stripeHeaders,
  svixHeaders,
} from "./sign";

const req = (body: string, headers: Record<string, string>, query = "") => ({
  rawBody: Buffer.from(body),
  headers,
  query,
});
const none = (transform: object = {}) =>
  validateSource({ name: "t", transform, verify: { scheme: "none", force: true } });

describe("handleWebhook: provider payloads become the events a function expects", () => {
  it("Clerk user.created (svix) becomes clerk/user.created with the svix id as the event id", () => {
    const source = validateSource({
      name: "clerk",
      env: "production",
      transform: { name: "'clerk/' + body.type", data: "body.data", id: "headers['svix-id']" },
      verify: { scheme: "svix", secret: SVIX_SECRET },
    });
    const body = JSON.stringify(clerkUserCreated);
    const outcome = handleWebhook(source, req(body, svixHeaders(body, { id: "msg_clerk_1" })));
    expect(outcome).toMatchObject({
      ok: true,
      env: "production",
      events: [{ name: "clerk/user.created", data: clerkUserCreated.data, id: "msg_clerk_1" }],
    });
  });

  it("Resend email.delivered (svix) with ts from the body", () => {
    const source = validateSource({
      name: "resend",
      transform: {
        name: "'resend/' + body.type",
        data: "body.data",
        id: "headers['svix-id']",
        ts: "body.created_at",
      },
      verify: { scheme: "svix", secret: SVIX_SECRET },
    });
    const body = JSON.stringify(resendEmailDelivered);
    const outcome = handleWebhook(source, req(body, svixHeaders(body, { id: "msg_resend_1" })));
    expect(outcome).toMatchObject({
      ok: true,
      events: [
        {
          name: "resend/email.delivered",
          id: "msg_resend_1",
          ts: Date.parse("2024-02-22T23:41:12.126Z"),
          data: { email_id: "56761188-7520-42d8-8898-ff6fc54ce618" },
        },
      ],
    });
  });

  it("Stripe checkout.session.completed with the Stripe event id", () => {
    const source = validateSource({
      name: "stripe",
      transform: { name: "'stripe/' + body.type", data: "body.data.object", id: "body.id" },
      verify: { scheme: "stripe", secret: STRIPE_SECRET },
    });
    const body = JSON.stringify(stripeCheckoutCompleted);
    const outcome = handleWebhook(source, req(body, stripeHeaders(body)));
    expect(outcome).toMatchObject({
      ok: true,
      events: [
        {
          name: "stripe/checkout.session.completed",
          id: "evt_1NG8Du2eZvKYlo2CUI79vXWy",
          data: { id: "cs_test_a1b2c3", amount_total: 2000 },
        },
      ],
    });
  });

  it("GitHub push, JSON or form-encoded (payload=...), named from the event header", () => {
    const source = validateSource({
      name: "github",
      transform: {
        name: "'github/' + headers['x-github-event']",
        id: "headers['x-github-delivery']",
      },
      verify: { scheme: "github", secret: GITHUB_SECRET },
    });
    const json = JSON.stringify(githubPush);
    const a = handleWebhook(source, req(json, githubHeaders(json)));
    expect(a).toMatchObject({ ok: true, events: [{ name: "github/push", data: githubPush }] });
    const form = `payload=${encodeURIComponent(json)}`;
    const b = handleWebhook(
      source,
      req(form, { ...githubHeaders(form), "content-type": "application/x-www-form-urlencoded" }),
    );
    expect(b).toMatchObject({ ok: true, events: [{ name: "github/push", data: githubPush }] });
  });

  it("with no transform: Inngest's default name, data is the body; query is readable", () => {
    expect(handleWebhook(none(), req('{"a":1}', {}))).toMatchObject({
      ok: true,
      events: [{ name: "webhook/request.received", data: { a: 1 }, id: null }],
    });
    const q = handleWebhook(
      none({ name: "'q/' + query.source" }),
      req("{}", {}, "?source=crm&x=1"),
    );
    expect(q).toMatchObject({ ok: true, events: [{ name: "q/crm" }] });
  });

  it("split: true makes an array body one event per element", () => {
    const source = none({ name: "'batch/' + body.kind", split: true });
    const outcome = handleWebhook(source, req('[{"kind":"a"},{"kind":"b"}]', {}));
    expect(outcome).toMatchObject({ ok: true, events: [{ name: "batch/a" }, { name: "batch/b" }] });
    const bad = handleWebhook(source, req('[{"kind":"a"},{"nokind":1}]', {}));
    expect(bad).toMatchObject({ ok: false, status: 400, field: "transform.name (body[1])" });
  });

  it("allow and deny lists drop the events they refuse", () => {
    const source = validateSource({
      name: "t",
      transform: { name: "body.n", split: true },
      verify: { scheme: "none", force: true },
      allow: ["app/*"],
      deny: ["app/secret.*"],
    });
    const outcome = handleWebhook(
      source,
      req('[{"n":"app/a"},{"n":"other/b"},{"n":"app/secret.x"}]', {}),
    );
    expect(outcome).toMatchObject({ ok: true, dropped: 2, events: [{ name: "app/a" }] });
  });
});

describe("handleWebhook: failing transforms and bodies answer 400 (or 415) naming the field", () => {
  const cases: [string, object, string, string, RegExp][] = [
    ["division by zero", { data: "{'x': 1 / 0}" }, "{}", "transform.data", /division by zero/],
    [
      "a missing field",
      { name: "body.type" },
      '{"other":1}',
      "transform.name",
      /gives null: it reads a field the request does not have/,
    ],
    [
      "a non-string name",
      { name: "body.n" },
      '{"n":5}',
      "transform.name",
      /must give a non-empty string, but gives a number/,
    ],
    [
      "a list as data",
      { data: "body.items" },
      '{"items":[1]}',
      "transform.data",
      /must give a map/,
    ],
    ["an array body without split", {}, "[1,2]", "transform.data", /split: true/],
    [
      "a reserved name",
      { name: "'inngest/function.failed'" },
      "{}",
      "events[0].name",
      /reserved|inngest/,
    ],
    ["a bad ts", { ts: "'yesterday'" }, "{}", "transform.ts", /epoch milliseconds or an ISO 8601/],
  ];
  for (const [what, transform, body, field, reason] of cases) {
    it(what, () => {
      const outcome = handleWebhook(
        none(transform),
        req(body, { "content-type": "application/json" }),
      );
      expect(outcome).toMatchObject({ ok: false, status: 400, field });
      if (!outcome.ok) expect(outcome.error).toMatch(reason);
    });
  }

  it("broken JSON, bad UTF-8 and unread content types", () => {
    const s: WebhookSource = none();
    expect(handleWebhook(s, req("{nope", {}))).toMatchObject({ ok: false, status: 400 });
    expect(
      handleWebhook(s, { rawBody: Buffer.from([0x7b, 0xff, 0x7d]), headers: {} }),
    ).toMatchObject({ ok: false, status: 400, error: "the body is not valid UTF-8" });
    expect(handleWebhook(s, req("a", { "content-type": "text/plain" }))).toMatchObject({
      ok: false,
      status: 415,
    });
  });

  it("parseBody reads repeated form fields as lists", () => {
    expect(parseBody(Buffer.from("a=1&a=2&b=x"), "application/x-www-form-urlencoded")).toEqual({
      ok: true,
      value: { a: ["1", "2"], b: "x" },
    });
  });
});

describe("handleWebhook: unverified sources", () => {
  it('answers 401 for scheme "none" without force unless told it is dev mode', () => {
    const dev = validateSource({ name: "d" }, { dev: true });
    expect(handleWebhook(dev, req("{}", {}))).toMatchObject({
      ok: false,
      status: 401,
      error: expect.stringMatching(/only in dev mode/),
    });
    expect(handleWebhook(dev, req("{}", {}), { allowUnverified: true })).toMatchObject({
      ok: true,
    });
  });
});

describe("handleWebhook: no source", () => {
  it("answers 404 with nothing that tells a deleted id from one that never existed", () => {
    expect(handleWebhook(null, req("{}", {}))).toEqual({
      ok: false,
      status: 404,
      error: "no such webhook",
    });
  });
});

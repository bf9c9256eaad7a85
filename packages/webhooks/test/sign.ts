import { createHmac } from "node:crypto";

/** Signatures as each provider documents them, computed independently of the package. */
export const SVIX_SECRET = `whsec_${Buffer.from("clerk-test-signing-key-32-bytes!").toString("base64")}`;
export const STRIPE_SECRET = "whsec_stripe_test_endpoint_secret";
export const GITHUB_SECRET = "It's a Secret to Everybody";

/** Standard Webhooks: base64 HMAC-SHA256 of `${id}.${ts}.${body}` keyed by the base64 part of the secret. */
export function svixHeaders(
  body: string,
  options: { id?: string; ts?: number; secret?: string } = {},
) {
  const id = options.id ?? "msg_2a9Wvl6nLq3dKzY";
  const ts = String(options.ts ?? Math.floor(Date.now() / 1000));
  const key = Buffer.from((options.secret ?? SVIX_SECRET).slice("whsec_".length), "base64");
  const sig = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": ts,
    "svix-signature": `v1,${sig}`,
  };
}

/** Stripe: `t=<ts>,v1=<hex HMAC-SHA256 of "${t}.${body}" keyed by the endpoint secret>`. */
export function stripeHeaders(body: string, options: { ts?: number; secret?: string } = {}) {
  const t = String(options.ts ?? Math.floor(Date.now() / 1000));
  const v1 = createHmac("sha256", options.secret ?? STRIPE_SECRET)
    .update(`${t}.${body}`)
    .digest("hex");
  return { "content-type": "application/json", "stripe-signature": `t=${t},v1=${v1}` };
}

/** GitHub: `sha256=<hex HMAC-SHA256 of the body>`. */
export function githubHeaders(
  body: string,
  options: { secret?: string; event?: string; delivery?: string } = {},
) {
  const sig = createHmac("sha256", options.secret ?? GITHUB_SECRET)
    .update(body)
    .digest("hex");
  return {
    "content-type": "application/json",
    "x-github-event": options.event ?? "push",
    "x-github-delivery": options.delivery ?? "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "x-hub-signature-256": `sha256=${sig}`,
  };
}

export const clerkUserCreated = {
  data: {
    id: "user_29w83sxmDNGwOuEthce5gg56FcC",
    email_addresses: [
      { email_address: "example@example.org", id: "idn_29w83yL7CwVlJXylYLxcslromF1" },
    ],
    first_name: "Example",
    last_name: "Example",
    created_at: 1654012591514,
  },
  object: "event",
  type: "user.created",
  timestamp: 1654012591835,
};

export const resendEmailDelivered = {
  type: "email.delivered",
  created_at: "2024-02-22T23:41:12.126Z",
  data: {
    created_at: "2024-02-22T23:41:11.894719+00:00",
    email_id: "56761188-7520-42d8-8898-ff6fc54ce618",
    from: "Acme <onboarding@resend.dev>",
    to: ["delivered@resend.dev"],
    subject: "Sending this example",
  },
};

export const stripeCheckoutCompleted = {
  id: "evt_1NG8Du2eZvKYlo2CUI79vXWy",
  object: "event",
  api_version: "2022-11-15",
  created: 1686089970,
  data: {
    object: {
      id: "cs_test_a1b2c3",
      object: "checkout.session",
      amount_total: 2000,
      currency: "usd",
      customer: "cus_NffrFeUfNV2Hib",
      payment_status: "paid",
      status: "complete",
    },
  },
  livemode: false,
  type: "checkout.session.completed",
};

export const githubPush = {
  ref: "refs/heads/main",
  before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  after: "0000000000000000000000000000000000000000",
  repository: { id: 186853002, full_name: "octo-org/octo-repo", private: false },
  pusher: { name: "octocat", email: "octocat@github.com" },
  commits: [],
};

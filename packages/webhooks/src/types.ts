/** The verification schemes a source may use. */
export type VerifyScheme = "none" | "svix" | "stripe" | "github" | "hmac";

/** One signing secret; an old one stays valid until `expiresAt` after a rotation. */
export interface StoredSecret {
  secret: string;
  /** Epoch ms after which the secret no longer verifies; `null`: no end. */
  expiresAt: number | null;
}

/** How a source checks the sender's signature (as stored: with its secrets). */
export interface VerifyConfig {
  scheme: VerifyScheme;
  /** Every secret valid now (the newest first). Empty for `none`. */
  secrets: StoredSecret[];
  /** Seconds a signed timestamp may differ from the clock (svix, stripe). @default 300 */
  tolerance: number;
  /** `hmac`: the header holding the signature (lower-case). */
  header?: string;
  /** `hmac`: how the digest is written. */
  encoding?: "hex" | "base64";
  /** `hmac`: text before the digest, like `sha256=`. */
  prefix?: string;
  /** `none` outside dev mode: set to accept unsigned requests anyway. */
  force?: boolean;
}

/** CEL expressions over `body`, `headers` (lower-case names) and `query`, one per event field. */
export interface TransformSpec {
  /** @default "'webhook/request.received'" */
  name?: string;
  /** @default "body" */
  data?: string;
  id?: string;
  /** Epoch ms (a number) or an ISO 8601 string. */
  ts?: string;
  user?: string;
  /** An array body gives one event per element (each seen as `body`). @default false */
  split?: boolean;
}

/** A webhook source as stored (with secrets). */
export interface WebhookSource {
  /** The secret part of the URL `/w/<id>`: 26 base32 characters (130 random bits). */
  id: string;
  name: string;
  env: string;
  transform: TransformSpec;
  verify: VerifyConfig;
  /** Event names allowed (patterns like `clerk/*`); empty: all. */
  allow: string[];
  /** Event names refused (patterns), checked after `allow`. */
  deny: string[];
  createdAt: number;
  updatedAt: number;
}

/** A source as the API shows it: never a secret. */
export interface WebhookSourceView {
  id: string;
  /**
   * A reference to the source that is not its secret id (see `webhookRef`): what the events it
   * stores carry as `source_id`, so that an event read does not reveal the webhook's URL.
   */
  ref: string;
  name: string;
  env: string;
  transform: TransformSpec;
  verify: {
    scheme: VerifyScheme;
    tolerance: number;
    /** How many secrets verify now (2 during a rotation overlap). */
    secrets: number;
    header?: string;
    encoding?: "hex" | "base64";
    prefix?: string;
    force?: boolean;
  };
  allow: string[];
  deny: string[];
  created_at: string;
  updated_at: string;
}

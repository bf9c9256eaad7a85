/**
 * The READMEs' examples: each is a file under `examples/` that a README shows verbatim after a
 * `<!-- example: <file> -->` line (test/readme-examples.test.ts keeps both identical), and that
 * the consumer test runs unchanged in an npm project made from the packed tarballs, checking what
 * it prints line by line (test/consumer.test.ts).
 */
export interface Example {
  /** Path from the repository root. */
  file: string;
  /** The READMEs that show it (paths from the repository root). */
  readmes: string[];
  /** What the example prints, one pattern per line, in order. */
  output: RegExp[];
  /**
   * The example sends events to a running Event API: the test starts one and points the
   * example at it through these environment variables (the ones the example documents).
   */
  sendsTo?: (url: string) => Record<string, string>;
  /**
   * Run by this test instead of the consumer test: the example needs no @evt package but
   * something the tarball project lacks (the quick start's SDK snippet: the inngest SDK and
   * evt-gateway itself).
   */
  runBy?: string;
}

const ULID = "[0-9A-HJKMNP-TV-Z]{26}";
/** `console.log` of an array holding one ULID string. */
const ONE_ID = new RegExp(`^\\[ '${ULID}' \\]$`);

export const EXAMPLES: Example[] = [
  {
    file: "examples/schema/readme.mjs",
    readmes: ["packages/schema/README.md"],
    output: [
      /^1 invalid event: events\[1\]\.name: must not be empty .*; events\[1\]\.ts: .*\(seconds\?\)/,
      new RegExp(`^${ULID}$`),
    ],
  },
  {
    file: "examples/client/readme.mjs",
    readmes: ["packages/client/README.md"],
    output: [ONE_ID],
    sendsTo: (url) => ({ EVT_BASE_URL: url }),
  },
  {
    file: "examples/dedup/readme.mjs",
    readmes: ["packages/dedup/README.md"],
    output: [
      /^\[ \{ fresh: true \} \]$/,
      /^\[ \{ fresh: false, value: '01JEVT000000000000000000A1' \} \]$/,
    ],
  },
  {
    file: "examples/store/readme.mjs",
    readmes: ["packages/store/README.md"],
    output: [/^\[ 'app\/user\.created' \] null$/],
  },
  {
    file: "examples/server/readme.mjs",
    readmes: ["packages/server/README.md"],
    output: [ONE_ID, /^app\/user\.signup \{ userId: 'u1' \}$/],
  },
  {
    file: "examples/triggers/readme.mjs",
    readmes: ["packages/triggers/README.md"],
    output: [
      /^\[ \{ functionId: 'shop-a-orders', triggerIndex: 0 \} \]$/,
      /^\[ 2026-03-27T11:00:00\.000Z, 2026-04-03T10:00:00\.000Z \]$/,
    ],
  },
  {
    file: "examples/webhooks/readme.mjs",
    readmes: ["packages/webhooks/README.md"],
    output: [
      /^github\/push d-1 \{ ref: 'refs\/heads\/main' \}$/,
      /^401 signature check failed \(github\): the signature does not match any of the source's secrets$/,
    ],
  },
  {
    file: "examples/functions/readme.mjs",
    readmes: ["packages/functions/README.md"],
    output: [/^true false true$/, /^completed done$/],
  },
  {
    // The root quick start's SDK snippet: the official inngest SDK sending to evt-gateway dev.
    file: "examples/functions/send.mjs",
    readmes: ["README.md"],
    output: [ONE_ID],
    runBy: "apps/gateway/test/quickstart-functions.test.ts",
  },
];

/**
 * Files under examples/ that are not README examples run here, with the test that runs them.
 */
export const TESTED_ELSEWHERE: Record<string, string> = {
  "examples/functions/app.mjs": "apps/gateway/test/quickstart-functions.test.ts",
};

/** The READMEs whose first code example must be one of {@link EXAMPLES}. */
export const PACKAGE_READMES = [
  "packages/schema/README.md",
  "packages/client/README.md",
  "packages/dedup/README.md",
  "packages/store/README.md",
  "packages/server/README.md",
  "packages/triggers/README.md",
  "packages/functions/README.md",
  "packages/webhooks/README.md",
];

/** A README's `<!-- example: <file> -->` blocks: the file named and the code shown under it. */
export function readmeExamples(markdown: string): { file: string; code: string | null }[] {
  const found: { file: string; code: string | null }[] = [];
  const marker = /^<!-- example: (\S+) -->\n/gm;
  for (const m of markdown.matchAll(marker)) {
    const rest = markdown.slice((m.index ?? 0) + m[0].length);
    const block = /^```[a-z]*\n([\s\S]*?\n)```(\n|$)/.exec(rest);
    found.push({ file: m[1] ?? "", code: block ? (block[1] ?? "") : null });
  }
  return found;
}

/** Index in `markdown` of its first fenced code block that is not shell or JSON output. */
export function firstCodeExample(markdown: string): number {
  const m = /^```(js|ts|mjs|javascript|typescript)\n/m.exec(markdown);
  return m ? m.index : -1;
}

import { createHmac } from "node:crypto";
import { handleWebhook, validateSource } from "@evt/webhooks";

const source = validateSource({
  name: "github",
  verify: { scheme: "github", secret: "s3cret" },
  transform: { name: "'github/' + headers['x-github-event']", id: "headers['x-github-delivery']" },
});
const rawBody = Buffer.from('{"ref":"refs/heads/main"}');
const signature = `sha256=${createHmac("sha256", "s3cret").update(rawBody).digest("hex")}`;
const headers = { "x-github-event": "push", "x-github-delivery": "d-1", "x-hub-signature-256": signature };
const ok = handleWebhook(source, { rawBody, headers });
console.log(ok.events[0].name, ok.events[0].id, ok.events[0].data); // github/push d-1 { ref: 'refs/heads/main' }
const bad = handleWebhook(source, { rawBody: Buffer.from('{"ref":"refs/heads/evil"}'), headers });
console.log(bad.status, bad.error); // 401 signature check failed (github): the signature does not match any of the source's secrets

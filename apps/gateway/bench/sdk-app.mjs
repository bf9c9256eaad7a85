// The bench's SDK app: one function served by the official `inngest` SDK (v4) on node:http,
// a single call per run (no steps), in a process of its own.
// Usage: node bench/sdk-app.mjs <port> <gateway url>; prints "listening <serve url>".
import { createServer } from "node:http";
import { Inngest } from "inngest";
import { serve } from "inngest/node";

const [port, gatewayUrl] = process.argv.slice(2);
process.env.INNGEST_DEV = "1";
process.env.INNGEST_BASE_URL = gatewayUrl;
const inngest = new Inngest({ id: "bench-sdk", eventKey: "bench-fn-key" });
const one = inngest.createFunction(
  { id: "one", retries: 0, triggers: [{ event: "bench/sdk" }] },
  async ({ event }) => ({ ok: true, i: event.data.i }),
);
const handler = serve({ client: inngest, functions: [one] });
const server = createServer((req, res) => {
  if (req.url?.startsWith("/api/inngest")) return handler(req, res);
  res.writeHead(404).end();
});
server.listen(Number(port), "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}/api/inngest`);
});

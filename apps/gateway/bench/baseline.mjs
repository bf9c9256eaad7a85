// The bench baseline: a bare node:http server that reads the body, JSON.parses it and answers
// a fixed {ids,status} body. Prints its URL on stdout like the gateway does.
import { createServer } from "node:http";

const answer = JSON.stringify({ ids: ["01H08W4TMBNKMEWFD0TYC532GG"], status: 200 });
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    try {
      JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
    res.end(answer);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`baseline listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));

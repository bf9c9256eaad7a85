import { connect, createServer, type Server, type Socket } from "node:net";

/** A TCP proxy on port 0 in front of a real server that can cut connections mid-request. */
export interface CuttingProxy {
  port: number;
  /**
   * `"request"`: the next bytes a client sends destroy its connection, unforwarded (the server
   * never sees the request). `"reply"`: requests reach the server, but the next bytes it answers
   * destroy the connection (the request ran; the client never learns the outcome).
   */
  cut: false | "request" | "reply";
  close(): Promise<void>;
}

export async function startProxy(targetHost: string, targetPort: number): Promise<CuttingProxy> {
  const sockets = new Set<Socket>();
  const proxy: CuttingProxy = { port: 0, cut: false, close: async () => {} };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("data", (chunk) => {
      if (proxy.cut === "request") drop();
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (proxy.cut === "reply") drop();
      else client.write(chunk);
    });
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  proxy.port = (server.address() as { port: number }).port;
  proxy.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return proxy;
}

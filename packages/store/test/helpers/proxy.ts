import { connect, createServer, type Server, type Socket } from "node:net";

/** What the proxy does with bytes from the client. */
export type ProxyMode = "forward" | "drop" | "hold";

/**
 * A tiny TCP proxy for failure tests: `forward` passes bytes both ways, `drop` destroys the
 * connection as soon as the client sends anything (a server dying mid-request), `hold`
 * swallows the client's bytes (a server that stopped answering).
 */
export async function startProxy(targetPort: number, targetHost = "127.0.0.1") {
  let mode: ProxyMode = "forward";
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("data", (chunk) => {
      if (mode === "drop") kill();
      else if (mode === "forward") upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (mode === "forward") client.write(chunk);
    });
    client.on("error", kill).on("close", kill);
    upstream.on("error", kill).on("close", kill);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("proxy has no port");
  return {
    port: address.port,
    setMode(next: ProxyMode) {
      mode = next;
    },
    /** Destroy every open connection (the server "restarts"). */
    destroyAll() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on which nothing listens (bound once, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

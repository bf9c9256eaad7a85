import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** The open connections of a server, and what `listen()`'s shutdown does with them. */
export interface Connections {
  /** Counts a request on its connection; call before anything can answer it. */
  track(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Shutdown began: end keep-alive connections that are between requests now, and every
   * other connection once it has no request left to answer.
   */
  closeIdle(): void;
  /**
   * After `graceMs`, destroy every connection that is not answering a request (a fresh one
   * that never sent its request, a client that ignores the end of a keep-alive connection).
   */
  endSilentAfter(graceMs: number): void;
  /** Destroy every connection, busy or not (the hard cut). */
  destroyAll(): void;
  /** Clear the timer of {@link Connections.endSilentAfter}. */
  stop(): void;
}

/**
 * Tracks the connections of `server` and how many requests each one is answering, so shutdown
 * can end idle keep-alive connections at once, let busy ones finish, and give a fresh
 * connection a moment to send its request (which then gets its answer with `connection: close`).
 */
export function trackConnections(server: Server): Connections {
  const state = new Map<Socket, { active: number; served: number }>();
  let closing = false;
  let silentTimer: ReturnType<typeof setTimeout> | undefined;

  server.on("connection", (socket: Socket) => {
    state.set(socket, { active: 0, served: 0 });
    socket.once("close", () => state.delete(socket));
  });
  return {
    track(req, res) {
      const s = state.get(req.socket);
      if (!s) return;
      s.active++;
      // `on`, not `once`: a response finishes once, and once's wrapper costs on every request.
      res.on("finish", () => {
        s.active--;
        s.served++;
        // Headers may have gone out with keep-alive before shutdown began: end it here.
        if (closing && s.active === 0) req.socket.end();
      });
    },
    closeIdle() {
      closing = true;
      for (const [socket, s] of state) {
        if (s.active === 0 && s.served > 0) socket.end();
      }
    },
    endSilentAfter(graceMs) {
      clearTimeout(silentTimer);
      silentTimer = setTimeout(() => {
        for (const [socket, s] of state) if (s.active === 0) socket.destroy();
      }, graceMs);
      silentTimer.unref();
    },
    destroyAll() {
      for (const socket of state.keys()) socket.destroy();
    },
    stop() {
      clearTimeout(silentTimer);
    },
  };
}

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Inngest, NonRetriableError } from "inngest";
import { serve } from "inngest/node";
import { Inngest as Inngest3, NonRetriableError as NonRetriableError3 } from "inngest-v3";
import { serve as serve3 } from "inngest-v3/node";

/** What the functions of a test app did, as seen from inside them (the SDK runs them). */
export interface Journal {
  /** One entry per execution of a function body (each call of the SDK), by function id. */
  calls: { fn: string; attempt: number; runId: string; data: Record<string, unknown> }[];
  /** Work that must happen once per run (inside step.run), by function id. */
  effects: { fn: string; runId: string; key: string }[];
  /** What onFailure handlers received. */
  failures: { functionId: string; error: string; eventName: string }[];
}

export interface TestApp {
  url: string;
  journal: Journal;
  close(): Promise<void>;
}

export type SdkVersion = "v3" | "v4";

/** Serve a request listener on 127.0.0.1 at `port` (0: any free port). */
export async function listenOn(
  handler: Parameters<typeof createServer>[1],
  port = 0,
): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

/** A free TCP port on 127.0.0.1 (listen on 0, close). */
export async function freePort(): Promise<number> {
  const s = await listenOn(() => {});
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The seed documents' functions, served by the real SDK (v3 or v4) in dev mode against the
 * gateway at `gatewayUrl`: `user-onboarding` on `app/user.signup` sends `app/user.activated`;
 * `on-activated` records it; `send-welcome-email` and `import-contacts` fan out from
 * `user.signup`; `flaky` throws on attempt 0; `fatal` throws NonRetriableError and has an
 * onFailure handler; `sleeper` sleeps `event.data.sleep` between two steps; `parallel` runs two
 * steps with Promise.all.
 */
export async function startSeedApp(
  version: SdkVersion,
  gatewayUrl: string,
  options: { appId?: string; port?: number; signingKey?: string } = {},
): Promise<TestApp> {
  const appId = options.appId ?? `seed-${version}`;
  const journal: Journal = { calls: [], effects: [], failures: [] };
  const cloud = options.signingKey !== undefined;
  const record = (fn: string, attempt: number, runId: string, data: unknown) =>
    journal.calls.push({ fn, attempt, runId, data: (data ?? {}) as Record<string, unknown> });
  const effect = (fn: string, runId: string, key: string) =>
    journal.effects.push({ fn, runId, key });

  // The same bodies for both SDKs; only createFunction's signature differs.
  type Ctx = {
    event: { name: string; data: Record<string, unknown> };
    step: {
      run<T>(id: string, fn: () => T | Promise<T>): Promise<T>;
      sleep(id: string, d: string): Promise<void>;
      sendEvent(id: string, e: unknown): Promise<unknown>;
    };
    attempt: number;
    runId: string;
    error?: Error;
  };
  const Fatal = version === "v3" ? NonRetriableError3 : NonRetriableError;
  const defs: {
    id: string;
    trigger: { event: string };
    retries?: number;
    onFailure?: (ctx: Ctx) => Promise<unknown>;
    body: (ctx: Ctx) => Promise<unknown>;
  }[] = [
    {
      id: "user-onboarding",
      trigger: { event: "app/user.signup" },
      body: async ({ event, step, attempt, runId }) => {
        record("user-onboarding", attempt, runId, event.data);
        await step.run("create-profile", () => effect("user-onboarding", runId, "profile"));
        await step.sendEvent("activate", {
          name: "app/user.activated",
          data: { userId: event.data.userId },
        });
        return { onboarded: event.data.userId };
      },
    },
    {
      id: "on-activated",
      trigger: { event: "app/user.activated" },
      body: async ({ event, attempt, runId }) => {
        record("on-activated", attempt, runId, event.data);
        return { activated: event.data.userId };
      },
    },
    {
      id: "send-welcome-email",
      trigger: { event: "user.signup" },
      body: async ({ event, step, attempt, runId }) => {
        record("send-welcome-email", attempt, runId, event.data);
        await step.run("send", () => effect("send-welcome-email", runId, "sent"));
        return "sent";
      },
    },
    {
      id: "import-contacts",
      trigger: { event: "user.signup" },
      body: async ({ event, attempt, runId }) => {
        record("import-contacts", attempt, runId, event.data);
        return "imported";
      },
    },
    {
      id: "flaky",
      trigger: { event: "test/flaky" },
      retries: 2,
      body: async ({ event, attempt, runId }) => {
        record("flaky", attempt, runId, event.data);
        if (attempt === 0) throw new Error("first attempt fails");
        return { attempt };
      },
    },
    {
      id: "fatal",
      trigger: { event: "test/fatal" },
      retries: 3,
      onFailure: async ({ event, error }) => {
        const data = event.data as { function_id: string; event: { name: string } };
        journal.failures.push({
          functionId: data.function_id,
          error: error?.message ?? "",
          eventName: data.event.name,
        });
      },
      body: async ({ event, attempt, runId }) => {
        record("fatal", attempt, runId, event.data);
        throw new Fatal("this cannot work");
      },
    },
    {
      id: "sleeper",
      trigger: { event: "test/sleep" },
      body: async ({ event, step, attempt, runId }) => {
        record("sleeper", attempt, runId, event.data);
        await step.run("before", () => effect("sleeper", runId, "before"));
        await step.sleep("nap", String(event.data.sleep ?? "1s"));
        await step.run("after", () => effect("sleeper", runId, "after"));
        return "rested";
      },
    },
    {
      id: "parallel",
      trigger: { event: "test/parallel" },
      body: async ({ event, step, attempt, runId }) => {
        record("parallel", attempt, runId, event.data);
        const [a, b] = await Promise.all([
          step.run("a", () => {
            effect("parallel", runId, "a");
            return "A";
          }),
          step.run("b", () => {
            effect("parallel", runId, "b");
            return "B";
          }),
        ]);
        return `${a}${b}`;
      },
    },
  ];

  let handler: Parameters<typeof createServer>[1];
  if (version === "v4") {
    const client = new Inngest({
      id: appId,
      ...(cloud
        ? { isDev: false, signingKey: options.signingKey!, baseUrl: gatewayUrl }
        : { isDev: true, baseUrl: gatewayUrl }),
    });
    const functions = defs.map((d) =>
      client.createFunction(
        {
          id: d.id,
          triggers: [d.trigger],
          ...(d.retries !== undefined ? { retries: d.retries as 0 } : {}),
          ...(d.onFailure ? { onFailure: d.onFailure as never } : {}),
        },
        d.body as never,
      ),
    );
    handler = serve({ client, functions });
  } else {
    const client = new Inngest3({
      id: appId,
      ...(cloud
        ? { isDev: false, signingKey: options.signingKey!, baseUrl: gatewayUrl }
        : { isDev: true, baseUrl: gatewayUrl }),
    });
    const functions = defs.map((d) =>
      client.createFunction(
        {
          id: d.id,
          ...(d.retries !== undefined ? { retries: d.retries as 0 } : {}),
          ...(d.onFailure ? { onFailure: d.onFailure as never } : {}),
        },
        d.trigger,
        d.body as never,
      ),
    );
    handler = serve3({ client, functions });
  }
  const server = await listenOn(handler, options.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/api/inngest`,
    journal,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

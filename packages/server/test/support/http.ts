import { type ApiResponse, type EventApi, responseText } from "@evt/server";

const encoder = new TextEncoder();

/** Parsed answer of a transport-free call. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: test helper returns arbitrary JSON
  json: any;
}

async function parse(res: ApiResponse): Promise<Answer> {
  const text = await responseText(res);
  return {
    status: res.status,
    headers: res.headers,
    json: text === "" ? null : JSON.parse(text),
  };
}

/** POST a JSON value (or raw text/bytes) to `/e/<key>` through `api.handle`. */
export async function send(
  api: EventApi,
  body: unknown,
  options: {
    key?: string;
    env?: string;
    seed?: string;
    headers?: Record<string, string>;
    raw?: boolean;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string | undefined> = {
    "content-type": "application/json",
    ...options.headers,
  };
  if (options.env !== undefined) headers["x-inngest-env"] = options.env;
  if (options.seed !== undefined) headers["x-inngest-event-id-seed"] = options.seed;
  const bytes =
    body instanceof Uint8Array
      ? body
      : encoder.encode(options.raw ? String(body) : JSON.stringify(body));
  return parse(
    await api.handle({
      method: "POST",
      url: `/e/${options.key ?? "test-key"}`,
      headers,
      body: bytes,
    }),
  );
}

/** GET a path through `api.handle`. */
export async function get(
  api: EventApi,
  url: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return parse(await api.handle({ method: "GET", url, headers, body: null }));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// The evt console: a page of the gateway that reads its JSON API. No framework: a few views
// drawn with DOM calls (text is always set as text, never parsed as HTML), a hash router, and
// the live stream read with fetch so that it can carry the API key.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface EventItem {
  internal_id: string;
  id: string | null;
  name: string;
  env?: string;
  received_at: number;
  ts: number;
  /** Where it came from, as the server stored it; `null` for events stored before that. */
  source?: "api" | "webhook" | "function" | "cron" | "evt" | null;
  /** The webhook's ref or the run id behind it. */
  source_id?: string | null;
  data?: Json;
  user?: Json;
}

interface RunItem {
  run_id: string;
  function_id: string;
  status: string;
  event_id: string;
  attempt?: number;
  output?: Json;
  error?: Json;
  last_error?: Json;
  started_at?: string | null;
  ended_at?: string | null;
  created_at?: string | null;
  next_at?: string | null;
  steps?: StepItem[];
  /** How each attempt ended, in order (the counter starts again at 0 after each step). */
  attempts?: {
    attempt: number;
    outcome: "retried" | "failed" | "completed";
    started_at: string | null;
    ended_at: string;
    error: Json;
  }[];
  waiting_for?: {
    step_id: string;
    name: string | null;
    kind: "waitForEvent" | "invoke";
    event: string;
    if: string | null;
    since: string | null;
    timeout_at: string | null;
  }[];
}

interface StepItem {
  id: string;
  name?: string | null;
  op: string;
  data: Json;
  error: Json;
  attempts: number;
  started_at?: string | null;
  updated_at: string | null;
}

const KEY_STORAGE = "evt.apiKey";
const main = document.getElementById("main") as HTMLElement;
const live = document.getElementById("live") as HTMLElement;
const keyForm = document.getElementById("key-form") as HTMLFormElement;
const keyInput = document.getElementById("key-input") as HTMLInputElement;

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | ((e: Event) => void)> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k, v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  const res = await fetch(path, { ...init, headers });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (res.status === 401) askForKey();
  if (!res.ok) {
    const error = (body as { error?: unknown } | null)?.error;
    throw new HttpError(res.status, typeof error === "string" ? error : `HTTP ${res.status}`);
  }
  return body as T;
}

function askForKey(): void {
  keyForm.hidden = false;
  keyInput.focus();
}

keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = keyInput.value.trim();
  if (key === "") return;
  sessionStorage.setItem(KEY_STORAGE, key);
  keyInput.value = "";
  keyForm.hidden = true;
  connect();
  void route();
});

function when(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  // Today's times without the date: the stream is mostly today.
  return d.toDateString() === new Date().toDateString()
    ? d.toLocaleTimeString()
    : d.toLocaleString();
}

function pretty(value: Json | undefined): string {
  return JSON.stringify(value ?? null, null, 2);
}

function badge(run: Pick<RunItem, "run_id" | "function_id" | "status">): HTMLElement {
  return h(
    "a",
    {
      class: `badge s-${run.status}`,
      href: `#/runs/${encodeURIComponent(run.run_id)}`,
      title: `${run.function_id}: ${run.status}`,
      "data-run": run.run_id,
    },
    `${run.function_id} · ${run.status}`,
  );
}

/**
 * Where an event came from, as stored by the server (`—` for events stored before evt
 * recorded it); an event a run sent links to that run.
 */
function sourceCell(e: EventItem): HTMLElement | string {
  const source = e.source ?? null;
  if (source === null) return "—";
  if (source === "function" && e.source_id) {
    return h(
      "a",
      { href: `#/runs/${encodeURIComponent(e.source_id)}`, title: `run ${e.source_id}` },
      source,
    );
  }
  return e.source_id ? h("span", { title: e.source_id }, source) : source;
}

/** Turns an event name filter with `*` wildcards into a test (as triggers read them). */
function nameTest(filter: string): (name: string) => boolean {
  if (filter === "") return () => true;
  if (!filter.includes("*")) return (name) => name === filter;
  const re = new RegExp(
    `^${filter
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
  );
  return (name) => re.test(name);
}

// --- the live stream -------------------------------------------------------------------

type Listener = (kind: "event" | "run", payload: unknown) => void;
const listeners = new Set<Listener>();
let streamAbort: AbortController | null = null;

function connect(): void {
  streamAbort?.abort();
  const controller = new AbortController();
  streamAbort = controller;
  const headers: Record<string, string> = { accept: "text/event-stream" };
  const key = apiKey();
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const retry = () => {
    live.className = "live";
    if (!controller.signal.aborted) setTimeout(connect, 2_000);
  };
  fetch("/v1/stream", { headers, signal: controller.signal })
    .then(async (res) => {
      if (res.status === 401) {
        live.textContent = "needs an API key";
        askForKey();
        return;
      }
      if (!res.ok || res.body === null) {
        live.textContent = `live updates unavailable (HTTP ${res.status})`;
        retry();
        return;
      }
      live.textContent = "live";
      live.className = "live on";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf("\n\n");
          let kind = "";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) kind = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if ((kind === "event" || kind === "run") && data !== "") {
            const payload: unknown = JSON.parse(data);
            for (const l of listeners) l(kind, payload);
          }
        }
      }
      live.textContent = "reconnecting…";
      retry();
    })
    .catch(() => {
      if (controller.signal.aborted) return;
      live.textContent = "reconnecting…";
      retry();
    });
}

/** Listen to the stream while the current view is shown. */
let viewListeners: Listener[] = [];
function onStream(l: Listener): void {
  listeners.add(l);
  viewListeners.push(l);
}

// --- views -------------------------------------------------------------------------------

function show(title: string, ...children: Child[]): void {
  delete main.dataset.settled;
  const shown = children.filter(
    (c): c is Node | string => c !== null && c !== undefined && c !== false,
  );
  // A redraw keeps the focus where it was (a button of the view, say) when it is still there.
  const had = main.contains(document.activeElement) ? document.activeElement : null;
  main.replaceChildren(h("h1", {}, title), ...shown);
  document.title = `${title} · evt console`;
  if (focusMain) {
    focusMain = false;
    main.focus({ preventScroll: true });
  } else if (had !== null && !main.contains(had)) {
    // The same control in the new drawing (a button by its label, a link by its target).
    const same = [...main.querySelectorAll<HTMLElement>(had.tagName)].find(
      (el) =>
        el.textContent === had.textContent && el.getAttribute("href") === had.getAttribute("href"),
    );
    (same ?? main).focus({ preventScroll: true });
  }
}

function failure(err: unknown): HTMLElement {
  const status = err instanceof HttpError ? ` (HTTP ${err.status})` : "";
  return h("p", { class: "error", role: "alert" }, `${(err as Error).message}${status}`);
}

async function streamView(): Promise<void> {
  const filter = h("input", {
    type: "search",
    placeholder: "name, e.g. app/user.* (Enter)",
    "aria-label": "Filter by event name",
    value: new URLSearchParams(location.hash.split("?")[1] ?? "").get("name") ?? "",
  });
  const since = h("input", { type: "datetime-local", "aria-label": "Received since", step: "1" });
  const until = h("input", { type: "datetime-local", "aria-label": "Received before", step: "1" });
  const inRange = (e: EventItem) =>
    (since.value === "" || e.received_at >= new Date(since.value).getTime()) &&
    (until.value === "" || e.received_at < new Date(until.value).getTime());
  const body = h("tbody", {});
  const table = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "aria-label": "Events, newest first" },
      thead("Received", "Name", "Source", "Runs", h("th", { class: "wide" }, "Id")),
      body,
    ),
  );
  const more = h("button", { type: "button" }, "Older events");
  const status = h("p", { class: "muted" });
  const rows = new Map<string, HTMLElement>();
  const runCells = new Map<string, HTMLElement>();
  let test = nameTest(filter.value.trim());
  let cursor: string | null = null;

  const row = (e: EventItem, fresh: boolean): HTMLElement => {
    const runs = h("td", {});
    runCells.set(e.internal_id, runs);
    const tr = h(
      "tr",
      { "data-event": e.internal_id, class: fresh ? "fresh" : "" },
      h("td", { class: "when" }, when(e.received_at)),
      h("td", {}, h("a", { href: `#/events/${encodeURIComponent(e.internal_id)}` }, e.name)),
      h("td", { class: "muted", "data-source": e.source ?? "" }, sourceCell(e)),
      runs,
      h("td", { class: "mono wide" }, e.id ?? e.internal_id),
    );
    rows.set(e.internal_id, tr);
    return tr;
  };

  const setRun = (run: RunItem) => {
    const cell = runCells.get(run.event_id);
    if (!cell) return;
    const existing = cell.querySelector(`[data-run="${CSS.escape(run.run_id)}"]`);
    const b = badge(run);
    if (existing) existing.replaceWith(b);
    else cell.append(b);
  };

  const loadRuns = async (ids: string[]) => {
    // A few at a time: a page of 50 events is 50 small reads.
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          const { data } = await api<{ data: RunItem[] }>(
            `/v1/events/${encodeURIComponent(id)}/runs`,
          );
          for (const r of data) setRun(r);
        } catch {
          // The badge stays empty; the event page shows the error.
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  };

  const load = async (reset: boolean) => {
    if (reset) {
      body.replaceChildren();
      rows.clear();
      runCells.clear();
      cursor = null;
    }
    const f = filter.value.trim();
    const q = new URLSearchParams({ limit: "50" });
    if (f !== "" && !f.includes("*")) q.set("name", f);
    if (since.value !== "") q.set("since", new Date(since.value).toISOString());
    if (until.value !== "") q.set("until", new Date(until.value).toISOString());
    if (cursor !== null) q.set("cursor", cursor);
    try {
      const page = await api<{ data: EventItem[]; cursor: string | null }>(`/v1/events?${q}`);
      const shown = page.data.filter((e) => test(e.name));
      for (const e of shown) if (!rows.has(e.internal_id)) body.append(row(e, false));
      cursor = page.cursor;
      more.hidden = cursor === null;
      status.textContent = rows.size === 0 ? "No events yet. Send one: curl -X POST …/e/<key>" : "";
      await loadRuns(shown.map((e) => e.internal_id));
      // For tests and benchmarks: the page and the runs of its rows are drawn.
      main.dataset.settled = String(rows.size);
    } catch (err) {
      status.replaceChildren(failure(err));
    }
  };

  filter.addEventListener("keydown", (e) => {
    if ((e as KeyboardEvent).key !== "Enter") return;
    test = nameTest(filter.value.trim());
    void load(true);
  });
  more.addEventListener("click", () => void load(false));
  onStream((kind, payload) => {
    if (kind === "event") {
      const e = payload as EventItem;
      if (!test(e.name) || !inRange(e) || rows.has(e.internal_id)) return;
      body.prepend(row(e, true));
      status.textContent = "";
    } else {
      setRun(payload as RunItem);
    }
  });
  for (const input of [since, until]) input.addEventListener("change", () => void load(true));
  show(
    "Stream",
    h(
      "div",
      { class: "toolbar" },
      filter,
      h("label", {}, "since ", since),
      h("label", {}, "before ", until),
    ),
    status,
    table,
    more,
  );
  await load(true);
}

async function eventView(id: string): Promise<void> {
  show("Event", h("p", { class: "muted" }, "Loading…"));
  try {
    const [{ data: event }, { data: runs }] = await Promise.all([
      api<{ data: EventItem }>(`/v1/events/${encodeURIComponent(id)}`),
      api<{ data: RunItem[] }>(`/v1/events/${encodeURIComponent(id)}/runs`),
    ]);
    const runList = h("div", { "aria-label": "Runs" }, ...runs.map(badge));
    if (runs.length === 0) runList.append(h("span", { class: "muted" }, "No function ran on it."));
    onStream((kind, payload) => {
      const run = payload as RunItem;
      if (kind !== "run" || run.event_id !== id) return;
      const existing = runList.querySelector(`[data-run="${CSS.escape(run.run_id)}"]`);
      if (existing) existing.replaceWith(badge(run));
      else runList.append(badge(run));
    });
    show(
      event.name,
      h(
        "dl",
        {},
        h("dt", {}, "Internal id"),
        h("dd", { class: "mono" }, event.internal_id),
        h("dt", {}, "Id"),
        h("dd", { class: "mono" }, event.id ?? "—"),
        h("dt", {}, "Received"),
        h("dd", {}, when(event.received_at)),
        h("dt", {}, "Time (ts)"),
        h("dd", {}, when(event.ts)),
        h("dt", {}, "Environment"),
        h("dd", {}, event.env ?? "—"),
        h("dt", {}, "Source"),
        h("dd", {}, sourceCell(event), event.source_id ? ` (${event.source_id})` : ""),
      ),
      h("h2", {}, "Runs"),
      runList,
      h("h2", {}, "Data"),
      h("pre", { "aria-label": "Event data" }, pretty(event.data)),
      event.user ? h("h2", {}, "User") : null,
      event.user ? h("pre", {}, pretty(event.user)) : null,
    );
  } catch (err) {
    show("Event", failure(err));
  }
}

const OP_LABEL: Record<string, string> = {
  StepRun: "step.run",
  StepFailed: "step.run (failed)",
  Sleep: "sleep",
  WaitForEvent: "waitForEvent",
  InvokeFunction: "invoke",
};

function ms(at: string | null | undefined): number | null {
  if (at === null || at === undefined) return null;
  const t = Date.parse(at);
  return Number.isNaN(t) ? null : t;
}

/** A duration as a person reads it: `12 ms`, `1.4 s`, `3 min 5 s`, `2 h 10 min`. */
function duration(msLong: number): string {
  if (msLong < 1_000) return `${Math.max(0, Math.round(msLong))} ms`;
  if (msLong < 60_000) return `${(msLong / 1_000).toFixed(1)} s`;
  const s = Math.round(msLong / 1_000);
  if (s < 3_600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
}

/**
 * The steps of a run in the order they ran, each with its name, op, start, duration, attempts
 * and output or error, on a common time axis (a bar per step); sleeps with their wake time and
 * waits with their event, `if` and timeout.
 */
function drawTimeline(run: RunItem): HTMLElement {
  const steps = run.steps ?? [];
  const waiting = run.waiting_for ?? [];
  const running = run.status === "Running";
  // When each step ended: a sleep when the next call began (or when it wakes), others when stored.
  const spans = steps.map((s, i) => {
    const from = ms(s.started_at) ?? ms(s.updated_at);
    let to = ms(s.updated_at);
    let wake: number | null = null;
    if (s.op === "Sleep") {
      const next = steps.slice(i + 1).find((n) => ms(n.started_at) !== null);
      wake =
        next !== undefined
          ? ms(next.started_at)
          : running
            ? ms(run.next_at)
            : (ms(run.ended_at) ?? to);
      to = wake;
    }
    return { from, to, wake };
  });
  const now = Date.now();
  // A wait is drawn up to now (its timeout may be hours away: said in words, not drawn).
  const waitSpans = waiting.map((w) => ({ from: ms(w.since), to: now }));
  const all = [...spans, ...waitSpans];
  const t0 = Math.min(
    ...[ms(run.started_at), ...all.map((x) => x.from)].filter((x): x is number => x !== null),
  );
  const t1 = Math.max(
    t0 + 1,
    ...[ms(run.ended_at), running ? now : null, ...all.map((x) => x.to)].filter(
      (x): x is number => x !== null,
    ),
  );
  const bar = (from: number | null, to: number | null, kind: string) => {
    if (from === null || !Number.isFinite(t0)) return null;
    const el = h("div", { class: `bar bar-${kind}`, "aria-hidden": "true" });
    const span = h("span", {});
    span.style.left = `${((from - t0) / (t1 - t0)) * 100}%`;
    span.style.width = `max(2px, ${(((to ?? from) - from) / (t1 - t0)) * 100}%)`;
    el.append(span);
    return el;
  };
  const list = h("ol", { class: "timeline", "aria-label": "Steps" });
  steps.forEach((s, i) => {
    const { from, to, wake } = spans[i]!;
    const label = OP_LABEL[s.op] ?? s.op;
    let detail: Child = null;
    if (s.op === "Sleep") {
      const asleep = running && i === steps.length - 1 && wake !== null && wake > now;
      detail = h(
        "p",
        { class: "muted", "data-wake": "" },
        wake === null ? "slept" : `${asleep ? "wakes at" : "woke at"} ${when(wake)}`,
      );
    } else if (s.op === "WaitForEvent" && s.error === null) {
      const got = s.data as { name?: Json } | null;
      detail =
        got === null
          ? h("p", { class: "muted", "data-wait": "" }, "timed out: no event came")
          : h("p", { class: "muted", "data-wait": "" }, `got ${String(got.name ?? "an event")}`);
    }
    const shown =
      s.error !== null
        ? h("pre", { class: "error" }, pretty(s.error))
        : s.op === "Sleep" || (s.op === "WaitForEvent" && s.data === null)
          ? null
          : h("pre", {}, pretty(s.data));
    list.append(
      h(
        "li",
        { class: `op-${s.op}`, "data-step": s.id },
        h(
          "div",
          { class: "step-head" },
          h("strong", { "data-name": "" }, `${i + 1}. ${s.name ?? s.id.slice(0, 12)}`),
          h("span", { class: "op", "data-op": "" }, label),
          h("span", { class: "muted" }, `started ${when(from)}`),
          h(
            "span",
            { class: "muted", "data-duration": "" },
            from !== null && to !== null ? duration(to - from) : "",
          ),
          h("span", { class: "muted" }, `${s.attempts} attempt${s.attempts === 1 ? "" : "s"}`),
          s.name
            ? h("span", { class: "mono muted", title: "hashed step id" }, s.id.slice(0, 12))
            : null,
        ),
        bar(from, to, s.op),
        detail,
        shown,
      ),
    );
  });
  for (const [i, w] of waiting.entries()) {
    const what =
      w.kind === "invoke"
        ? `invokes a function: waits for its end${w.timeout_at ? `, at most until ${when(w.timeout_at)}` : ""}`
        : `waits for ${w.event}${w.if ? ` if ${w.if}` : ""}, times out at ${when(w.timeout_at)}`;
    list.append(
      h(
        "li",
        { class: "op-waiting", "data-waiting": w.step_id },
        h(
          "div",
          { class: "step-head" },
          h(
            "strong",
            { "data-name": "" },
            `${steps.length + i + 1}. ${w.name ?? w.step_id.slice(0, 12)}`,
          ),
          h(
            "span",
            { class: "op", "data-op": "" },
            w.kind === "invoke" ? "invoke" : "waitForEvent",
          ),
          h("span", { class: "muted" }, `since ${when(w.since)}`),
        ),
        bar(waitSpans[i]!.from, waitSpans[i]!.to, "waiting"),
        h("p", { class: "muted", "data-wait": "" }, what),
      ),
    );
  }
  if (steps.length === 0 && waiting.length === 0)
    list.append(h("li", { class: "muted" }, "No steps memoized yet."));
  return list;
}

async function runView(id: string): Promise<void> {
  show("Run", h("p", { class: "muted" }, "Loading…"));
  let timer: ReturnType<typeof setTimeout> | null = null;
  const draw = async () => {
    if (timer !== null) clearTimeout(timer);
    let run: RunItem;
    try {
      run = (await api<{ data: RunItem }>(`/v1/runs/${encodeURIComponent(id)}`)).data;
    } catch (err) {
      show("Run", failure(err));
      return;
    }
    if (!location.hash.startsWith(`#/runs/${encodeURIComponent(id)}`)) return;
    const message = h("p", { role: "status" });
    const act = (label: string, method: string, path: string, danger = false) =>
      h(
        "button",
        {
          type: "button",
          class: danger ? "danger" : "",
          click: async () => {
            try {
              await api(path, { method });
              message.textContent = `${label}: done`;
              await draw();
            } catch (err) {
              message.replaceChildren(failure(err));
            }
          },
        },
        label,
      );
    const actions = h("div", { class: "toolbar" });
    if (run.status === "Running")
      actions.append(act("Cancel run", "DELETE", `/v1/runs/${encodeURIComponent(id)}`, true));
    if (run.status === "Failed" || run.status === "Cancelled")
      actions.append(act("Replay run", "POST", `/v1/runs/${encodeURIComponent(id)}/replay`));
    const timeline = drawTimeline(run);
    show(
      run.function_id,
      h(
        "dl",
        {},
        h("dt", {}, "Status"),
        h(
          "dd",
          {},
          h("span", { class: `badge s-${run.status}`, "data-status": run.status }, run.status),
        ),
        h("dt", {}, "Run id"),
        h("dd", { class: "mono" }, run.run_id),
        h("dt", {}, "Event"),
        h(
          "dd",
          {},
          h(
            "a",
            { href: `#/events/${encodeURIComponent(run.event_id)}`, class: "mono" },
            run.event_id,
          ),
        ),
        h("dt", {}, "Attempt"),
        h(
          "dd",
          { "data-attempt": "" },
          // `attempt` counts the calls of the current step from 0.
          `${(run.attempt ?? 0) + 1}${(run.attempt ?? 0) > 0 ? ` (${run.attempt} failed before it)` : ""}`,
        ),
        h("dt", {}, "Started"),
        h("dd", {}, when(run.started_at)),
        h("dt", {}, "Ended"),
        h("dd", {}, when(run.ended_at)),
        run.next_at ? h("dt", {}, "Next call") : null,
        run.next_at ? h("dd", {}, when(run.next_at)) : null,
      ),
      actions,
      message,
      h("h2", {}, "Steps"),
      timeline,
      run.attempts && run.attempts.length > 0 ? h("h2", {}, "Attempts") : null,
      run.attempts && run.attempts.length > 0 ? attemptsTable(run.attempts) : null,
      run.output !== null && run.output !== undefined ? h("h2", {}, "Output") : null,
      run.output !== null && run.output !== undefined ? h("pre", {}, pretty(run.output)) : null,
      run.error !== null && run.error !== undefined ? h("h2", {}, "Error") : null,
      run.error !== null && run.error !== undefined
        ? h("pre", { class: "error", "aria-label": "Run error" }, pretty(run.error))
        : null,
      // A run that retried and then went on: what failed before, not as the run's error.
      (run.error === null || run.error === undefined) &&
        run.last_error !== null &&
        run.last_error !== undefined
        ? h("h2", {}, "An earlier attempt failed")
        : null,
      (run.error === null || run.error === undefined) &&
        run.last_error !== null &&
        run.last_error !== undefined
        ? h(
            "pre",
            { class: "muted", "aria-label": "Earlier attempt error" },
            pretty(run.last_error),
          )
        : null,
    );
    // Sleeps and retries change a run without a stream message: look again while it runs.
    if (run.status === "Running") timer = setTimeout(() => void draw(), 2_000);
  };
  onStream((kind, payload) => {
    if (kind === "run" && (payload as RunItem).run_id === id) void draw();
  });
  await draw();
}

/** A table head row; a string is a plain `th`. */
function thead(...cells: (string | HTMLElement)[]): HTMLElement {
  return h(
    "thead",
    {},
    h("tr", {}, ...cells.map((c) => (typeof c === "string" ? h("th", {}, c) : c))),
  );
}

/** A run's attempt history: one row per attempt that ended, oldest first. */
function attemptsTable(attempts: NonNullable<RunItem["attempts"]>): HTMLElement {
  const message = (error: Json): string => {
    if (error === null || error === undefined) return "";
    const m = (error as { message?: unknown }).message;
    return typeof m === "string" ? m : JSON.stringify(error);
  };
  return h(
    "table",
    { "aria-label": "Attempts" },
    thead("Attempt", "Outcome", "Ended", "Error"),
    h(
      "tbody",
      {},
      ...attempts.map((a) =>
        h(
          "tr",
          { "data-outcome": a.outcome },
          h("td", {}, String(a.attempt + 1)),
          h(
            "td",
            {},
            h(
              "span",
              { class: `badge s-${a.outcome === "completed" ? "Completed" : "Failed"}` },
              a.outcome,
            ),
          ),
          h("td", { class: "when" }, when(a.ended_at)),
          h("td", { class: a.error === null ? "muted" : "error" }, message(a.error) || "—"),
        ),
      ),
    ),
  );
}

async function functionsView(): Promise<void> {
  show("Functions", h("p", { class: "muted" }, "Loading…"));
  try {
    const [{ data: apps }, { data: fns }, metrics] = await Promise.all([
      api<{ data: Record<string, Json>[] }>("/v1/apps"),
      api<{ data: Record<string, Json>[] }>("/v1/functions"),
      // Run counts by status come from the metrics (since this gateway started).
      metricsText().then(parseMetrics, () => null),
    ]);
    const appCards = apps.map((a) => {
      const message = h("p", { role: "status" });
      const url = String(a.url ?? "");
      const sync = a.synced_by_gateway
        ? h(
            "button",
            {
              type: "button",
              click: async () => {
                message.textContent = "Syncing…";
                try {
                  const { data } = await api<{
                    data: { ok: boolean | null; error: string | null }[];
                  }>(`/v1/apps/sync?url=${encodeURIComponent(url)}`, { method: "POST" });
                  const state = data[0];
                  message.textContent =
                    state?.ok === true ? "Synced." : `Sync failed: ${state?.error ?? "unknown"}`;
                } catch (err) {
                  message.replaceChildren(failure(err));
                }
              },
            },
            "Sync now",
          )
        : null;
      return h(
        "div",
        { class: "card", "data-app": url },
        h("h3", {}, String(a.id ?? "app")),
        h(
          "dl",
          {},
          h("dt", {}, "URL"),
          h("dd", { class: "mono" }, url),
          h("dt", {}, "SDK"),
          h("dd", {}, String(a.sdk ?? "—")),
          h("dt", {}, "Synced"),
          h("dd", {}, when(a.synced_at as string | null)),
          h("dt", {}, "Last sync"),
          h("dd", { class: a.error ? "error" : "" }, a.error ? String(a.error) : "ok"),
        ),
        sync,
        message,
      );
    });
    const FLOW = [
      "concurrency",
      "batchEvents",
      "idempotency",
      "rateLimit",
      "throttle",
      "debounce",
      "priority",
      "cancel",
      "timeouts",
      "singleton",
    ];
    const fnRows = fns.map((f) => {
      const id = String(f.id);
      const triggers = Array.isArray(f.triggers) ? f.triggers : [];
      const warnings = Array.isArray(f.warnings) ? f.warnings : [];
      const schedule = (Array.isArray(f.schedule) ? f.schedule : []) as {
        cron: string;
        next: string[];
      }[];
      const config = (f.config ?? {}) as Record<string, Json>;
      const flow = FLOW.filter((k) => config[k] !== undefined && config[k] !== null);
      const counts =
        metrics === null
          ? null
          : ["completed", "failed", "cancelled"].map(
              (status) =>
                [
                  status,
                  total(metrics, "evt_runs_finished_total", { function: id, status }),
                ] as const,
            );
      return h(
        "tr",
        { "data-function": id },
        h("td", { class: "mono" }, id),
        h("td", {}, String(f.name ?? "")),
        h(
          "td",
          {},
          ...triggers.map((t) => {
            const o = (t ?? {}) as Record<string, Json>;
            if (typeof o.cron === "string") {
              const next = schedule.find((c) => c.cron === o.cron)?.next[0];
              return h(
                "div",
                { class: "mono" },
                `cron ${o.cron}`,
                h(
                  "div",
                  { class: "muted", "data-next": "" },
                  next ? `next ${when(next)}` : "no next tick",
                ),
              );
            }
            return h(
              "div",
              { class: "mono" },
              `${String(o.event ?? "?")}${typeof o.expression === "string" ? ` if ${o.expression}` : ""}`,
            );
          }),
        ),
        h(
          "td",
          {},
          ...flow.map((k) => h("div", { class: "mono" }, `${k}: ${JSON.stringify(config[k])}`)),
        ),
        h(
          "td",
          { "data-counts": "" },
          counts === null ? "—" : counts.map(([status, n]) => `${n} ${status}`).join(", "),
        ),
        h("td", {}, ...warnings.map((w) => h("div", { class: "muted" }, String(w)))),
      );
    });
    show(
      "Functions",
      h("h2", {}, `Apps (${apps.length})`),
      apps.length === 0
        ? h(
            "p",
            { class: "muted" },
            "No app synced. Start the gateway with --app-url <serve URL>, or PUT the app's URL.",
          )
        : h("div", { class: "cards" }, ...appCards),
      h("h2", {}, `Functions (${fns.length})`),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, "Id"),
              h("th", {}, "Name"),
              h("th", {}, "Triggers"),
              h("th", {}, "Flow"),
              h("th", {}, "Runs since start"),
              h("th", {}, "Notes"),
            ),
          ),
          h("tbody", {}, ...fnRows),
        ),
      ),
    );
  } catch (err) {
    show("Functions", failure(err));
  }
}

/**
 * Where JSON.parse stopped, as a line and column, with the line and a caret under the place;
 * the editor's cursor is put there.
 */
function jsonError(editor: HTMLTextAreaElement, err: Error): HTMLElement {
  const text = editor.value;
  const message = err.message;
  let at: number | null = null;
  const pos = /at position (\d+)/.exec(message);
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (pos) at = Number(pos[1]);
  else if (lc) {
    const lines = text.split("\n");
    const line = Math.min(Number(lc[1]), lines.length);
    at = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + Number(lc[2]) - 1;
  } else if (/end of JSON input|Unexpected end/.test(message)) at = text.length;
  const alert = h("div", { class: "error", role: "alert" });
  if (at === null) {
    alert.append(h("p", {}, `Not JSON: ${message}`));
    return alert;
  }
  at = Math.max(0, Math.min(at, text.length));
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  const lineStart = before.lastIndexOf("\n") + 1;
  const column = at - lineStart + 1;
  const lineEnd = text.indexOf("\n", at);
  const source = text.slice(lineStart, lineEnd < 0 ? text.length : lineEnd);
  // The reason without V8's own position text: said once, as line and column.
  const reason = message
    .replace(/\s*(?:in JSON )?at position \d+.*$/, "")
    .replace(/^JSON\.parse: /, "");
  alert.append(
    h(
      "p",
      { "data-json-at": `${line}:${column}` },
      `Not JSON: ${reason}, at line ${line}, column ${column}`,
    ),
    h("pre", { class: "caret" }, `${source}\n${" ".repeat(Math.max(0, column - 1))}^`),
  );
  editor.focus();
  editor.setSelectionRange(at, Math.min(text.length, at + 1));
  return alert;
}

function sendView(): void {
  const key = h("input", {
    type: "text",
    value: sessionStorage.getItem("evt.eventKey") ?? "console",
    "aria-label": "Event key",
    autocomplete: "off",
  });
  const editor = h(
    "textarea",
    { "aria-label": "Event JSON", spellcheck: "false" },
    pretty({ name: "app/user.signup", data: { userId: "u_1" } }),
  );
  const result = h("div", { role: "status", "aria-live": "polite" });
  const form = h(
    "form",
    {
      submit: async (e: Event) => {
        e.preventDefault();
        result.replaceChildren();
        let body: unknown;
        try {
          body = JSON.parse(editor.value);
        } catch (err) {
          result.append(jsonError(editor, err as Error));
          return;
        }
        sessionStorage.setItem("evt.eventKey", key.value);
        try {
          const answer = await api<{ ids: string[] }>(
            `/e/${encodeURIComponent(key.value || "console")}`,
            {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(body),
            },
          );
          result.append(
            h("p", {}, `Stored: ${answer.ids.length} event${answer.ids.length === 1 ? "" : "s"}`),
            ...answer.ids.map((id) =>
              h(
                "div",
                {},
                h("a", { href: `#/events/${encodeURIComponent(id)}`, class: "mono" }, id),
              ),
            ),
          );
        } catch (err) {
          result.append(failure(err));
        }
      },
    },
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, "Event key ", key),
      h("button", { type: "submit" }, "Send"),
    ),
    editor,
  );
  editor.addEventListener("keydown", (e) => {
    const k = e as KeyboardEvent;
    if (k.key === "Enter" && (k.ctrlKey || k.metaKey)) {
      k.preventDefault();
      form.requestSubmit();
    }
  });
  show(
    "Send an event",
    h(
      "p",
      { class: "muted" },
      "One event or an array, checked by the Event API with the same rules and messages as POST /e/<key>. In dev any key works. Ctrl+Enter sends.",
    ),
    form,
    result,
  );
}

/** The gateway's `/metrics` (Prometheus text), with the key when one is set. */
async function metricsText(): Promise<string> {
  const headers = new Headers();
  const key = apiKey();
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  const res = await fetch("/metrics", { headers });
  if (res.status === 401) askForKey();
  if (!res.ok) throw new HttpError(res.status, "GET /metrics failed");
  return res.text();
}

/** One metric sample: counters and gauges by name and labels, as the text format gives them. */
type Sample = Map<string, { labels: Record<string, string>; value: number }[]>;

function parseMetrics(text: string): Sample {
  const out: Sample = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

function total(sample: Sample, name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const { labels, value } of sample.get(name) ?? []) {
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) sum += value;
  }
  return sum;
}

/** A small line chart of the last values (an SVG polyline). */
function sparkline(values: number[], label: string): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 120 32");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const max = Math.max(1, ...values);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute(
    "points",
    values
      .map((v, i) => `${(i / Math.max(1, values.length - 1)) * 120},${31 - (v / max) * 30}`)
      .join(" "),
  );
  svg.append(line);
  return svg;
}

/** The last runs that failed on this gateway, newest first, each a link to the run. */
function recentFailures(list: Json | undefined): HTMLElement {
  const items = (Array.isArray(list) ? list : []) as {
    run_id: string;
    function_id: string;
    event_id: string;
    failed_at: string;
  }[];
  if (items.length === 0) return h("p", { class: "muted" }, "No run has failed here.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "aria-label": "Recent failures" },
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "Failed"), h("th", {}, "Function"), h("th", {}, "Run")),
      ),
      h(
        "tbody",
        {},
        ...items.map((f) =>
          h(
            "tr",
            { "data-failed-run": f.run_id },
            h("td", { class: "when" }, when(f.failed_at)),
            h("td", { class: "mono" }, f.function_id),
            h(
              "td",
              {},
              h("a", { href: `#/runs/${encodeURIComponent(f.run_id)}`, class: "mono" }, f.run_id),
            ),
          ),
        ),
      ),
    ),
  );
}

async function healthView(): Promise<void> {
  show("Health", h("p", { class: "muted" }, "Loading…"));
  const history: Record<string, number[]> = { events: [], started: [], failed: [], due: [] };
  let last: { at: number; events: number; started: number; failed: number } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const draw = async () => {
    if (timer !== null) clearTimeout(timer);
    if (!location.hash.startsWith("#/health")) return;
    let status: Record<string, Json>;
    let sample: Sample;
    try {
      const [st, metrics] = await Promise.all([
        api<{ data: Record<string, Json> }>("/v1/status"),
        metricsText(),
      ]);
      status = st.data;
      sample = parseMetrics(metrics);
    } catch (err) {
      show("Health", failure(err));
      return;
    }
    const now = Date.now();
    const counts = {
      events: total(sample, "evt_events_accepted_total"),
      started: total(sample, "evt_runs_started_total"),
      failed: total(sample, "evt_runs_finished_total", { status: "failed" }),
    };
    if (last !== null) {
      const secs = Math.max(0.001, (now - last.at) / 1000);
      for (const k of ["events", "started", "failed"] as const)
        history[k]!.push(Math.max(0, (counts[k] - last[k]) / secs));
    }
    last = { at: now, ...counts };
    const runs = (status.runs ?? {}) as Record<string, number>;
    history.due!.push(runs.due ?? 0);
    for (const k of Object.keys(history)) history[k] = history[k]!.slice(-60);
    const rate = (k: string) => (history[k]!.at(-1) ?? 0).toFixed(1);
    const drivers = (status.drivers ?? {}) as Record<string, string>;
    const failures = (sample.get("evt_runs_finished_total") ?? [])
      .filter((m) => m.labels.status === "failed" && m.value > 0)
      .sort((a, b) => b.value - a.value);
    const chart = (key: string, title: string, unit: string) =>
      h(
        "div",
        { class: "card", "data-chart": key },
        h("h3", {}, title),
        h(
          "div",
          { class: "figure" },
          `${key === "due" ? String(history.due!.at(-1) ?? 0) : rate(key)} ${unit}`,
        ),
        sparkline(history[key]!, `${title}, the last two minutes`),
      );
    show(
      "Health",
      h(
        "dl",
        {},
        h("dt", {}, "Mode"),
        h("dd", {}, String(status.mode ?? "")),
        h("dt", {}, "Version"),
        h("dd", {}, String(status.version ?? "")),
        h("dt", {}, "Stores"),
        h(
          "dd",
          { "data-drivers": "" },
          `dedup ${drivers.dedup ?? "?"}, events ${drivers.store ?? "?"}, runs ${drivers.runs ?? "?"}`,
        ),
        h("dt", {}, "Functions"),
        h("dd", {}, String(status.functions ?? 0)),
        h("dt", {}, "Runs"),
        h(
          "dd",
          { "data-runs": "" },
          `${runs.running ?? 0} running, ${runs.due ?? 0} due (the queue), ${runs.queued ?? 0} queued in all`,
        ),
      ),
      h(
        "div",
        { class: "cards charts" },
        chart("events", "Events stored", "/s"),
        chart("started", "Runs started", "/s"),
        chart("failed", "Runs failed", "/s"),
        chart("due", "Queue depth", "due"),
      ),
      h("h2", {}, "Recent failures"),
      recentFailures(status.recent_failures),
      h("h2", {}, "Failures by function (since the gateway started)"),
      failures.length === 0
        ? h("p", { class: "muted" }, "No run has failed.")
        : h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { "aria-label": "Failures by function" },
              h("thead", {}, h("tr", {}, h("th", {}, "Function"), h("th", {}, "Failed runs"))),
              h(
                "tbody",
                {},
                ...failures.map((f) =>
                  h(
                    "tr",
                    {},
                    h("td", { class: "mono" }, f.labels.function ?? ""),
                    h("td", {}, String(f.value)),
                  ),
                ),
              ),
            ),
          ),
    );
    timer = setTimeout(() => void draw(), 2_000);
  };
  await draw();
}

/** A new page takes the focus (its heading first in the tab order), as a page load would. */
let focusMain = false;

async function route(): Promise<void> {
  focusMain = document.activeElement !== null && document.activeElement !== document.body;
  for (const l of viewListeners) listeners.delete(l);
  viewListeners = [];
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const section = path.startsWith("/functions")
    ? "functions"
    : path.startsWith("/send")
      ? "send"
      : path.startsWith("/health")
        ? "health"
        : "stream";
  for (const a of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const [, kind, id] = path.split("/");
  if (kind === "events" && id) return eventView(decodeURIComponent(id));
  if (kind === "runs" && id) return runView(decodeURIComponent(id));
  if (kind === "functions") return functionsView();
  if (kind === "send") return sendView();
  if (kind === "health") return healthView();
  return streamView();
}

window.addEventListener("hashchange", () => void route());
// Escape leaves an event or a run for the stream (not while typing, where it is the field's).
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented) return;
  const t = e.target as HTMLElement | null;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) {
    if (t === keyInput) keyForm.hidden = true;
    return;
  }
  if (/^#\/(events|runs)\//.test(location.hash)) location.hash = "#/";
});
connect();
void route();

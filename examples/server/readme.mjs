import { createMemoryStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { listen } from "@evt/server/node";
import { createMemoryEventStore } from "@evt/store";

const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
const server = await listen(api, { port: 0 }); // 0: a free port; the gateway's is 8288
const body = JSON.stringify({ name: "app/user.signup", data: { userId: "u1" } });
const sent = await fetch(`${server.url}/e/dev-key`, { method: "POST", body });
const { ids } = await sent.json();
console.log(ids); // [ '01K...' ]
const stored = await (await fetch(`${server.url}/v1/events/${ids[0]}`)).json();
console.log(stored.data.name, stored.data.data); // app/user.signup { userId: 'u1' }
await server.close();

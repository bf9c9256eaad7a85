import { createMemoryEventStore } from "@evt/store"; // or createSqliteStore from "@evt/store/sqlite"

const store = createMemoryEventStore();
const now = Date.now();
await store.append([{ internal_id: "01JB8ZQ3X4Y5Z6A7B8C9D0E1F2", id: null, name: "app/user.created",
  data: { plan: "pro" }, user: null, ts: now, v: null, env: "production", received_at: now }]);
const { events, cursor } = await store.list({ env: "production", limit: 10 });
console.log(events.map((e) => e.name), cursor); // [ 'app/user.created' ] null
await store.close();

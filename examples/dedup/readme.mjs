import { createMemoryStore } from "@evt/dedup";

const store = createMemoryStore();
const day = 24 * 60 * 60 * 1000;
console.log(await store.claim([{ key: "order-42", value: "01JEVT000000000000000000A1" }], day));
// [ { fresh: true } ]
console.log(await store.claim([{ key: "order-42", value: "01JEVT000000000000000000B2" }], day));
// [ { fresh: false, value: '01JEVT000000000000000000A1' } ]  <- the first claimer's value
await store.close();

import { createTriggerIndex, nextTicks } from "@evt/triggers";

const index = createTriggerIndex([
  { id: "shop-a-orders", triggers: [{ event: "shop/order.*", expression: "event.data.shop == 'a'" }] },
  { id: "weekly-report", triggers: [{ cron: "TZ=Europe/Paris 0 12 * * 5" }] },
]);
console.log(index.match({ name: "shop/order.created", data: { shop: "a" } })); // [ { functionId: 'shop-a-orders', triggerIndex: 0 } ]
console.log(nextTicks("TZ=Europe/Paris 0 12 * * 5", new Date("2026-03-27T00:00:00Z"), 2)); // [ 2026-03-27T11:00:00.000Z, 2026-04-03T10:00:00.000Z ]

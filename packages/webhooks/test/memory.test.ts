import { createMemoryWebhookStore } from "@evt/webhooks/memory";
import { runWebhookStoreConformance } from "@evt/webhooks/testing";

runWebhookStoreConformance("memory", async () => createMemoryWebhookStore(), { shared: false });

import { createMemoryRunStore } from "@evt/functions/memory";
import { runRunStoreConformance } from "@evt/functions/testing";

runRunStoreConformance("memory", () => createMemoryRunStore());

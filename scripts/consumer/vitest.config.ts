import { evtProject } from "../../vitest.shared.ts";

// Packs the publishable packages, installs them in a temp npm project outside the repo and
// runs ESM, CommonJS and TypeScript consumers there (see test/consumer.test.ts).
export default evtProject("consumer", { testTimeout: 120_000, hookTimeout: 180_000 });

import { evtProject } from "../../vitest.shared.ts";

export default evtProject("webhooks");

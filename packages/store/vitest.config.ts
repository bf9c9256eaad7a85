import { evtProject } from "../../vitest.shared";

export default evtProject("store");

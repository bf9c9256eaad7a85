import { memory } from "./support/drivers.js";
import { ingestSuite } from "./support/suite.js";

ingestSuite(memory, "mem");

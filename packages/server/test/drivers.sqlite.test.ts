import { sqlite } from "./support/drivers.js";
import { ingestSuite } from "./support/suite.js";

ingestSuite(sqlite, "sqlite");

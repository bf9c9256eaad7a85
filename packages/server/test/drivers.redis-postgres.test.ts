import { redisPostgres } from "./support/drivers.js";
import { ingestSuite } from "./support/suite.js";

ingestSuite(redisPostgres, "rp");

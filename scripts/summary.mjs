// Prints the one summary line CI reads: "N passed, N failed". When a step before the tests
// failed (install, build, lint), the line says so instead of counting it as a failed test:
// "0 passed, 0 failed; step failed: <step>".
// Usage: node scripts/summary.mjs <vitest-json-results> [failed-step]
import { existsSync, readFileSync } from "node:fs";

const [file, failedStep] = process.argv.slice(2);
let passed = 0;
let failed = 0;
if (file && existsSync(file)) {
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed = r.numPassedTests ?? 0;
  failed = r.numFailedTests ?? 0;
  // A test file that failed to load has no failed test of its own: count it.
  for (const suite of r.testResults ?? []) {
    const anyFailed = (suite.assertionResults ?? []).some((a) => a.status === "failed");
    if (suite.status === "failed" && !anyFailed) failed += 1;
  }
  if ((r.numTotalTests ?? 0) === 0) failed += 1; // running no test at all is a failure
} else if (!failedStep) {
  failed += 1; // vitest wrote no results: it crashed
}
if (failedStep) {
  console.log(`${passed} passed, ${failed} failed; step failed: ${failedStep}`);
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

import { createMemoryRunStore } from "@evt/functions/memory"; // or createSqliteRunStore from "@evt/functions/sqlite"

const runs = createMemoryRunStore();
const now = Date.now();
const { run, created } = await runs.createRun({ functionId: "acc-app-send-welcome",
  eventInternalId: "01JB8ZQ3X4Y5Z6A7B8C9D0E1F2", env: "production", dueAt: now });
const again = await runs.createRun({ functionId: "acc-app-send-welcome",
  eventInternalId: "01JB8ZQ3X4Y5Z6A7B8C9D0E1F2", env: "production", dueAt: now });
console.log(created, again.created, again.run.runId === run.runId); // true false true

const [claimed] = await runs.claimDue(Date.now(), "gateway-1", 30_000, 100); // held for 30 s
await runs.saveSteps(claimed.runId, "gateway-1", [
  { stepId: "a1b2c3", op: "StepRun", data: { sent: true }, error: null, attempts: 1 },
]);
await runs.release(claimed.runId, "gateway-1", { status: "completed", output: "done", now: Date.now() });
const { status, output } = await runs.getRun(run.runId);
console.log(status, output); // completed done
await runs.close();

import { createUlidFactory, formatIssues, parseEvents } from "@evt/schema";

const result = parseEvents([{ name: "app/user.signup", data: { userId: "u1" } }, { name: "", ts: 1700000000 }]);
if (result.ok) console.log(result.events); // normalised: data {}, ts = receive time, ...
else console.log(formatIssues(result.issues)); // "1 invalid event: events[1].name: must not be empty (allowed: ...); events[1].ts: ..."
console.log(createUlidFactory()()); // e.g. "01JGMZ3C000N3X4ZK9Q6V2TB8R"

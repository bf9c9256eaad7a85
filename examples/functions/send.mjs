import { Inngest } from "inngest";

// INNGEST_DEV=1: dev mode, so no event key is needed; the SDK sends to http://localhost:8288
// (INNGEST_BASE_URL overrides it). In production: new Inngest({ id, eventKey, baseUrl }).
const inngest = new Inngest({ id: "my-app" });
const { ids } = await inngest.send({ name: "app/user.signup", data: { userId: "u1" } });
console.log(ids); // [ '01K...' ]

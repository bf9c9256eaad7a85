import { EventClient } from "@evt/client";

// baseUrl: EVT_BASE_URL, else http://127.0.0.1:8288 (`npm start`'s gateway); a local one takes any key
const evt = new EventClient({ eventKey: "my-key" });
const { ids } = await evt.send({ name: "app/user.signup", data: { userId: "u1" } });
console.log(ids); // [ '01K...' ]: the server's id of each event, in input order

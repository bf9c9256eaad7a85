import { createServer } from "node:http";
import { Inngest } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: "my-app" });

const onboarding = inngest.createFunction(
  { id: "user-onboarding", triggers: [{ event: "app/user.signup" }] },
  async ({ event, step }) => {
    const profile = await step.run("create-profile", () => ({ userId: event.data.userId }));
    await step.sleep("settle", "1s");
    await step.sendEvent("activate", { name: "app/user.activated", data: profile });
    return { onboarded: profile.userId };
  },
);

const welcome = inngest.createFunction(
  { id: "send-welcome-email", triggers: [{ event: "app/user.activated" }] },
  async ({ event }) => {
    console.log(`welcome email sent to ${event.data.userId}`);
    return "sent";
  },
);

const port = Number(process.env.PORT ?? 3000);
createServer(serve({ client: inngest, functions: [onboarding, welcome] })).listen(port, () =>
  console.log(`functions served on http://127.0.0.1:${port}/api/inngest`),
);

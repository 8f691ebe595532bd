// The one composition root: the service with the business handlers.
import { createSubscriptions } from "./handlers/index.ts";
import { runService } from "./service.ts";

await runService((deps) => createSubscriptions({ ...deps, webhookScopes: deps.config.WEBHOOK_SCOPES }));

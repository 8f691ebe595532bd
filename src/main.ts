// The one composition root: the service with the business handlers.
import { createSubscriptions } from "./handlers/index.ts";
import { runService } from "./service.ts";

await runService(createSubscriptions);

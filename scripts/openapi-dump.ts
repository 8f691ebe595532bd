// Writes the app's OpenAPI document to a file (default openapi.json), for `bun run lint:openapi`,
// Prism and client generators that want a file.
import { buildOpenApiDocument } from "../src/http/openapi-document.ts";

const out = process.argv[2] ?? "openapi.json";
await Bun.write(out, `${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`);
console.log(`wrote ${out}`);

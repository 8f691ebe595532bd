// Part of `bun run db:generate`: drizzle-kit writes `"public".` into sequence and foreign-key
// names; the migrations must create their objects in whatever schema the search_path names
// (each test runs them in a schema of its own), so the qualifier is removed.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../../drizzle", import.meta.url));
for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql"))) {
  const path = `${dir}/${file}`;
  const text = readFileSync(path, "utf8");
  const fixed = text.replaceAll('"public".', "");
  if (fixed !== text) writeFileSync(path, fixed);
}

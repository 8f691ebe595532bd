// How the shop is layered: domain code says what went wrong (not found, conflict) and only
// src/http/ decides which status that is, so a handler or a script can use the domain without HTTP.
import { expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src", import.meta.url));

function importsOf(file: string): string[] {
  const text = readFileSync(`${SRC}/${file}`, "utf8");
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']/g)].map((m) => m[1]!);
}

test("no domain file imports src/http/: domain code throws domain errors, only the HTTP layer maps them to statuses", () => {
  const offenders: string[] = [];
  for (const file of new Glob("**/*.ts").scanSync(SRC)) {
    // The composition root builds the HTTP API; everything else is domain, engine or support.
    if (file.startsWith("http/") || file === "service.ts") continue;
    for (const spec of importsOf(file)) if (/(^|\/)http\//.test(spec)) offenders.push(`${file} imports ${spec}`);
  }
  expect(offenders).toEqual([]);
});

/**
 * Writes event.schema.json (the JSON Schema of one event payload, generated from the zod
 * schema) beside package.json, where the `./event.schema.json` export points.
 * Run: sh scripts/pnpm.sh --filter @evt/schema run json-schema
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generateEventPayloadJsonSchema } from "../src/schema";

/** The file's exact text: 2-space JSON and a final newline. */
export function eventSchemaFileText(): string {
  return `${JSON.stringify(generateEventPayloadJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL("../event.schema.json", import.meta.url));
  writeFileSync(target, eventSchemaFileText());
  console.log(`wrote ${target}`);
}

/** Locates and reads the JSON Schemas shipped in the package's `schemas/` folder. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ErrorObject } from "ajv";

/**
 * A validator compiled ahead of time from one of the schemas (compiler/validators/). After a
 * failed check, `errors` lists the problems as ajv reports them.
 */
export interface SchemaValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

let schemasDir: string | null = null;

/**
 * Finds `schemas/` by walking up from this module: it sits two levels up in the source tree
 * (`compiler/spec/`) and three levels up in the build (`dist/compiler/spec/`).
 */
function findSchemasDir(): string {
  if (schemasDir !== null) return schemasDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "schemas");
    if (existsSync(join(candidate, "spec.schema.json"))) {
      schemasDir = candidate;
      return candidate;
    }
    dir = dirname(dir);
  }
  throw new Error("peftc is installed without its schemas/ folder (spec.schema.json not found)");
}

/** Parses `schemas/<name>`; a missing or broken schema is a packaging bug, so it throws a plain Error. */
export function readSchema(name: "spec.schema.json" | "plan.schema.json"): Record<string, unknown> {
  return JSON.parse(readFileSync(join(findSchemasDir(), name), "utf8")) as Record<string, unknown>;
}

/** Checks spec values against `schemas/spec.schema.json` and turns ajv errors into positioned diagnostics. */
import type { ErrorObject } from "ajv";
import type { SchemaValidator } from "./schema-files.js";
import { loraFields } from "../validators/spec.js";
import { suggestField } from "./fields.js";

/**
 * The validator for one adapter's LoRA fields (`$defs/loraFields`), compiled ahead of time from
 * schemas/spec.schema.json. It reports every problem, each with the schema that failed.
 */
const validateLoraFields: SchemaValidator = loraFields;

/** A schema violation at a path inside the checked block. */
export interface SchemaProblem {
  code: "invalid-type" | "invalid-value" | "unknown-field";
  path: Array<string | number>;
  /** True when the problem is a key (report at the key), false for a value. */
  atKey: boolean;
  message: string;
  /** For a missing required key: its name. */
  missing?: string;
  /** For an unknown key: the known key it most likely misspells. */
  suggestion?: string;
}

/** Validates one block of LoRA fields (as written, before defaults) and returns one problem per path. */
export function checkLoraFields(block: Record<string, unknown>): SchemaProblem[] {
  if (validateLoraFields(block)) return [];
  const problems: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const error of validateLoraFields.errors ?? []) {
    const problem = toProblem(error, block);
    const id = `${problem.path.join("\u0000")}|${problem.atKey}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push(problem);
  }
  // A misspelt required key (`globs` for `glob`) is reported once, as the misspelling.
  const misspelt = new Set(problems.filter((p) => p.suggestion !== undefined).map((p) => `${p.path.slice(0, -1).join("\u0000")}|${p.suggestion}`));
  return problems.filter((p) => p.missing === undefined || !misspelt.has(`${p.path.join("\u0000")}|${p.missing}`));
}

function pointerToPath(pointer: string, data: unknown): Array<string | number> {
  if (pointer === "") return [];
  const path: Array<string | number> = [];
  let node = data;
  for (const raw of pointer.slice(1).split("/")) {
    const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    const key: string | number = Array.isArray(node) ? Number(segment) : segment;
    path.push(key);
    node = (node as Record<string | number, unknown> | null)?.[key];
  }
  return path;
}

function toProblem(error: ErrorObject, block: unknown): SchemaProblem {
  const path = pointerToPath(error.instancePath, block);
  const field = formatPath(path);
  if (error.keyword === "additionalProperties") {
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    const known = Object.keys((error.parentSchema as { properties?: object }).properties ?? {});
    const hint = suggestField(key, known);
    const suffix = hint !== null ? `; did you mean \`${hint}\`?` : `; allowed: ${known.join(", ")}`;
    const problem: SchemaProblem = { code: "unknown-field", path: [...path, key], atKey: true, message: `unknown field \`${field}.${key}\`${suffix}` };
    if (hint !== null) problem.suggestion = hint;
    return problem;
  }
  if (error.keyword === "required") {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return { code: "invalid-value", path, atKey: false, message: `${field}: a mapping here needs the key \`${missing}\``, missing };
  }
  const code = error.keyword === "type" ? "invalid-type" : "invalid-value";
  const expected = describeSchema(error.parentSchema as SchemaShape);
  return { code, path, atKey: false, message: `${field}: expected ${expected}, found ${describeValue(error.data)}` };
}

/** Formats a field path for messages: `target_modules[2]`, `rank_pattern.q_proj`, `rank_pattern["model.layers.0.q_proj"]`. */
export function formatPath(path: Array<string | number>): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (out === "") out = segment;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === "" ? "spec" : out;
}

interface SchemaShape {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  $ref?: string;
}

const TYPE_WORDS: Record<string, string> = {
  integer: "an integer",
  number: "a number",
  string: "a string",
  boolean: "a boolean",
  array: "a list",
  object: "a mapping",
  null: "null",
};

/** Says in words what a schema accepts: `an integer >= 1`, `a string, a list or null`. */
export function describeSchema(schema: SchemaShape | undefined): string {
  if (schema === undefined) return "a valid value";
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum !== undefined) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  if (schema.$ref?.endsWith("/optionalObject")) return "a mapping or null";
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const words = types.map((t) => {
    if (t === "integer" || t === "number") return TYPE_WORDS[t] + bounds(schema);
    if (t === "string" && schema.pattern !== undefined) return describePattern(schema.pattern);
    if (t === "array" && schema.minItems !== undefined && schema.minItems === schema.maxItems) return `a list of ${schema.minItems}`;
    if (t === "array" && schema.minItems === 1) return "a non-empty list";
    if (t === "array" && schema.minItems !== undefined) return `a list of at least ${schema.minItems}`;
    if (t === "object" && schema.minProperties !== undefined) return `a mapping with at least ${schema.minProperties} key`;
    return TYPE_WORDS[t] ?? t;
  });
  if (words.length === 0) return "a valid value";
  if (words.length === 1) return words[0]!;
  return `${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`;
}

/** `^(a|b|c)$` reads as "one of the strings a, b, c"; any other pattern is shown as is. */
function describePattern(pattern: string): string {
  const alternatives = /^\^\(([^()]*)\)\$$/.exec(pattern);
  if (alternatives === null) return `a string matching ${pattern}`;
  return `one of the strings ${alternatives[1]!.split("|").join(", ")}`;
}

function bounds(schema: SchemaShape): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined) parts.push(`>= ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) parts.push(`<= ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) parts.push(`< ${schema.exclusiveMaximum}`);
  return parts.length === 0 ? "" : ` ${parts.join(" and ")}`;
}

/** Renders a found value for messages: `"eight" (a string)`, `-1`, `.nan`, `a list`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return ".nan (not a number)";
    if (!Number.isFinite(value)) return value > 0 ? ".inf (infinity)" : "-.inf (infinity)";
    return String(value);
  }
  if (typeof value === "boolean") return String(value);
  if (typeof value === "string") {
    const preview = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `${JSON.stringify(preview)} (a string)`;
  }
  if (typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return "a list";
  return "a mapping";
}

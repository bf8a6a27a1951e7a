/** Checks plans against `schemas/plan.schema.json` (format `peftc-plan/1`) and reads plan files. */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { ErrorObject } from "ajv";
import type { SchemaValidator } from "../spec/schema-files.js";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import { PeftcError } from "../errors.js";
import { describeSchema, describeValue } from "../spec/schema.js";
import { lineColAt, nodeOffset } from "../spec/yaml-tree.js";
import { lowRankParameters } from "./lora-params.js";
import type { Plan, PlanAdapter, PlanTarget } from "./types.js";
import { plan as planSchema } from "../validators/plan.js";

/** The plan validator, compiled ahead of time from schemas/plan.schema.json. */
const validatePlanSchema: SchemaValidator = planSchema;

/**
 * Finds the first schema violation, or else the first inconsistency, and returns its JSON pointer
 * (`/adapters/0/targets/3/r`) and a message.
 */
function firstProblem(plan: unknown): { pointer: string; message: string } | null {
  if (validatePlanSchema(plan)) return consistencyProblem(plan as Plan);
  const error = validatePlanSchema.errors![0]!;
  return { pointer: error.instancePath, message: describeError(error) };
}

function describeError(error: ErrorObject): string {
  if (error.keyword === "required") {
    return `missing required field \`${(error.params as { missingProperty: string }).missingProperty}\``;
  }
  return `expected ${describeSchema(error.parentSchema as Parameters<typeof describeSchema>[0])}, found ${describeValue(error.data)}`;
}

const REGENERATE = "so the plan was edited or is damaged. Regenerate it with `peftc plan`";

/** The adapter settings that derived numbers depend on, when the plan records them in `config`. */
interface DerivedSettings {
  rslora: boolean;
  dora: boolean;
  loraBias: boolean;
}

function settingsOf(adapter: PlanAdapter): DerivedSettings | null {
  const config = adapter.config as Record<string, unknown> | undefined;
  if (config === null || typeof config !== "object") return null;
  const { use_rslora: rslora, use_dora: dora, lora_bias: loraBias } = config;
  if (typeof rslora !== "boolean" || typeof dora !== "boolean" || typeof loraBias !== "boolean") return null;
  return { rslora, dora, loraBias };
}

function sameNumber(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
}

/**
 * Finds a derived number of a target that disagrees with its own r, alpha and sizes. `scaling` is
 * alpha / r, or alpha / sqrt(r) with use_rslora. `parameters` of a Linear, Embedding or GPT-2
 * Conv1D target is r x (in + out), plus out for DoRA's magnitude and out for lora_bias, and 0 for
 * a tie member. Conv and attention counts need the kernel or more, so they are not checked.
 * Without a `config` that carries the three flags, either scaling is accepted and counts are not
 * checked.
 */
function derivedProblem(target: PlanTarget, settings: DerivedSettings | null): { field: string; message: string } | null {
  const { r, alpha, scaling } = target;
  const plain = alpha / r;
  const rank = alpha / Math.sqrt(r);
  let expected = plain;
  if (settings === null && sameNumber(scaling, rank)) expected = rank;
  if (settings !== null && settings.rslora) expected = rank;
  if (!sameNumber(scaling, expected)) {
    const formula = settings?.rslora === true ? `alpha ${alpha} / sqrt(r ${r})` : `alpha ${alpha} / r ${r}`;
    return { field: "scaling", message: `scaling ${scaling} does not match ${formula} = ${expected}` };
  }
  if (settings === null || target.parameters === null) return null;
  let parameters: number | null = null;
  if (target.tie?.role === "member") parameters = 0;
  else if (COUNTED_KINDS.has(target.kind) && target.in_features !== null && target.out_features !== null) {
    parameters = lowRankParameters(target.in_features, target.out_features, r, settings);
  }
  if (parameters === null || parameters === target.parameters) return null;
  return { field: "parameters", message: `parameters ${target.parameters} does not match the ${parameters} that r ${r} and the module's sizes give` };
}

const COUNTED_KINDS = new Set(["linear", "embedding", "conv1d_gpt2"]);

/**
 * Finds what the schema cannot express: an adapter name used twice, a module listed twice in one
 * adapter's targets or modules_to_save, a tie naming a group the adapter does not have, or a
 * target's scaling or parameter count that disagrees with its r, alpha and sizes. A diff keyed by
 * name would hide a plan's extra entries, and the runtime trusts the plan's scaling.
 * NOTE: trainable_parameters is not checked against the sum of the counts, because the product
 * spec's own example plan lists only some of its targets.
 */
function consistencyProblem(plan: Plan): { pointer: string; message: string } | null {
  const adapterAt = new Map<string, number>();
  for (const [i, adapter] of plan.adapters.entries()) {
    const first = adapterAt.get(adapter.name);
    if (first !== undefined) {
      return { pointer: `/adapters/${i}/name`, message: `adapter name '${adapter.name}' is also used by /adapters/${first}, ${REGENERATE}` };
    }
    adapterAt.set(adapter.name, i);
    const groups = new Set(adapter.tie_groups.map((g) => g.id));
    for (const list of ["targets", "modules_to_save"] as const) {
      const moduleAt = new Map<string, number>();
      for (const [j, entry] of adapter[list].entries()) {
        // Pointers are built only for a problem: a plan can have a million entries.
        const earlier = moduleAt.get(entry.module);
        if (earlier !== undefined) {
          return { pointer: `/adapters/${i}/${list}/${j}/module`, message: `module '${entry.module}' is also listed at /adapters/${i}/${list}/${earlier}, ${REGENERATE}` };
        }
        moduleAt.set(entry.module, j);
        if (entry.tie !== null && !groups.has(entry.tie.group)) {
          return { pointer: `/adapters/${i}/${list}/${j}/tie/group`, message: `tie group '${entry.tie.group}' is not in this adapter's tie_groups, ${REGENERATE}` };
        }
      }
    }
    const settings = settingsOf(adapter);
    for (const [j, target] of adapter.targets.entries()) {
      const problem = derivedProblem(target, settings);
      if (problem !== null) {
        const hint = " (to give one module another r or alpha, use rank_pattern or alpha_pattern in the spec)";
        return { pointer: `/adapters/${i}/targets/${j}/${problem.field}`, message: `${problem.message}, ${REGENERATE}${hint}` };
      }
    }
  }
  return null;
}

function planMessage(problem: { pointer: string; message: string }): string {
  return problem.pointer === "" ? `invalid plan: ${problem.message}` : `invalid plan at ${problem.pointer}: ${problem.message}`;
}

/** Throws PeftcError `plan-invalid` naming the JSON pointer of the first violation. */
export function validatePlan(plan: unknown, file?: string): asserts plan is Plan {
  const problem = firstProblem(plan);
  if (problem === null) return;
  const where = file === undefined ? {} : { file };
  throw new PeftcError("plan-invalid", planMessage(problem), where);
}

/**
 * Position of the value at a JSON pointer in JSON text, read with the yaml parser because it keeps
 * node ranges. Falls back to the nearest existing parent.
 */
function pointerPosition(text: string, pointer: string): { line: number; col: number } | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false });
  const segments = pointer === "" ? [] : pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  let node: unknown = doc.contents;
  for (const segment of segments) {
    const next: unknown = isSeq(node) ? node.items[Number(segment)] : isMap(node) ? node.get(segment, true) : undefined;
    if (next === undefined || next === null) break;
    node = next;
  }
  const offset = nodeOffset(node);
  return offset === undefined ? undefined : lines.linePos(offset);
}

/** Parses JSON, turning a syntax error into PeftcError `json-syntax` with the line and column. */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /at position (\d+)/.exec(message);
    const offset = position !== null ? Number(position[1]) : text.length;
    const reason = message.replace(/ in JSON at position \d+.*$/, "").replace(/^JSON\.parse: /, "");
    throw new PeftcError("json-syntax", `invalid JSON: ${reason}`, { file, ...lineColAt(text, offset) });
  }
}

/** Parses a YAML plan, turning the first syntax error into PeftcError `yaml-syntax` with its position. */
function parseYamlPlan(text: string, file: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const error = doc.errors[0];
  if (error !== undefined) {
    const pos = lines.linePos(error.pos[0]);
    throw new PeftcError("yaml-syntax", `invalid plan: ${error.message.split("\n")[0]}; a plan is the JSON or YAML that \`peftc plan\` writes`, { file, line: pos.line, col: pos.col });
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/** Reads the plan file at `path` and validates it. Relative paths are read from `cwd` (default: process.cwd()). */
export function loadPlan(path: string, options: { cwd?: string } = {}): Plan {
  const fullPath = resolve(options.cwd ?? process.cwd(), path);
  let text: string;
  try {
    if (statSync(fullPath).isDirectory()) throw new PeftcError("plan-not-file", `${path} is a directory; pass a plan JSON file`, { file: path });
    text = readFileSync(fullPath, "utf8");
  } catch (err) {
    if (err instanceof PeftcError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "file not found" : (code ?? String(err));
    throw new PeftcError("plan-not-found", `cannot read plan ${path}: ${reason}`, { file: path });
  }
  // `peftc plan --format yaml` writes YAML plans; JSON plans start with "{".
  const plan = text.trimStart().startsWith("{") ? parseJson(text, path) : parseYamlPlan(text, path);
  const problem = firstProblem(plan);
  if (problem === null) return plan as Plan;
  const at = pointerPosition(text, problem.pointer) ?? {};
  throw new PeftcError("plan-invalid", planMessage(problem), { file: path, ...at });
}

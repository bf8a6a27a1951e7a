/** Field names a spec may use, and did-you-mean suggestions for the ones it may not. */
import { readSchema } from "./schema-files.js";

let loraFieldNames: readonly string[] | null = null;

/** Lists every field of PEFT's LoraConfig and PeftConfig that peftc supports, read from `spec.schema.json`. */
export function loraFields(): readonly string[] {
  if (loraFieldNames === null) {
    const defs = readSchema("spec.schema.json").$defs as Record<string, { properties: Record<string, unknown> }>;
    loraFieldNames = Object.keys(defs.loraFields!.properties);
  }
  return loraFieldNames;
}

/** Fields the compiler plans with; every other known field goes to `AdapterSpec.metadata`. */
export const PLANNING_FIELDS: ReadonlySet<string> = new Set([
  "r",
  "lora_alpha",
  "lora_dropout",
  "target_modules",
  "exclude_modules",
  "layers_to_transform",
  "layers_pattern",
  "rank_pattern",
  "alpha_pattern",
  "modules_to_save",
  "ensure_weight_tying",
  "trainable_token_indices",
  "target_parameters",
  "use_rslora",
  "use_dora",
  "bias",
  "lora_bias",
  "fan_in_fan_out",
  "init_lora_weights",
  "task_type",
]);

/** Top-level keys of the YAML form besides the LoRA fields. */
export const YAML_TOP_LEVEL_FIELDS: readonly string[] = ["model", "adapters"];

/**
 * Optimal string alignment distance: Levenshtein distance where swapping two adjacent
 * characters costs 1, so `lora_aplha` is 1 away from `lora_alpha`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (let i = 0; i < rows; i++) d[i]![0] = i;
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Returns the known field that `key` most likely misspells, or null. Case and `-` versus `_` are ignored;
 * a missing `lora_` prefix counts (`alpha` -> `lora_alpha`); otherwise up to 1 edit for names of
 * up to 5 characters and 2 edits for longer ones.
 */
export function suggestField(key: string, known: readonly string[]): string | null {
  const normalized = key.toLowerCase().replace(/-/g, "_");
  const direct = known.find((k) => k === normalized || k === `lora_${normalized}`);
  if (direct !== undefined) return direct;
  let limit = 2;
  if (normalized.length <= 5) limit = 1;
  if (normalized.length <= 2) limit = 0;
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const distance = editDistance(normalized, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

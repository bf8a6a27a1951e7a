/** Turns the checked LoRA fields of one adapter into an AdapterSpec with PEFT's LoraConfig defaults. */
import type { AdapterSpec, ExcludeSelector, SourcePos, TargetSelector } from "./types.js";
import { PLANNING_FIELDS } from "./fields.js";

/** What normalization needs besides the field values. */
export interface AdapterSource {
  name: string;
  /** Field values after inheritance (defaults overridden by the adapter's own fields); prototype-less. */
  fields: Record<string, unknown>;
  /** Keys of a mapping field (rank_pattern, alpha_pattern) in the order written. */
  keyOrder(field: string): string[];
  positionOf(path: Array<string | number>): SourcePos | undefined;
  patternPositionOf?(path: Array<string | number>, at?: "key" | "value"): SourcePos | undefined;
}

function has(fields: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(fields, key) && fields[key] !== undefined;
}

function value<T>(fields: Record<string, unknown>, key: string, fallback: T): T {
  return has(fields, key) && fields[key] !== null ? (fields[key] as T) : fallback;
}

function targetSelector(raw: unknown): TargetSelector | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === "string") {
    return raw.toLowerCase() === "all-linear" ? { kind: "all-linear", written: raw } : { kind: "regex", pattern: raw };
  }
  if (Array.isArray(raw)) return { kind: "list", entries: [...(raw as string[])] };
  const glob = (raw as { glob: string | string[] }).glob;
  return { kind: "glob", patterns: typeof glob === "string" ? [glob] : [...glob] };
}

function excludeSelector(raw: unknown): ExcludeSelector | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === "string") return { kind: "regex", pattern: raw };
  return { kind: "list", entries: [...(raw as string[])] };
}

function layersToTransform(raw: unknown): number[] | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === "number") return [raw];
  const list = raw as number[];
  return list.length === 0 ? null : [...list];
}

function layersPattern(raw: unknown): string[] | null {
  if (raw === null || raw === undefined || raw === "") return null;
  if (typeof raw === "string") return [raw];
  const list = raw as string[];
  return list.length === 0 ? null : [...list];
}

function patternEntries(source: AdapterSource, field: string): Array<[string, number]> {
  const raw = source.fields[field];
  if (raw === null || raw === undefined) return [];
  const map = raw as Record<string, number>;
  return source.keyOrder(field).map((key): [string, number] => [key, map[key]!]);
}

function tokenIndices(raw: unknown): number[] | Record<string, number[]> | null {
  if (raw === null || raw === undefined) return null;
  if (Array.isArray(raw)) return [...(raw as number[])];
  const out: Record<string, number[]> = Object.create(null);
  for (const [key, ids] of Object.entries(raw as Record<string, number[]>)) out[key] = [...ids];
  return out;
}

/**
 * Builds the AdapterSpec. Defaults are PEFT's LoraConfig defaults (v0.20): r 8, lora_alpha 8,
 * lora_dropout 0, bias "none", init_lora_weights true, every flag false and every selector null.
 */
export function normalizeAdapter(source: AdapterSource): AdapterSpec {
  const f = source.fields;
  const metadata: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(f)) {
    if (!PLANNING_FIELDS.has(key)) metadata[key] = f[key];
  }
  return {
    name: source.name,
    r: value(f, "r", 8),
    lora_alpha: value(f, "lora_alpha", 8),
    lora_dropout: value(f, "lora_dropout", 0),
    target_modules: targetSelector(f.target_modules),
    exclude_modules: excludeSelector(f.exclude_modules),
    layers_to_transform: layersToTransform(f.layers_to_transform),
    layers_pattern: layersPattern(f.layers_pattern),
    rank_pattern: patternEntries(source, "rank_pattern"),
    alpha_pattern: patternEntries(source, "alpha_pattern"),
    modules_to_save: f.modules_to_save == null ? null : [...(f.modules_to_save as string[])],
    ensure_weight_tying: value(f, "ensure_weight_tying", false),
    trainable_token_indices: tokenIndices(f.trainable_token_indices),
    target_parameters: f.target_parameters == null ? null : [...(f.target_parameters as string[])],
    use_rslora: value(f, "use_rslora", false),
    use_dora: value(f, "use_dora", false),
    bias: value(f, "bias", "none"),
    lora_bias: value(f, "lora_bias", false),
    fan_in_fan_out: has(f, "fan_in_fan_out") ? (f.fan_in_fan_out as boolean) : null,
    init_lora_weights: value(f, "init_lora_weights", true),
    task_type: value(f, "task_type", null),
    metadata,
    positionOf: source.positionOf,
    ...(source.patternPositionOf !== undefined ? { patternPositionOf: source.patternPositionOf } : {}),
  };
}

import * as tf from "@tensorflow/tfjs-core";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PeftcError } from "../compiler/errors.js";
import { writeFileAtomic } from "../compiler/io/atomic.js";
import { collectedError, RuntimeInputError } from "./errors.js";
import type { LoraLayer } from "./lora/layers.js";
import type { LoraModel } from "./lora/model.js";
import { Embedding } from "./nn/layers.js";
import { initMethod, sameScaling } from "./plan-settings.js";
import { READABLE_DTYPES, SafetensorsFormatError, readSafetensors, writeSafetensors } from "./safetensors.js";

export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** PEFT prefixes every key with the path of the base model inside PeftModel. */
const KEY_PREFIX = "base_model.model.";

/**
 * One tensor of PEFT's adapter state dict and the variable behind it. Several slots share one
 * variable in a tie group; `transposed` slots store the variable's transpose.
 */
export interface StateSlot {
  key: string;
  shape: number[];
  variable: tf.Variable;
  transposed: boolean;
}

export interface SaveOptions {
  /** Written as `base_model_name_or_path`, which PEFT uses to find the base model. */
  baseModelNameOrPath?: string | null;
  /** Written as `task_type`, e.g. `CAUSAL_LM`. */
  taskType?: string | null;
}

/**
 * Lists the adapter's tensors under the keys PEFT's `get_peft_model_state_dict` writes, with the
 * adapter name removed:
 * - Linear and Conv1D: `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r];
 * - Embedding: `.lora_embedding_A` [r, num_embeddings] and `.lora_embedding_B` [embedding_dim, r],
 *   without `.weight` because PEFT stores them as bare parameters;
 * - a saved module: each variable of its trained copy as `base_model.model.<module>.<name>`
 *   (`.weight`, `.bias`), which is how ModulesToSaveWrapper's state dict is keyed.
 * A tie-group member is listed under its own keys too, as PEFT writes it; a Linear member of an
 * Embedding source stores `lora_A = lora_embedding_Bᵀ` and `lora_B = lora_embedding_Aᵀ`.
 */
export function adapterStateSlots(lora: LoraModel): StateSlot[] {
  const slots: StateSlot[] = [];
  for (const [module, layer] of lora.layers) {
    const prefix = `${KEY_PREFIX}${module}`;
    const { A, B } = layer.factors;
    if (layer.base instanceof Embedding) {
      slots.push({ key: `${prefix}.lora_embedding_A`, shape: A.shape, variable: A, transposed: false });
      slots.push({ key: `${prefix}.lora_embedding_B`, shape: B.shape, variable: B, transposed: false });
    } else if (layer.transposed) {
      slots.push({ key: `${prefix}.lora_A.weight`, shape: [B.shape[1]!, B.shape[0]!], variable: B, transposed: true });
      slots.push({ key: `${prefix}.lora_B.weight`, shape: [A.shape[1]!, A.shape[0]!], variable: A, transposed: true });
    } else {
      slots.push({ key: `${prefix}.lora_A.weight`, shape: A.shape, variable: A, transposed: false });
      slots.push({ key: `${prefix}.lora_B.weight`, shape: B.shape, variable: B, transposed: false });
    }
  }
  for (const [module, saved] of lora.savedModules) {
    for (const [name, variable] of saved.copy.namedVariables()) {
      slots.push({ key: `${KEY_PREFIX}${module}.${name}`, shape: variable.shape, variable, transposed: false });
    }
  }
  return slots;
}

function slotValues(slot: StateSlot): Float32Array {
  return tf.tidy(() => (slot.transposed ? tf.transpose(slot.variable) : slot.variable).dataSync() as Float32Array).slice();
}

/**
 * Writes `adapter_model.safetensors` and `adapter_config.json` into `dir`, creating it if needed.
 * A file system error becomes a RuntimeInputError `adapter-write-failed` naming `dir`.
 */
export function saveAdapter(lora: LoraModel, dir: string, options: SaveOptions = {}): void {
  const config = adapterConfig(lora, options);
  const tensors = adapterStateSlots(lora).map((slot) => ({ name: slot.key, shape: slot.shape, data: slotValues(slot) }));
  try {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(join(dir, ADAPTER_WEIGHTS_FILE), writeSafetensors(tensors, { format: "pt" }));
    writeFileAtomic(join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  } catch (err) {
    // The atomic write reports its own failures with the file and the reason.
    if (err instanceof PeftcError) throw new RuntimeInputError("adapter-write-failed", err.message, { file: dir });
    const { code, path } = err as NodeJS.ErrnoException;
    if (typeof code !== "string") throw err;
    // A file system error names the path it failed on, e.g. the existing file mkdir met.
    const where = path !== undefined && path !== dir ? ` at ${path}` : "";
    throw new RuntimeInputError("adapter-write-failed", `cannot write the adapter${where}: ${FS_ERRORS[code] ?? code}`, { file: dir });
  }
}

/** Plain wording for the file system errors a save commonly meets; others are shown by code. */
const FS_ERRORS: Record<string, string> = {
  EEXIST: "a file exists where a directory is needed (EEXIST)",
  ENOTDIR: "a path component is a file, not a directory (ENOTDIR)",
  EACCES: "permission denied (EACCES)",
  EPERM: "operation not permitted (EPERM)",
  ENOSPC: "no space left on the device (ENOSPC)",
  EROFS: "the file system is read-only (EROFS)",
};

/** Returns the value that occurs most often, or the first of those tied for most. */
function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0]!;
  for (const [v, n] of counts) if (n > (counts.get(best) ?? 0)) best = v;
  return best;
}

function usesRslora(layer: LoraLayer): boolean {
  const { r, alpha, scaling } = layer.settings;
  return sameScaling(scaling, alpha / Math.sqrt(r)) && !sameScaling(scaling, alpha / r);
}

/**
 * PEFT's `LoraConfig` for this adapter, as `save_pretrained` writes it: `target_modules` is the
 * explicit list of fully-qualified names, and per-module r or alpha that differ from the most
 * common value go to `rank_pattern` / `alpha_pattern` keyed by the full name.
 */
export function adapterConfig(lora: LoraModel, options: SaveOptions = {}): Record<string, unknown> {
  const layers = [...lora.layers];
  const problems: string[] = [];
  const rslora = layers.map(([, l]) => usesRslora(l));
  if (rslora.some((v) => v !== rslora[0])) problems.push("some targets scale by alpha / sqrt(r) and others by alpha / r; PEFT's use_rslora is one setting");
  const dropouts = new Set(layers.filter(([, l]) => !(l.base instanceof Embedding)).map(([, l]) => l.settings.dropout));
  if (dropouts.size > 1) problems.push(`targets use different dropouts (${[...dropouts].join(", ")}); PEFT's lora_dropout is one setting`);
  if (problems.length > 0) throw collectedError("peft-format-unsupported", "cannot express this adapter as a PEFT LoraConfig", problems);

  const r = layers.length > 0 ? mostCommon(layers.map(([, l]) => l.settings.r)) : 8;
  const alpha = layers.length > 0 ? mostCommon(layers.map(([, l]) => l.settings.alpha)) : 8;
  // NOTE: full-name pattern keys match under PEFT's current rule `(.*\.)?(K)$`. Older PEFT
  // releases used `.*\.K$`, which needs a segment before K, so they match no full-name key.
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const [name, layer] of layers) {
    if (layer.settings.r !== r) rankPattern[name] = layer.settings.r;
    if (layer.settings.alpha !== alpha) alphaPattern[name] = layer.settings.alpha;
  }
  const linearLike = layers.filter(([, l]) => !(l.base instanceof Embedding));
  const saved = [...lora.savedModules.keys()];
  const tied = (lora.adapter.tie_groups ?? []).some((g) => g.mode === "shared_adapter" || g.mode === "shared_copy");
  const config: Record<string, unknown> = {
    alpha_pattern: alphaPattern,
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    bias: "none",
    fan_in_fan_out: linearLike.length > 0 && linearLike.every(([, l]) => l.base.typeName === "Conv1D"),
    inference_mode: true,
    init_lora_weights: initMethod(lora.adapter) === "gaussian" ? "gaussian" : true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: alpha,
    lora_dropout: dropouts.size === 1 ? [...dropouts][0] : 0,
    modules_to_save: saved.length > 0 ? saved : null,
    peft_type: "LORA",
    r,
    rank_pattern: rankPattern,
    revision: null,
    target_modules: layers.map(([name]) => name),
    task_type: options.taskType ?? null,
    use_dora: false,
    use_rslora: rslora[0] ?? false,
  };
  // Only PEFT versions with tie support know this field; it is left out when nothing is tied.
  if (tied) config["ensure_weight_tying"] = true;
  return config;
}

/**
 * Loads an adapter PEFT saved (or `saveAdapter` wrote) into a model the same plan was applied
 * to. It checks every key, shape and dtype, and compares the config's r, alpha and rsLoRA
 * setting per target. All problems are reported in one error, and the model is left unchanged.
 * Keys of a tie group must hold equal values, because they load into one variable.
 */
export function loadAdapter(lora: LoraModel, dir: string): void {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  for (const path of [configPath, weightsPath]) {
    if (!existsSync(path)) throw new RuntimeInputError("adapter-file-missing", `${path} not found`, { file: path });
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new RuntimeInputError("adapter-config-invalid", `invalid JSON: ${(err as Error).message}`, { file: configPath });
  }
  const configProblems = checkConfig(lora, config);
  if (configProblems.length > 0) throw collectedError("adapter-config-mismatch", "the adapter config does not fit the applied plan", configProblems, configPath);

  let file;
  try {
    file = readSafetensors(readFileSync(weightsPath));
  } catch (err) {
    if (err instanceof SafetensorsFormatError) throw new RuntimeInputError("adapter-file-invalid", err.message, { file: weightsPath });
    throw err;
  }
  const slots = adapterStateSlots(lora);
  const problems: string[] = [];
  const valuesByVariable = new Map<tf.Variable, { key: string; values: Float32Array }>();
  for (const slot of slots) {
    const entry = file.tensors.get(slot.key);
    if (entry === undefined) {
      problems.push(`missing key ${slot.key} (expected [${slot.shape}])`);
      continue;
    }
    const dtypeOk = entry.dtype in READABLE_DTYPES && entry.data !== null;
    const shapeOk = entry.shape.length === slot.shape.length && entry.shape.every((d, i) => d === slot.shape[i]);
    if (!dtypeOk) problems.push(`${slot.key}: dtype ${entry.dtype} is not supported (F32, F16, BF16 are)`);
    if (!shapeOk) problems.push(`${slot.key}: shape [${entry.shape}] does not match the adapter's [${slot.shape}]`);
    if (!dtypeOk || !shapeOk) continue;
    // Store values in the variable's own layout, so tied keys compare directly.
    const values = slot.transposed ? transpose2d(entry.data!, slot.shape[0]!, slot.shape[1]!) : entry.data!;
    const previous = valuesByVariable.get(slot.variable);
    if (previous === undefined) valuesByVariable.set(slot.variable, { key: slot.key, values });
    else if (!sameBits(previous.values, values)) problems.push(`${slot.key}: values differ from ${previous.key}, which is tied to it and loads into the same tensor`);
  }
  const expected = new Set(slots.map((s) => s.key));
  for (const key of file.tensors.keys()) {
    if (!expected.has(key)) problems.push(`unexpected key ${key}`);
  }
  if (problems.length > 0) throw collectedError("adapter-file-mismatch", "the adapter weights do not fit the applied plan", problems, weightsPath);

  // Merged weights contain the old deltas, so they are taken out and put back around the update.
  const wasMerged = lora.merged;
  if (wasMerged) lora.unmerge();
  for (const [variable, { values }] of valuesByVariable) {
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
  }
  if (wasMerged) lora.merge();
}

function checkConfig(lora: LoraModel, config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (config["peft_type"] !== "LORA") problems.push(`peft_type is ${JSON.stringify(config["peft_type"])}, expected "LORA"`);
  if (config["use_dora"] === true) problems.push("use_dora is true; the runtime does not implement DoRA");
  const r = config["r"];
  const alpha = config["lora_alpha"];
  if (typeof r !== "number" || typeof alpha !== "number") {
    problems.push("r and lora_alpha must be numbers");
    return problems;
  }
  const rankPattern = (config["rank_pattern"] ?? {}) as Record<string, number>;
  const alphaPattern = (config["alpha_pattern"] ?? {}) as Record<string, number>;
  const rslora = config["use_rslora"] === true;
  for (const [name, layer] of lora.layers) {
    const moduleR = patternValue(rankPattern, name) ?? r;
    const moduleAlpha = patternValue(alphaPattern, name) ?? alpha;
    const scaling = rslora ? moduleAlpha / Math.sqrt(moduleR) : moduleAlpha / moduleR;
    if (moduleR !== layer.settings.r) problems.push(`${name}: r is ${moduleR} in the config, ${layer.settings.r} in the plan`);
    else if (Math.abs(scaling - layer.settings.scaling) > 1e-6 * Math.max(1, Math.abs(scaling))) {
      problems.push(`${name}: scaling is ${scaling} in the config (lora_alpha ${moduleAlpha}${rslora ? ", use_rslora" : ""}), ${layer.settings.scaling} in the plan`);
    }
  }
  return problems;
}

/**
 * PEFT's pattern lookup: the first key K, in written order, whose regex `(.*\.)?(K)$` matches the
 * module name from its start. Keys are read as JavaScript regexes, which agree with Python's for
 * the names and simple patterns found in adapter configs.
 */
function patternValue(pattern: Record<string, number>, name: string): number | undefined {
  for (const [key, value] of Object.entries(pattern)) {
    let matches: boolean;
    try {
      matches = new RegExp(`^(.*\\.)?(${key})$`).test(name);
    } catch {
      matches = key === name;
    }
    if (matches) return value;
  }
  return undefined;
}

function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j]!;
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

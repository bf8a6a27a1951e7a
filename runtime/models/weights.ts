import * as tf from "@tensorflow/tfjs-core";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { collectedError, RuntimeInputError } from "../errors.js";
import { SafetensorsFormatError, readSafetensors, type SafetensorsEntry } from "../safetensors.js";
import type { CausalLM } from "./causal-lm.js";

const INDEX_FILE = "model.safetensors.index.json";
const SINGLE_FILE = "model.safetensors";

/**
 * Buffers some checkpoints store next to the parameters: GPT-2's causal-mask `attn.bias` and
 * `attn.masked_bias`, and older Llama checkpoints' `rotary_emb.inv_freq`. They are recomputed,
 * so a loader skips them.
 */
const BUFFER_SUFFIXES = [".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"];

/** The safetensors files of a model directory: the shards its index lists, or model.safetensors; empty when it has none. */
export function checkpointFiles(dir: string): string[] {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(readFileSync(indexPath, "utf8")) as typeof index;
    } catch (err) {
      throw new RuntimeInputError("checkpoint-invalid", `invalid JSON: ${(err as Error).message}`, { file: indexPath });
    }
    if (index.weight_map === null || typeof index.weight_map !== "object") {
      throw new RuntimeInputError("checkpoint-invalid", "missing field \"weight_map\"", { file: indexPath });
    }
    const shards = [...new Set(Object.values(index.weight_map))].sort();
    const missing = shards.filter((s) => !existsSync(join(dir, s)));
    // An index without its shards is metadata only (what the compiler reads); weights then start random.
    if (missing.length === shards.length) return [];
    if (missing.length > 0) throw collectedError("checkpoint-incomplete", `${INDEX_FILE} lists shards that are missing`, missing, indexPath);
    return shards.map((s) => join(dir, s));
  }
  const single = join(dir, SINGLE_FILE);
  return existsSync(single) ? [single] : [];
}

/**
 * Loads checkpoint tensors into the model's variables. Names are matched as transformers saves
 * them, also without the base-model prefix (`h.0.attn.c_attn.weight` for
 * `transformer.h.0.attn.c_attn.weight`). A tied model's `lm_head.weight` is not required and is
 * ignored when present, because the tie makes it the embedding. Layers past `keptLayers` (a
 * reduced `num_hidden_layers`) are skipped. Missing, unexpected and misshapen tensors are all
 * reported in one error; F32, F16 and BF16 are read, and values are kept as float32.
 */
export function loadCheckpoint(model: CausalLM, files: string[], keptLayers: number): void {
  const variables = new Map(model.namedVariables());
  const prefix = model.inputEmbeddings.split(".")[0]! + ".";
  const loaded = new Set<string>();
  const problems: string[] = [];
  for (const file of files) {
    // NOTE: each shard is read and decoded to float32 whole, so loading needs about the model's
    // float32 size plus one decoded shard of memory.
    let tensors: Map<string, SafetensorsEntry>;
    try {
      tensors = readSafetensors(readFileSync(file)).tensors;
    } catch (err) {
      if (err instanceof SafetensorsFormatError) throw new RuntimeInputError("checkpoint-invalid", err.message, { file });
      throw err;
    }
    for (const [key, entry] of tensors) {
      const name = variables.has(key) ? key : variables.has(prefix + key) ? prefix + key : null;
      if (name === null) {
        if (!isSkipped(key, model, keptLayers)) problems.push(`unexpected tensor ${key} in ${file}`);
        continue;
      }
      const variable = variables.get(name)!;
      if (entry.data === null) {
        problems.push(`${key}: dtype ${entry.dtype} is not supported (F32, F16 and BF16 are)`);
      } else if (entry.shape.join("x") !== variable.shape.join("x")) {
        problems.push(`${key}: shape [${entry.shape}] does not match the model's [${variable.shape}]`);
      } else {
        tf.tidy(() => variable.assign(tf.tensor(entry.data!, variable.shape, "float32")));
        loaded.add(name);
      }
    }
  }
  for (const name of variables.keys()) {
    if (!loaded.has(name)) problems.push(`missing tensor ${name}`);
  }
  if (problems.length > 0) throw collectedError("checkpoint-mismatch", "the checkpoint does not fit the model built from config.json", problems, files.length === 1 ? files[0] : undefined);
}

function isSkipped(key: string, model: CausalLM, keptLayers: number): boolean {
  if (BUFFER_SUFFIXES.some((suffix) => key.endsWith(suffix))) return true;
  if (key === `${model.outputEmbeddings}.weight` && model.tied) return true;
  const layer = /(?:^|\.)(?:h|layers)\.(\d+)\./.exec(key);
  return layer !== null && Number(layer[1]) >= keptLayers;
}

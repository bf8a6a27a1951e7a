import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RuntimeInputError } from "../errors.js";
import { CausalLM } from "./causal-lm.js";
import { isGPT2Config, layerCountOf, parseModelConfig, type LlamaConfig, type ModelConfig } from "./config.js";
import { GPT2LMHeadModel } from "./gpt2.js";
import { LlamaForCausalLM } from "./llama.js";
import { checkpointFiles, loadCheckpoint } from "./weights.js";

export { CausalLM } from "./causal-lm.js";
export { causalLmLoss } from "./common.js";
export { isGPT2Config, layerCountOf, maxPositionsOf, parseModelConfig, type GPT2Config, type LlamaConfig, type ModelConfig } from "./config.js";
export { GPT2LMHeadModel } from "./gpt2.js";
export { LlamaForCausalLM, inverseFrequencies } from "./llama.js";

export interface LoadModelOptions {
  /** Keep only the first N layers (a quick run on a large model). */
  numHiddenLayers?: number;
  /** Seed for the initial weights when the directory has none, and for dropout masks. */
  seed?: number;
  /** Build with random weights even when the directory has a checkpoint. */
  randomWeights?: boolean;
}

/** Builds the model a parsed config describes, with seeded random weights. */
export function buildModel(config: ModelConfig, options: { seed?: number; file?: string } = {}): CausalLM {
  return isGPT2Config(config) ? new GPT2LMHeadModel(config, options) : new LlamaForCausalLM(config as LlamaConfig, options);
}

/**
 * Builds a causal LM from a Hugging Face model directory: config.json decides the architecture,
 * and the weights come from `model.safetensors` or the shards of `model.safetensors.index.json`
 * when the directory has them, otherwise from a seeded random initialisation.
 */
export function loadModel(dir: string, options: LoadModelOptions = {}): { model: CausalLM; weights: "checkpoint" | "random"; files: string[] } {
  const config = readModelConfig(dir, options);
  const configPath = join(dir, "config.json");
  const buildOptions = options.seed === undefined ? { file: configPath } : { file: configPath, seed: options.seed };
  const model = buildModel(config, buildOptions);
  const files = options.randomWeights === true ? [] : checkpointFiles(dir);
  if (files.length === 0) return { model, weights: "random", files };
  loadCheckpoint(model, files, layerCountOf(config));
  return { model, weights: "checkpoint", files };
}

/** Reads and checks a model directory's config.json, with the layer override of `options` applied. */
export function readModelConfig(dir: string, options: Pick<LoadModelOptions, "numHiddenLayers"> = {}): ModelConfig {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new RuntimeInputError("model-config-missing", "config.json not found in the model directory", { file: configPath });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (err) {
    throw new RuntimeInputError("model-config-invalid", `invalid JSON: ${(err as Error).message}`, { file: configPath });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new RuntimeInputError("model-config-invalid", "config.json is not a JSON object", { file: configPath });
  const configOptions = options.numHiddenLayers === undefined ? { file: configPath } : { file: configPath, numHiddenLayers: options.numHiddenLayers };
  return parseModelConfig(raw as Record<string, unknown>, configOptions);
}

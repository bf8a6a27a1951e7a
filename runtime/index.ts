/**
 * The peftc runtime: applies `peftc-plan/1` plans to TensorFlow.js module trees and moves
 * adapters to and from PEFT's format.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { applyPlan, initBackend, saveAdapter } from "peftc/runtime";
 *
 * console.error((await initBackend()).summary); // e.g. "backend: wasm (CPU)"
 * const lora = applyPlan(model, plan, { seed: 0 }); // model: a Module tree, plan: parsed plan JSON
 * model.train();
 * const optimizer = tf.train.adam(1e-3);
 * optimizer.minimize(() => loss(model), false, lora.trainableVariables());
 * saveAdapter(lora, "out/adapter", { baseModelNameOrPath: "org/model" });
 * ```
 *
 * Call `initBackend()` before training: importing this module also registers tfjs's gradients.
 */
export { applyPlan, type ApplyOptions } from "./apply.js";
export { initBackend, type BackendChoice, type BackendOptions, type BackendPreference } from "./backend.js";
export { RuntimeInputError } from "./errors.js";
export { diffModules, fingerprintModel, toGraph, type GraphOptions, type RuntimeGraph } from "./graph.js";
export { LoraLayer, initFactors, type LoraFactors, type LoraSettings } from "./lora/layers.js";
export { LoraModel } from "./lora/model.js";
export { SavedModule, cloneModule } from "./lora/saved.js";
export * from "./nn/index.js";
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterConfig,
  adapterStateSlots,
  loadAdapter,
  saveAdapter,
  type SaveOptions,
  type StateSlot,
} from "./peft-format.js";
export { Rng } from "./random.js";
export { halfToFloat, readSafetensors, writeSafetensors, type SafetensorsEntry, type SafetensorsFile } from "./safetensors.js";
export {
  CausalLM,
  GPT2LMHeadModel,
  LlamaForCausalLM,
  buildModel,
  causalLmLoss,
  loadModel,
  parseModelConfig,
  type GPT2Config,
  type LlamaConfig,
  type LoadModelOptions,
  type ModelConfig,
} from "./models/index.js";
export { runTrain, type TrainIo, type TrainCommandOptions } from "./cli/train.js";
export { evaluateLoss, train, type StepReport, type TrainOptions, type TrainResult } from "./train/trainer.js";

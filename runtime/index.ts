/** The peftc runtime: applies `peftc-plan/1` plans to TensorFlow.js module trees and moves adapters to and from PEFT's format. */
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

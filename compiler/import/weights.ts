/**
 * Turns checkpoint tensor names into modules. A parameter `X.weight` (with an optional `X.bias`)
 * makes module X. Buffers and quantization state are dropped. Any other tensor (fused expert
 * blocks, attention sinks, class tokens) is a parameter owned by the module that holds it, not a
 * module of its own.
 */
import type { GraphModule } from "../graph/types.js";
import type { TensorInfo } from "./safetensors.js";

/** Last name segments of registered buffers that checkpoints sometimes store. */
const BUFFER_NAMES = new Set(["inv_freq", "masked_bias", "position_ids", "_float_tensor", "embed_positions_buffer"]);

/** Suffixes of bitsandbytes quantization state stored next to a quantized weight. */
const QUANT_SUFFIXES = [".absmax", ".quant_map", ".SCB", ".nested_absmax", ".nested_quant_map", ".weight_format"];

/** Modules whose orphan `.bias` is the causal-mask buffer of GPT-2 and GPT-NeoX attention, not a parameter. */
const ATTENTION_NAMES = new Set(["attn", "attention", "self_attention", "self_attn"]);

export type KeyClass =
  | { kind: "buffer" }
  | { kind: "quant-state"; module: string | null }
  | { kind: "parameter"; module: string; leaf: string };

/** Classifies one checkpoint tensor name. */
export function classifyKey(key: string): KeyClass {
  const quantState = key.indexOf(".quant_state.");
  if (quantState >= 0) return { kind: "quant-state", module: ownerOfWeight(key.slice(0, quantState)) };
  for (const suffix of QUANT_SUFFIXES) {
    if (key.endsWith(suffix)) return { kind: "quant-state", module: ownerOfWeight(key.slice(0, -suffix.length)) };
  }
  // MXFP4 (gpt-oss) stores a quantized parameter P as P_blocks and P_scales.
  if (key.endsWith("_blocks") || key.endsWith("_scales")) {
    const dot = key.lastIndexOf(".");
    return { kind: "parameter", module: dot < 0 ? "" : key.slice(0, dot), leaf: key.slice(dot + 1).replace(/_(blocks|scales)$/, "") };
  }
  const dot = key.lastIndexOf(".");
  const leaf = key.slice(dot + 1);
  if (BUFFER_NAMES.has(leaf)) return { kind: "buffer" };
  return { kind: "parameter", module: dot < 0 ? "" : key.slice(0, dot), leaf };
}

function ownerOfWeight(weightKey: string): string | null {
  return weightKey.endsWith(".weight") ? weightKey.slice(0, -".weight".length) : null;
}

export interface ModuleParameters {
  weight: string | null;
  bias: string | null;
  /** Other tensors the module owns (fused experts, sinks, cls_token). */
  loose: string[];
  /** True when quantization state sits next to the weight, so its stored shape is packed. */
  quantized: boolean;
}

/** Groups tensor names by the module that owns them, dropping buffers and quantization state. */
export function collectParameters(keys: Iterable<string>): Map<string, ModuleParameters> {
  const params = new Map<string, ModuleParameters>();
  const get = (name: string): ModuleParameters => {
    let p = params.get(name);
    if (p === undefined) {
      p = { weight: null, bias: null, loose: [], quantized: false };
      params.set(name, p);
    }
    return p;
  };
  const quantized: string[] = [];
  for (const key of keys) {
    const c = classifyKey(key);
    if (c.kind === "buffer") continue;
    if (c.kind === "quant-state") {
      if (c.module !== null) quantized.push(c.module);
      continue;
    }
    if (c.module === "") continue; // a root-level tensor owns no module name of its own
    const p = get(c.module);
    if (c.leaf === "weight") p.weight = key;
    else if (c.leaf === "bias") p.bias = key;
    else if (!p.loose.includes(key)) p.loose.push(key);
  }
  for (const name of quantized) {
    const p = params.get(name);
    if (p !== undefined) p.quantized = true;
  }
  for (const [name, p] of params) {
    if (p.weight !== null || p.bias === null) continue;
    const last = name.slice(name.lastIndexOf(".") + 1);
    if (ATTENTION_NAMES.has(last)) {
      // GPT-2 / GPT-NeoX causal mask buffer saved as `attn.bias`.
      p.bias = null;
      if (p.loose.length === 0) params.delete(name);
    } else {
      // A bias with no weight (BERT's `cls.predictions.bias`) is a plain parameter of the module.
      p.loose.push(p.bias);
      p.bias = null;
    }
  }
  return params;
}

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

const EMBEDDING_NAME = /(^|_)(embed|embeddings?|wte|wpe|shared|embed_in|embed_tokens)$|embedding$/i;
const NORM_NAME = /norm|^ln(_|\d|$)|layernorm/i;
const CONV_NAME = /conv|patch_embed|^proj$/i;

function typeFromName(name: string, conv1dNames: string[]): string {
  const last = name.slice(name.lastIndexOf(".") + 1);
  const parent = name.slice(0, Math.max(0, name.lastIndexOf(".")));
  if (conv1dNames.includes(last)) return "Conv1D";
  if (/conv1d/i.test(last)) return "Conv1d";
  if (CONV_NAME.test(last) && (last !== "proj" || /patch_embed/i.test(parent))) return "Conv2d";
  if (/patch_embedding$/.test(last)) return "Conv2d";
  if (NORM_NAME.test(last)) return "LayerNorm";
  if (EMBEDDING_NAME.test(last)) return "Embedding";
  return "Linear";
}

function typeFromShape(name: string, shape: number[], hasBias: boolean, conv1dNames: string[], template: GraphModule | undefined): string {
  const last = name.slice(name.lastIndexOf(".") + 1);
  if (template !== undefined && template.type !== "Module") return template.type;
  switch (shape.length) {
    case 1:
      return hasBias ? "LayerNorm" : "RMSNorm";
    case 2:
      if (conv1dNames.includes(last)) return "Conv1D";
      return EMBEDDING_NAME.test(last) ? "Embedding" : "Linear";
    case 3:
      return "Conv1d";
    case 4:
      return "Conv2d";
    case 5:
      return "Conv3d";
    default:
      return "Module";
  }
}

/** Builds module `name` from its tensors: shapes from safetensors headers, else the template, else unknown. */
export function moduleFromKeys(
  name: string,
  p: ModuleParameters,
  shapes: Map<string, TensorInfo>,
  template: GraphModule | undefined,
  conv1dNames: string[],
): GraphModule {
  if (p.weight === null) return ownerModule(name, p, shapes, template);

  const hasBias = p.bias !== null;
  const weight = p.quantized ? undefined : shapes.get(p.weight);
  if (weight !== undefined) {
    const type = typeFromShape(name, weight.shape, hasBias, conv1dNames, template);
    const m = moduleFromShape(name, type, weight.shape, hasBias, p, shapes, template);
    checkAgainstTemplate(m, p.weight, weight.shape, template);
    return m;
  }
  if (template !== undefined) {
    const m: GraphModule = { ...template };
    if (m.bias !== undefined) {
      m.bias = hasBias;
      m.inferred = (m.inferred ?? []).filter((f) => f !== "bias");
    }
    return m;
  }
  const type = typeFromName(name, conv1dNames);
  const m: GraphModule = { name, type, inferred: ["type"] };
  switch (type) {
    case "Linear":
    case "Conv1D":
      return { ...m, in_features: null, out_features: null, bias: hasBias };
    case "Embedding":
      return { ...m, num_embeddings: null, embedding_dim: null };
    case "Conv1d":
    case "Conv2d":
      return { ...m, in_channels: null, out_channels: null, kernel_size: null, groups: null, bias: hasBias };
    default:
      return { ...m, parameters: null };
  }
}

/**
 * Raised when a checkpoint tensor's shape disagrees with the module config.json describes;
 * transformers refuses to load such a checkpoint too ("size mismatch"). The importer names config.json.
 */
export class ShapeMismatch extends Error {}

const SIZE_FIELDS: Record<string, string[]> = {
  Linear: ["in_features", "out_features"],
  Conv1D: ["in_features", "out_features"],
  Embedding: ["num_embeddings", "embedding_dim"],
};

/** Throws ShapeMismatch when `m`, built from the tensor `key`, disagrees with the template from config.json. */
function checkAgainstTemplate(m: GraphModule, key: string, shape: number[], template: GraphModule | undefined): void {
  const fields = SIZE_FIELDS[m.type];
  if (template === undefined || template.type !== m.type || fields === undefined) return;
  const record = (g: GraphModule): Record<string, unknown> => g as unknown as Record<string, unknown>;
  const expected = fields.map((f) => `${f} ${String(record(template)[f])}`).join(" and ");
  const differs = shape.length !== 2 || fields.some((f) => typeof record(template)[f] === "number" && record(template)[f] !== record(m)[f]);
  if (!differs) return;
  const dimensions = shape.length !== 2 ? ", whose weight has 2 dimensions" : "";
  throw new ShapeMismatch(`tensor '${key}' has shape [${shape.join(", ")}], but config.json makes ${m.name} a ${m.type} with ${expected}${dimensions}`);
}

function moduleFromShape(
  name: string,
  type: string,
  shape: number[],
  hasBias: boolean,
  p: ModuleParameters,
  shapes: Map<string, TensorInfo>,
  template: GraphModule | undefined,
): GraphModule {
  const inferred = template !== undefined && template.type === type ? [] : ["type"];
  switch (type) {
    case "Linear":
      if (shape.length === 2) return { name, type, in_features: shape[1]!, out_features: shape[0]!, bias: hasBias, inferred };
      break;
    case "Conv1D":
      if (shape.length === 2) return { name, type, in_features: shape[0]!, out_features: shape[1]!, bias: hasBias, inferred };
      break;
    case "Embedding":
      if (shape.length === 2) return { name, type, num_embeddings: shape[0]!, embedding_dim: shape[1]!, inferred };
      break;
    case "Conv1d":
    case "Conv2d":
    case "Conv3d": {
      if (shape.length < 3) break;
      const groups = template?.groups ?? 1;
      if (template?.groups === undefined) inferred.push("groups");
      return {
        name,
        type,
        in_channels: shape[1]! * groups,
        out_channels: shape[0]!,
        kernel_size: shape.slice(2),
        groups,
        bias: hasBias,
        inferred,
      };
    }
  }
  // Norms and other classes: count what the checkpoint stores.
  let parameters = numel(shape);
  if (p.bias !== null) {
    const bias = shapes.get(p.bias);
    parameters = bias === undefined ? Number.NaN : parameters + numel(bias.shape);
  }
  for (const key of p.loose) {
    const info = shapes.get(key);
    parameters = info === undefined ? Number.NaN : parameters + numel(info.shape);
  }
  return { name, type, parameters: Number.isNaN(parameters) ? null : parameters, inferred };
}

function ownerModule(name: string, p: ModuleParameters, shapes: Map<string, TensorInfo>, template: GraphModule | undefined): GraphModule {
  let parameters: number | null = 0;
  for (const key of p.loose) {
    const info = shapes.get(key);
    // MXFP4 blocks and scales are packed, so their shapes do not give the parameter count.
    if (info === undefined || key.endsWith("_blocks") || key.endsWith("_scales")) {
      parameters = null;
      break;
    }
    parameters += numel(info.shape);
  }
  if (parameters === null && template?.parameters !== undefined) return { ...template };
  return { name, type: template?.type ?? "Module", parameters, inferred: template === undefined ? ["type"] : [] };
}

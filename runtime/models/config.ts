import { RuntimeInputError } from "../errors.js";

/** Architectures the runtime builds, keyed by `model_type` in config.json. */
export const LLAMA_FAMILY = new Set(["llama", "mistral", "qwen2", "smollm3"]);
export const GPT2_FAMILY = new Set(["gpt2"]);

/** Options for reading a config. `file` is named in errors, and `numHiddenLayers` keeps only the first N layers. */
export interface ConfigOptions {
  file?: string;
  numHiddenLayers?: number;
}

export interface GPT2Config {
  modelType: "gpt2";
  architecture: string;
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  /** The layer count config.json gives, before a `numHiddenLayers` override. */
  configuredLayers: number;
  nHead: number;
  nInner: number;
  activation: string;
  layerNormEpsilon: number;
  embdPdrop: number;
  attnPdrop: number;
  residPdrop: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  tieWordEmbeddings: boolean;
  /** config.json as read, before the layer override. */
  raw: Record<string, unknown>;
}

/** Rotary frequency scaling, as transformers' `rope_type` names it. */
export type RopeScaling =
  | { type: "default" }
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface LlamaConfig {
  modelType: string;
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  /** The layer count config.json gives, before a `numHiddenLayers` override. */
  configuredLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  hiddenAct: string;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** The longest sequence the rotary embeddings were trained for (`max_position_embeddings`). */
  maxPositionEmbeddings: number;
  /** Bias on q_proj, k_proj and v_proj (Qwen2 always; Llama with `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama with `attention_bias`). */
  oBias: boolean;
  mlpBias: boolean;
  attentionDropout: number;
  /** Per layer: the number of positions a query attends to (itself included), or null for full causal attention. */
  slidingWindow: Array<number | null>;
  /** Per layer: false where the layer skips rotary embeddings (SmolLM3's `no_rope_layers`). */
  useRope: boolean[];
  tieWordEmbeddings: boolean;
  raw: Record<string, unknown>;
}

export type ModelConfig = GPT2Config | LlamaConfig;

export function isGPT2Config(config: ModelConfig): config is GPT2Config {
  return config.modelType === "gpt2";
}

/**
 * `max_position_embeddings` when config.json leaves it out: the defaults of transformers'
 * LlamaConfig, MistralConfig, Qwen2Config and SmolLM3Config.
 */
const MAX_POSITION_EMBEDDINGS: Record<string, number> = { llama: 2048, mistral: 4096 * 32, qwen2: 32768, smollm3: 32768 };

/**
 * Returns the longest sequence the model takes and the config field that sets it: GPT-2's
 * learned position table has `n_positions` rows, and Llama-family rotary embeddings are trained
 * up to `max_position_embeddings`.
 */
export function maxPositionsOf(config: ModelConfig): { limit: number; field: string } {
  if (isGPT2Config(config)) return { limit: config.nPositions, field: "n_positions" };
  return { limit: (config as LlamaConfig).maxPositionEmbeddings, field: "max_position_embeddings" };
}

/** Returns the number of decoder layers the model is built with (after any override). */
export function layerCountOf(config: ModelConfig): number {
  return isGPT2Config(config) ? config.nLayer : (config as LlamaConfig).numHiddenLayers;
}

/** Reads config fields with type checks; a wrong or missing field is one clear error naming the file. */
class FieldReader {
  constructor(private readonly raw: Record<string, unknown>, private readonly file: string | undefined) {}

  fail(message: string): never {
    throw new RuntimeInputError("model-config-invalid", message, this.file === undefined ? {} : { file: this.file });
  }

  int(key: string, fallback?: number): number {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      this.fail(value === undefined ? `missing field "${key}"` : `"${key}" must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  number(key: string, fallback?: number): number {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.fail(value === undefined ? `missing field "${key}"` : `"${key}" must be a number, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== "boolean") this.fail(`"${key}" must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  string(key: string, fallback: string): string {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== "string") this.fail(`"${key}" must be a string, got ${JSON.stringify(value)}`);
    return value;
  }
}

/**
 * Parses a Hugging Face config.json object for a model the runtime can build. Defaults are the
 * transformers config classes' defaults (GPT2Config, LlamaConfig, Qwen2Config, ...), so a
 * config that leaves a field out builds the same model transformers would.
 */
export function parseModelConfig(raw: Record<string, unknown>, options: ConfigOptions = {}): ModelConfig {
  const reader = new FieldReader(raw, options.file);
  const modelType = raw["model_type"];
  if (typeof modelType !== "string") return reader.fail('missing field "model_type"');
  if (GPT2_FAMILY.has(modelType)) return gpt2Config(raw, reader, options);
  if (LLAMA_FAMILY.has(modelType)) return llamaConfig(modelType, raw, reader, options);
  const known = [...GPT2_FAMILY, ...LLAMA_FAMILY].join(", ");
  throw new RuntimeInputError("model-unsupported", `model_type "${modelType}" has no runtime builder; supported: ${known}`, options.file === undefined ? {} : { file: options.file });
}

function architectureOf(raw: Record<string, unknown>, fallback: string): string {
  const list = raw["architectures"];
  return Array.isArray(list) && typeof list[0] === "string" ? list[0] : fallback;
}

function layerCount(reader: FieldReader, key: string, fallback: number | undefined, override: number | undefined): number {
  const configured = reader.int(key, fallback);
  if (override === undefined) return configured;
  if (!Number.isInteger(override) || override <= 0) reader.fail(`the layer override (--num-hidden-layers) must be a positive integer, got ${override}`);
  if (override > configured) reader.fail(`the layer override (--num-hidden-layers) ${override} is more than the model's ${key} (${configured})`);
  return override;
}

function gpt2Config(raw: Record<string, unknown>, reader: FieldReader, options: ConfigOptions): GPT2Config {
  const nEmbd = reader.int("n_embd", 768);
  const nHead = reader.int("n_head", 12);
  if (nEmbd % nHead !== 0) reader.fail(`n_embd (${nEmbd}) must be divisible by n_head (${nHead})`);
  return {
    modelType: "gpt2",
    architecture: architectureOf(raw, "GPT2LMHeadModel"),
    vocabSize: reader.int("vocab_size", 50257),
    nPositions: reader.int("n_positions", 1024),
    nEmbd,
    nLayer: layerCount(reader, "n_layer", 12, options.numHiddenLayers),
    configuredLayers: reader.int("n_layer", 12),
    nHead,
    nInner: raw["n_inner"] === null || raw["n_inner"] === undefined ? 4 * nEmbd : reader.int("n_inner"),
    activation: reader.string("activation_function", "gelu_new"),
    layerNormEpsilon: reader.number("layer_norm_epsilon", 1e-5),
    embdPdrop: reader.number("embd_pdrop", 0.1),
    attnPdrop: reader.number("attn_pdrop", 0.1),
    residPdrop: reader.number("resid_pdrop", 0.1),
    scaleAttnWeights: reader.bool("scale_attn_weights", true),
    scaleAttnByInverseLayerIdx: reader.bool("scale_attn_by_inverse_layer_idx", false),
    tieWordEmbeddings: reader.bool("tie_word_embeddings", true),
    raw,
  };
}

function llamaConfig(modelType: string, raw: Record<string, unknown>, reader: FieldReader, options: ConfigOptions): LlamaConfig {
  const hiddenSize = reader.int("hidden_size");
  const numAttentionHeads = reader.int("num_attention_heads");
  const configuredLayers = reader.int("num_hidden_layers");
  const numHiddenLayers = layerCount(reader, "num_hidden_layers", undefined, options.numHiddenLayers);
  const numKeyValueHeads = reader.int("num_key_value_heads", numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    reader.fail(`num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`);
  }
  const headDim = raw["head_dim"] === null || raw["head_dim"] === undefined ? hiddenSize / numAttentionHeads : reader.int("head_dim");
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) reader.fail(`head_dim must be an even integer, got ${headDim}`);
  // Qwen2 always has q/k/v biases; Llama and SmolLM3 put `attention_bias` on all four projections.
  const attentionBias = modelType === "qwen2" ? false : reader.bool("attention_bias", false);
  return {
    modelType,
    architecture: architectureOf(raw, "LlamaForCausalLM"),
    vocabSize: reader.int("vocab_size"),
    hiddenSize,
    intermediateSize: reader.int("intermediate_size"),
    numHiddenLayers,
    configuredLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    hiddenAct: reader.string("hidden_act", "silu"),
    rmsNormEps: reader.number("rms_norm_eps", 1e-6),
    ...ropeSettings(raw, reader),
    maxPositionEmbeddings: reader.int("max_position_embeddings", MAX_POSITION_EMBEDDINGS[modelType]),
    qkvBias: modelType === "qwen2" || attentionBias,
    oBias: attentionBias,
    mlpBias: modelType === "qwen2" || modelType === "mistral" ? false : reader.bool("mlp_bias", false),
    attentionDropout: reader.number("attention_dropout", 0),
    slidingWindow: slidingWindows(modelType, raw, reader, configuredLayers).slice(0, numHiddenLayers),
    useRope: ropeLayers(modelType, raw, reader, configuredLayers).slice(0, numHiddenLayers),
    tieWordEmbeddings: reader.bool("tie_word_embeddings", modelType === "smollm3"),
    raw,
  };
}

/** Reads `rope_theta` / `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5). */
function ropeSettings(raw: Record<string, unknown>, reader: FieldReader): { ropeTheta: number; ropeScaling: RopeScaling } {
  const parameters = raw["rope_parameters"];
  const scaling = (parameters ?? raw["rope_scaling"] ?? null) as Record<string, unknown> | null;
  const theta = parameters !== undefined && parameters !== null ? new FieldReader(scaling!, undefined).number("rope_theta", 10000) : reader.number("rope_theta", 10000);
  if (scaling === null || typeof scaling !== "object") return { ropeTheta: theta, ropeScaling: { type: "default" } };
  const inner = new FieldReader(scaling, undefined);
  const type = scaling["rope_type"] ?? scaling["type"] ?? "default";
  switch (type) {
    case "default":
      return { ropeTheta: theta, ropeScaling: { type: "default" } };
    case "linear":
      return { ropeTheta: theta, ropeScaling: { type: "linear", factor: inner.number("factor") } };
    case "llama3":
      return {
        ropeTheta: theta,
        ropeScaling: {
          type: "llama3",
          factor: inner.number("factor"),
          lowFreqFactor: inner.number("low_freq_factor"),
          highFreqFactor: inner.number("high_freq_factor"),
          originalMaxPositionEmbeddings: inner.number("original_max_position_embeddings"),
        },
      };
    default:
      reader.fail(`rope type ${JSON.stringify(type)} is not supported by the runtime; supported: default, linear, llama3`);
  }
}

/** SmolLM3 lists per layer whether it uses rotary embeddings (1) or not (0); every other model uses them everywhere. */
function ropeLayers(modelType: string, raw: Record<string, unknown>, reader: FieldReader, layers: number): boolean[] {
  if (modelType !== "smollm3") return new Array<boolean>(layers).fill(true);
  const list = raw["no_rope_layers"];
  if (Array.isArray(list)) {
    if (list.length !== layers) reader.fail(`no_rope_layers has ${list.length} entries for ${layers} layers`);
    return list.map((v) => v !== 0);
  }
  // SmolLM3Config's default: every `no_rope_layer_interval`-th layer (1-based) skips rotary embeddings.
  const interval = reader.int("no_rope_layer_interval", 4);
  return Array.from({ length: layers }, (_, i) => (i + 1) % interval !== 0);
}

/**
 * Reads the attention window of each layer. Newer configs list it per layer in `layer_types`,
 * and older ones imply it: Mistral uses `sliding_window` (default 4096) everywhere, Qwen2
 * only with `use_sliding_window`, and then from layer `max_window_layers` on.
 */
function slidingWindows(modelType: string, raw: Record<string, unknown>, reader: FieldReader, layers: number): Array<number | null> {
  const defaultWindow = modelType === "mistral" || modelType === "qwen2" ? 4096 : null;
  const window = raw["sliding_window"] === undefined ? defaultWindow : raw["sliding_window"];
  if (window !== null && (typeof window !== "number" || !Number.isInteger(window) || window <= 0)) {
    reader.fail(`"sliding_window" must be a positive integer or null, got ${JSON.stringify(window)}`);
  }
  const types = raw["layer_types"];
  if (Array.isArray(types)) {
    if (types.length !== layers) reader.fail(`layer_types has ${types.length} entries for ${layers} layers`);
    return types.map((t) => (t === "sliding_attention" ? window : null));
  }
  const all = new Array<number | null>(layers).fill(null);
  if (window === null) return all;
  if (modelType === "mistral") return all.fill(window);
  if (modelType === "qwen2" && reader.bool("use_sliding_window", false)) {
    const first = reader.int("max_window_layers", 28);
    return all.map((_, i) => (i >= first ? window : null));
  }
  return all;
}

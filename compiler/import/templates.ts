/**
 * Module templates: the modules a transformers model class registers, in `named_modules()` order,
 * with shapes computed from config.json. Parameter-free modules (dropout, activations, rotary
 * embeddings) are left out because nothing in a checkpoint or a plan refers to them.
 *
 * Layer order and sizes follow the `__init__` methods of the transformers modeling files for each
 * model type (transformers 4.4x-5.x).
 */
import type { GraphModule } from "../graph/types.js";

export type ModelConfig = Record<string, unknown>;

/** A template entry: a graph module whose shape fields all come from config.json. */
export type TemplateModule = GraphModule;

/** Kind of head a model class has, read from the class name. */
export type HeadKind = "causal-lm" | "masked-lm" | "seq-cls" | "token-cls" | "image-cls" | "base" | "encoder";

export function headKind(className: string | undefined): HeadKind {
  if (className === undefined) return "causal-lm";
  if (/ForCausalLM$|LMHeadModel$|ForConditionalGeneration$/.test(className)) return "causal-lm";
  if (className.endsWith("ForMaskedLM")) return "masked-lm";
  if (className.endsWith("ForSequenceClassification")) return "seq-cls";
  if (className.endsWith("ForTokenClassification")) return "token-cls";
  if (className.endsWith("ForImageClassification")) return "image-cls";
  if (className.endsWith("EncoderModel")) return "encoder";
  return "base";
}

/**
 * Largest size or count taken from config.json. Every number a template reads is a dimension or a
 * count of layers, heads or experts, and a value past this could only build a template too large
 * to hold in memory.
 */
export const MAX_CONFIG_SIZE = 2 ** 31 - 1;

/**
 * Most modules a template may list. A config the size of DeepSeek-V3 (61 layers of 256 experts)
 * lists under 50,000: 61 × 256 × 3 expert projections is 46,848.
 */
export const MAX_TEMPLATE_MODULES = 1_000_000;

/**
 * First of `keys` that config.json sets to a number. Throws InvalidConfigField when that number is
 * not an integer from 0 to MAX_CONFIG_SIZE, because every number a template reads is a size or a count.
 */
export function configNumber(config: ModelConfig, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    if (!Number.isInteger(v) || v < 0 || v > MAX_CONFIG_SIZE) {
      throw new InvalidConfigField(key, `config.json sets '${key}' to ${v}, but it must be an integer from 0 to ${MAX_CONFIG_SIZE}`);
    }
    return v;
  }
  return undefined;
}

function need(config: ModelConfig, ...keys: string[]): number {
  const v = configNumber(config, ...keys);
  if (v === undefined) throw new MissingConfigField(keys[0]!);
  return v;
}

/** Raised by a template when config.json lacks a size it needs; the importer then reports shapes as unknown. */
export class MissingConfigField extends Error {
  constructor(readonly field: string) {
    super(`config.json has no '${field}'`);
  }
}

/** Raised when config.json sets a size the template cannot use; the importer treats it like a missing one. */
export class InvalidConfigField extends MissingConfigField {
  constructor(field: string, message: string) {
    super(field);
    this.message = message;
  }
}

function numLabels(config: ModelConfig): number {
  const id2label = config["id2label"];
  if (id2label !== null && typeof id2label === "object") return Object.keys(id2label).length;
  return configNumber(config, "num_labels") ?? 2;
}

const SHAPE_FIELDS = ["in_features", "out_features", "bias", "num_embeddings", "embedding_dim", "in_channels", "out_channels", "kernel_size", "groups", "parameters"];

function mark(m: GraphModule): GraphModule {
  m.inferred = SHAPE_FIELDS.filter((f) => (m as unknown as Record<string, unknown>)[f] !== undefined);
  return m;
}

const linear = (name: string, inF: number, outF: number, bias: boolean): GraphModule =>
  mark({ name, type: "Linear", in_features: inF, out_features: outF, bias });
const conv1D = (name: string, inF: number, outF: number): GraphModule =>
  mark({ name, type: "Conv1D", in_features: inF, out_features: outF, bias: true });
const embedding = (name: string, n: number, d: number): GraphModule =>
  mark({ name, type: "Embedding", num_embeddings: n, embedding_dim: d });
const norm = (name: string, type: "LayerNorm" | "RMSNorm", size: number, bias: boolean): GraphModule =>
  mark({ name, type, parameters: bias ? 2 * size : size });
const conv = (name: string, type: "Conv1d" | "Conv2d", inC: number, outC: number, kernel: number[], bias: boolean, groups = 1): GraphModule =>
  mark({ name, type, in_channels: inC, out_channels: outC, kernel_size: kernel, groups, bias });
/** A module that owns parameters of its own that are not a weight/bias pair (routers, fused experts, sinks). */
const owner = (name: string, type: string, parameters: number): GraphModule => mark({ name, type, parameters });

// ---------------------------------------------------------------------------------------------
// Llama-style decoders: llama, mistral, qwen2/3, gemma 1-3, smollm3, phi3, granite, MoE variants.

interface DecoderStyle {
  qkNorm?: boolean;
  /** Gemma 2/3: pre/post feed-forward norms after the two usual ones. */
  sandwichNorms?: boolean;
  /** Bias on q/k/v (qwen2) when config.json has no attention_bias. */
  qkvBias?: boolean;
  fusedPhi3?: boolean;
  moe?: "mixtral" | "qwen2_moe" | "granitemoe" | "gpt_oss";
  attentionSinks?: boolean;
}

const DECODER_STYLES: Record<string, DecoderStyle> = {
  llama: {},
  mistral: {},
  smollm3: {},
  granite: {},
  gemma: {},
  gemma2: { sandwichNorms: true },
  gemma3_text: { sandwichNorms: true, qkNorm: true },
  qwen2: { qkvBias: true },
  qwen3: { qkNorm: true },
  phi3: { fusedPhi3: true },
  mixtral: { moe: "mixtral" },
  qwen2_moe: { qkvBias: true, moe: "qwen2_moe" },
  qwen3_moe: { qkNorm: true, moe: "qwen2_moe" },
  granitemoe: { moe: "granitemoe" },
  gpt_oss: { moe: "gpt_oss", attentionSinks: true },
};

export function isDecoderModelType(modelType: string): boolean {
  return Object.hasOwn(DECODER_STYLES, modelType);
}

function* decoderLayers(c: ModelConfig, p: string, style: DecoderStyle): Generator<GraphModule> {
  const hidden = need(c, "hidden_size");
  const heads = need(c, "num_attention_heads");
  const kvHeads = configNumber(c, "num_key_value_heads") ?? heads;
  const headDim = configNumber(c, "head_dim") ?? hidden / heads;
  const inter = need(c, "intermediate_size");
  const layers = need(c, "num_hidden_layers");
  const attnBias = typeof c["attention_bias"] === "boolean" ? (c["attention_bias"] as boolean) : false;
  const qkvBias = style.qkvBias === true || attnBias;
  const mlpBias = c["mlp_bias"] === true;

  for (let i = 0; i < layers; i++) {
    const l = `${p}layers.${i}`;
    if (style.fusedPhi3 === true) {
      yield linear(`${l}.self_attn.o_proj`, heads * headDim, hidden, false);
      yield linear(`${l}.self_attn.qkv_proj`, hidden, (heads + 2 * kvHeads) * headDim, false);
    } else {
      // gpt-oss attention owns one learned sink logit per head.
      if (style.attentionSinks === true) yield owner(`${l}.self_attn`, "GptOssAttention", heads);
      yield linear(`${l}.self_attn.q_proj`, hidden, heads * headDim, qkvBias);
      yield linear(`${l}.self_attn.k_proj`, hidden, kvHeads * headDim, qkvBias);
      yield linear(`${l}.self_attn.v_proj`, hidden, kvHeads * headDim, qkvBias);
      yield linear(`${l}.self_attn.o_proj`, heads * headDim, hidden, attnBias);
      if (style.qkNorm === true) {
        yield norm(`${l}.self_attn.q_norm`, "RMSNorm", headDim, false);
        yield norm(`${l}.self_attn.k_norm`, "RMSNorm", headDim, false);
      }
    }
    yield* decoderMlp(c, l, i, style, hidden, inter, mlpBias);
    yield norm(`${l}.input_layernorm`, "RMSNorm", hidden, false);
    yield norm(`${l}.post_attention_layernorm`, "RMSNorm", hidden, false);
    if (style.sandwichNorms === true) {
      yield norm(`${l}.pre_feedforward_layernorm`, "RMSNorm", hidden, false);
      yield norm(`${l}.post_feedforward_layernorm`, "RMSNorm", hidden, false);
    }
  }
}

function* decoderMlp(c: ModelConfig, l: string, i: number, style: DecoderStyle, hidden: number, inter: number, bias: boolean): Generator<GraphModule> {
  const experts = configNumber(c, "num_local_experts", "num_experts") ?? 0;
  switch (style.moe) {
    case "mixtral": {
      yield linear(`${l}.block_sparse_moe.gate`, hidden, experts, false);
      for (let e = 0; e < experts; e++) {
        const x = `${l}.block_sparse_moe.experts.${e}`;
        yield linear(`${x}.w1`, hidden, inter, false);
        yield linear(`${x}.w2`, inter, hidden, false);
        yield linear(`${x}.w3`, hidden, inter, false);
      }
      return;
    }
    case "granitemoe": {
      const m = `${l}.block_sparse_moe`;
      yield owner(`${m}.input_linear`, "GraniteMoeParallelExperts", experts * 2 * inter * hidden);
      yield owner(`${m}.output_linear`, "GraniteMoeParallelExperts", experts * hidden * inter);
      yield linear(`${m}.router.layer`, hidden, experts, false);
      return;
    }
    case "gpt_oss": {
      yield owner(`${l}.mlp.router`, "GptOssTopKRouter", experts * hidden + experts);
      // gate_up_proj [E, H, 2I] + bias [E, 2I], down_proj [E, I, H] + bias [E, H]
      yield owner(`${l}.mlp.experts`, "GptOssExperts", experts * (hidden * 2 * inter + 2 * inter + inter * hidden + hidden));
      return;
    }
    case "qwen2_moe": {
      const mlpOnly = Array.isArray(c["mlp_only_layers"]) ? (c["mlp_only_layers"] as unknown[]) : [];
      const step = configNumber(c, "decoder_sparse_step") ?? 1;
      if (!mlpOnly.includes(i) && experts > 0 && (i + 1) % step === 0) {
        const moeInter = need(c, "moe_intermediate_size");
        yield linear(`${l}.mlp.gate`, hidden, experts, false);
        for (let e = 0; e < experts; e++) {
          const x = `${l}.mlp.experts.${e}`;
          yield linear(`${x}.gate_proj`, hidden, moeInter, false);
          yield linear(`${x}.up_proj`, hidden, moeInter, false);
          yield linear(`${x}.down_proj`, moeInter, hidden, false);
        }
        const shared = configNumber(c, "shared_expert_intermediate_size");
        if (shared !== undefined && shared > 0) {
          yield linear(`${l}.mlp.shared_expert.gate_proj`, hidden, shared, false);
          yield linear(`${l}.mlp.shared_expert.up_proj`, hidden, shared, false);
          yield linear(`${l}.mlp.shared_expert.down_proj`, shared, hidden, false);
          yield linear(`${l}.mlp.shared_expert_gate`, hidden, 1, false);
        }
        return;
      }
      break;
    }
    default:
      if (style.fusedPhi3 === true) {
        yield linear(`${l}.mlp.gate_up_proj`, hidden, 2 * inter, false);
        yield linear(`${l}.mlp.down_proj`, inter, hidden, false);
        return;
      }
  }
  yield linear(`${l}.mlp.gate_proj`, hidden, inter, bias);
  yield linear(`${l}.mlp.up_proj`, hidden, inter, bias);
  yield linear(`${l}.mlp.down_proj`, inter, hidden, bias);
}

/** Generates a Llama-style decoder stack under `prefix` (`model`, `model.language_model`, or `` for a bare model). */
export function* decoderStack(c: ModelConfig, modelType: string, prefix: string): Generator<GraphModule> {
  const style = isDecoderModelType(modelType) ? DECODER_STYLES[modelType]! : {};
  const p = prefix === "" ? "" : `${prefix}.`;
  const hidden = need(c, "hidden_size");
  yield embedding(`${p}embed_tokens`, need(c, "vocab_size"), hidden);
  yield* decoderLayers(c, p, style);
  yield norm(`${p}norm`, "RMSNorm", hidden, false);
}

function* decoderModel(c: ModelConfig, modelType: string, head: HeadKind): Generator<GraphModule> {
  const hidden = need(c, "hidden_size");
  if (head === "base") {
    yield* decoderStack(c, modelType, "");
    return;
  }
  yield* decoderStack(c, modelType, "model");
  if (head === "seq-cls") yield linear("score", hidden, numLabels(c), false);
  else yield linear("lm_head", hidden, need(c, "vocab_size"), false);
}

// ---------------------------------------------------------------------------------------------
// Other families.

function* gpt2(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const e = need(c, "n_embd", "hidden_size");
  const inner = configNumber(c, "n_inner") ?? 4 * e;
  const p = head === "base" ? "" : "transformer.";
  yield embedding(`${p}wte`, need(c, "vocab_size"), e);
  yield embedding(`${p}wpe`, need(c, "n_positions"), e);
  for (let i = 0; i < need(c, "n_layer"); i++) {
    const l = `${p}h.${i}`;
    yield norm(`${l}.ln_1`, "LayerNorm", e, true);
    yield conv1D(`${l}.attn.c_attn`, e, 3 * e);
    yield conv1D(`${l}.attn.c_proj`, e, e);
    yield norm(`${l}.ln_2`, "LayerNorm", e, true);
    yield conv1D(`${l}.mlp.c_fc`, e, inner);
    yield conv1D(`${l}.mlp.c_proj`, inner, e);
  }
  yield norm(`${p}ln_f`, "LayerNorm", e, true);
  if (head === "seq-cls") yield linear("score", e, numLabels(c), false);
  else if (head !== "base") yield linear("lm_head", e, need(c, "vocab_size"), false);
}

function* opt(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const proj = configNumber(c, "word_embed_proj_dim") ?? h;
  const ffn = need(c, "ffn_dim");
  const bias = c["enable_bias"] !== false;
  const d = head === "base" ? "decoder" : "model.decoder";
  yield embedding(`${d}.embed_tokens`, need(c, "vocab_size"), proj);
  // OPTLearnedPositionalEmbedding subclasses nn.Embedding and reserves 2 extra positions.
  yield embedding(`${d}.embed_positions`, need(c, "max_position_embeddings") + 2, h);
  if (proj !== h) {
    yield linear(`${d}.project_out`, h, proj, false);
    yield linear(`${d}.project_in`, proj, h, false);
  }
  if (c["do_layer_norm_before"] !== false && c["_remove_final_layer_norm"] !== true) {
    yield norm(`${d}.final_layer_norm`, "LayerNorm", h, c["layer_norm_elementwise_affine"] !== false);
  }
  for (let i = 0; i < need(c, "num_hidden_layers"); i++) {
    const l = `${d}.layers.${i}`;
    for (const n of ["k_proj", "v_proj", "q_proj", "out_proj"]) yield linear(`${l}.self_attn.${n}`, h, h, bias);
    yield norm(`${l}.self_attn_layer_norm`, "LayerNorm", h, true);
    yield linear(`${l}.fc1`, h, ffn, bias);
    yield linear(`${l}.fc2`, ffn, h, bias);
    yield norm(`${l}.final_layer_norm`, "LayerNorm", h, true);
  }
  if (head === "seq-cls") yield linear("score", proj, numLabels(c), false);
  else if (head !== "base") yield linear("lm_head", proj, need(c, "vocab_size"), false);
}

function* t5(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const d = need(c, "d_model");
  const inner = need(c, "num_heads") * need(c, "d_kv");
  const ff = need(c, "d_ff");
  const buckets = configNumber(c, "relative_attention_num_buckets") ?? 32;
  const heads = need(c, "num_heads");
  const gated = c["is_gated_act"] === true || String(c["feed_forward_proj"] ?? "").startsWith("gated-");
  const vocab = need(c, "vocab_size");
  const attention = function* (a: string, first: boolean): Generator<GraphModule> {
    for (const n of ["q", "k", "v"]) yield linear(`${a}.${n}`, d, inner, false);
    yield linear(`${a}.o`, inner, d, false);
    if (first) yield embedding(`${a}.relative_attention_bias`, buckets, heads);
  };
  const feedForward = function* (f: string): Generator<GraphModule> {
    if (gated) {
      yield linear(`${f}.DenseReluDense.wi_0`, d, ff, false);
      yield linear(`${f}.DenseReluDense.wi_1`, d, ff, false);
    } else {
      yield linear(`${f}.DenseReluDense.wi`, d, ff, false);
    }
    yield linear(`${f}.DenseReluDense.wo`, ff, d, false);
    yield norm(`${f}.layer_norm`, "RMSNorm", d, false);
  };
  const stack = function* (s: string, layers: number, decoder: boolean): Generator<GraphModule> {
    yield embedding(`${s}.embed_tokens`, vocab, d);
    for (let i = 0; i < layers; i++) {
      const b = `${s}.block.${i}.layer`;
      yield* attention(`${b}.0.SelfAttention`, i === 0);
      yield norm(`${b}.0.layer_norm`, "RMSNorm", d, false);
      if (decoder) {
        yield* attention(`${b}.1.EncDecAttention`, false);
        yield norm(`${b}.1.layer_norm`, "RMSNorm", d, false);
      }
      yield* feedForward(`${b}.${decoder ? 2 : 1}`);
    }
    yield norm(`${s}.final_layer_norm`, "RMSNorm", d, false);
  };
  yield embedding("shared", vocab, d);
  const layers = need(c, "num_layers");
  yield* stack("encoder", layers, false);
  if (head === "encoder") return;
  yield* stack("decoder", configNumber(c, "num_decoder_layers") ?? layers, true);
  if (head === "causal-lm") yield linear("lm_head", d, vocab, false);
}

function* bart(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const d = need(c, "d_model");
  const vocab = need(c, "vocab_size");
  const maxPos = need(c, "max_position_embeddings");
  const p = head === "base" ? "" : "model.";
  const attention = function* (a: string): Generator<GraphModule> {
    for (const n of ["k_proj", "v_proj", "q_proj", "out_proj"]) yield linear(`${a}.${n}`, d, d, true);
  };
  const stack = function* (s: string, layers: number, ffn: number, decoder: boolean): Generator<GraphModule> {
    yield embedding(`${s}.embed_tokens`, vocab, d);
    // BartLearnedPositionalEmbedding subclasses nn.Embedding and reserves 2 extra positions.
    yield embedding(`${s}.embed_positions`, maxPos + 2, d);
    for (let i = 0; i < layers; i++) {
      const l = `${s}.layers.${i}`;
      yield* attention(`${l}.self_attn`);
      yield norm(`${l}.self_attn_layer_norm`, "LayerNorm", d, true);
      if (decoder) {
        yield* attention(`${l}.encoder_attn`);
        yield norm(`${l}.encoder_attn_layer_norm`, "LayerNorm", d, true);
      }
      yield linear(`${l}.fc1`, d, ffn, true);
      yield linear(`${l}.fc2`, ffn, d, true);
      yield norm(`${l}.final_layer_norm`, "LayerNorm", d, true);
    }
    yield norm(`${s}.layernorm_embedding`, "LayerNorm", d, true);
  };
  yield embedding(`${p}shared`, vocab, d);
  yield* stack(`${p}encoder`, need(c, "encoder_layers"), need(c, "encoder_ffn_dim"), false);
  yield* stack(`${p}decoder`, need(c, "decoder_layers"), need(c, "decoder_ffn_dim"), true);
  if (head === "causal-lm") yield linear("lm_head", d, vocab, false);
}

function* whisper(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const d = need(c, "d_model");
  const vocab = need(c, "vocab_size");
  const p = head === "base" ? "" : "model.";
  const attention = function* (a: string): Generator<GraphModule> {
    yield linear(`${a}.k_proj`, d, d, false);
    yield linear(`${a}.v_proj`, d, d, true);
    yield linear(`${a}.q_proj`, d, d, true);
    yield linear(`${a}.out_proj`, d, d, true);
  };
  const e = `${p}encoder`;
  yield conv(`${e}.conv1`, "Conv1d", need(c, "num_mel_bins"), d, [3], true);
  yield conv(`${e}.conv2`, "Conv1d", d, d, [3], true);
  yield embedding(`${e}.embed_positions`, need(c, "max_source_positions"), d);
  for (let i = 0; i < need(c, "encoder_layers"); i++) {
    const l = `${e}.layers.${i}`;
    yield* attention(`${l}.self_attn`);
    yield norm(`${l}.self_attn_layer_norm`, "LayerNorm", d, true);
    yield linear(`${l}.fc1`, d, need(c, "encoder_ffn_dim"), true);
    yield linear(`${l}.fc2`, need(c, "encoder_ffn_dim"), d, true);
    yield norm(`${l}.final_layer_norm`, "LayerNorm", d, true);
  }
  yield norm(`${e}.layer_norm`, "LayerNorm", d, true);
  const dec = `${p}decoder`;
  yield embedding(`${dec}.embed_tokens`, vocab, d);
  yield embedding(`${dec}.embed_positions`, need(c, "max_target_positions"), d);
  for (let i = 0; i < need(c, "decoder_layers"); i++) {
    const l = `${dec}.layers.${i}`;
    yield* attention(`${l}.self_attn`);
    yield norm(`${l}.self_attn_layer_norm`, "LayerNorm", d, true);
    yield* attention(`${l}.encoder_attn`);
    yield norm(`${l}.encoder_attn_layer_norm`, "LayerNorm", d, true);
    yield linear(`${l}.fc1`, d, need(c, "decoder_ffn_dim"), true);
    yield linear(`${l}.fc2`, need(c, "decoder_ffn_dim"), d, true);
    yield norm(`${l}.final_layer_norm`, "LayerNorm", d, true);
  }
  yield norm(`${dec}.layer_norm`, "LayerNorm", d, true);
  if (head === "causal-lm") yield linear("proj_out", d, vocab, false);
}

/** BERT-style encoders: bert, roberta, layoutlm (prefix is the model type). */
function* bertLike(c: ModelConfig, modelType: string, head: HeadKind): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const inter = need(c, "intermediate_size");
  const vocab = need(c, "vocab_size");
  const p = head === "base" ? "" : `${modelType}.`;
  const emb = `${p}embeddings`;
  yield embedding(`${emb}.word_embeddings`, vocab, h);
  yield embedding(`${emb}.position_embeddings`, need(c, "max_position_embeddings"), h);
  if (modelType === "layoutlm") {
    const max2d = need(c, "max_2d_position_embeddings");
    for (const n of ["x", "y", "h", "w"]) yield embedding(`${emb}.${n}_position_embeddings`, max2d, h);
  }
  yield embedding(`${emb}.token_type_embeddings`, need(c, "type_vocab_size"), h);
  yield norm(`${emb}.LayerNorm`, "LayerNorm", h, true);
  for (let i = 0; i < need(c, "num_hidden_layers"); i++) {
    const l = `${p}encoder.layer.${i}`;
    for (const n of ["query", "key", "value"]) yield linear(`${l}.attention.self.${n}`, h, h, true);
    yield linear(`${l}.attention.output.dense`, h, h, true);
    yield norm(`${l}.attention.output.LayerNorm`, "LayerNorm", h, true);
    yield linear(`${l}.intermediate.dense`, h, inter, true);
    yield linear(`${l}.output.dense`, inter, h, true);
    yield norm(`${l}.output.LayerNorm`, "LayerNorm", h, true);
  }
  // BERT and RoBERTa masked-LM and token-classification models are built without the pooler;
  // LayoutLM always has one.
  const pooler = head === "base" || head === "seq-cls" || modelType === "layoutlm";
  if (pooler && modelType !== "roberta") yield linear(`${p}pooler.dense`, h, h, true);
  if (head === "seq-cls" || head === "token-cls") {
    if (modelType === "roberta" && head === "seq-cls") {
      yield linear("classifier.dense", h, h, true);
      yield linear("classifier.out_proj", h, numLabels(c), true);
    } else {
      yield linear("classifier", h, numLabels(c), true);
    }
  } else if (head === "masked-lm") {
    if (modelType === "roberta") {
      // RobertaLMHead: `bias` is a parameter of lm_head shared with lm_head.decoder.bias.
      yield owner("lm_head", "RobertaLMHead", vocab);
      yield linear("lm_head.dense", h, h, true);
      yield norm("lm_head.layer_norm", "LayerNorm", h, true);
      yield linear("lm_head.decoder", h, vocab, true);
    } else {
      yield owner("cls.predictions", "Module", vocab);
      yield linear("cls.predictions.transform.dense", h, h, true);
      yield norm("cls.predictions.transform.LayerNorm", "LayerNorm", h, true);
      yield linear("cls.predictions.decoder", h, vocab, true);
    }
  }
}

function* gptNeox(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const inter = need(c, "intermediate_size");
  const bias = c["attention_bias"] !== false;
  const p = head === "base" ? "" : "gpt_neox.";
  yield embedding(`${p}embed_in`, need(c, "vocab_size"), h);
  for (let i = 0; i < need(c, "num_hidden_layers"); i++) {
    const l = `${p}layers.${i}`;
    yield norm(`${l}.input_layernorm`, "LayerNorm", h, true);
    yield norm(`${l}.post_attention_layernorm`, "LayerNorm", h, true);
    yield linear(`${l}.attention.query_key_value`, h, 3 * h, bias);
    yield linear(`${l}.attention.dense`, h, h, bias);
    yield linear(`${l}.mlp.dense_h_to_4h`, h, inter, true);
    yield linear(`${l}.mlp.dense_4h_to_h`, inter, h, true);
  }
  yield norm(`${p}final_layer_norm`, "LayerNorm", h, true);
  if (head === "causal-lm") yield linear("embed_out", h, need(c, "vocab_size"), false);
}

function* bloom(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const h = need(c, "hidden_size", "n_embed");
  const p = head === "base" ? "" : "transformer.";
  yield embedding(`${p}word_embeddings`, need(c, "vocab_size"), h);
  yield norm(`${p}word_embeddings_layernorm`, "LayerNorm", h, true);
  for (let i = 0; i < need(c, "n_layer", "num_hidden_layers"); i++) {
    const l = `${p}h.${i}`;
    yield norm(`${l}.input_layernorm`, "LayerNorm", h, true);
    yield linear(`${l}.self_attention.query_key_value`, h, 3 * h, true);
    yield linear(`${l}.self_attention.dense`, h, h, true);
    yield norm(`${l}.post_attention_layernorm`, "LayerNorm", h, true);
    yield linear(`${l}.mlp.dense_h_to_4h`, h, 4 * h, true);
    yield linear(`${l}.mlp.dense_4h_to_h`, 4 * h, h, true);
  }
  yield norm(`${p}ln_f`, "LayerNorm", h, true);
  if (head === "causal-lm") yield linear("lm_head", h, need(c, "vocab_size"), false);
}

function* falcon(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const heads = need(c, "num_attention_heads");
  const headDim = h / heads;
  const bias = c["bias"] === true;
  const newArch = c["new_decoder_architecture"] === true;
  const kvHeads = newArch ? (configNumber(c, "num_kv_heads") ?? heads) : c["multi_query"] === true ? 1 : heads;
  let qkvOut = 3 * h;
  if (newArch) qkvOut = (heads + 2 * kvHeads) * headDim;
  else if (c["multi_query"] === true) qkvOut = h + 2 * headDim;
  const ffn = configNumber(c, "ffn_hidden_size") ?? 4 * h;
  const p = head === "base" ? "" : "transformer.";
  yield embedding(`${p}word_embeddings`, need(c, "vocab_size"), h);
  for (let i = 0; i < need(c, "num_hidden_layers"); i++) {
    const l = `${p}h.${i}`;
    yield linear(`${l}.self_attention.query_key_value`, h, qkvOut, bias);
    yield linear(`${l}.self_attention.dense`, h, h, bias);
    yield linear(`${l}.mlp.dense_h_to_4h`, h, ffn, bias);
    yield linear(`${l}.mlp.dense_4h_to_h`, ffn, h, bias);
    const twoNorms = newArch && (configNumber(c, "num_ln_in_parallel_attn") ?? 2) === 2;
    if (twoNorms) {
      yield norm(`${l}.ln_attn`, "LayerNorm", h, true);
      yield norm(`${l}.ln_mlp`, "LayerNorm", h, true);
    } else {
      yield norm(`${l}.input_layernorm`, "LayerNorm", h, true);
      if (!newArch && c["parallel_attn"] !== true) yield norm(`${l}.post_attention_layernorm`, "LayerNorm", h, true);
    }
  }
  yield norm(`${p}ln_f`, "LayerNorm", h, true);
  if (head === "causal-lm") yield linear("lm_head", h, need(c, "vocab_size"), false);
}

/** CLIP/SigLIP-style encoder layers (self_attn k/v/q/out, layer_norm1, mlp fc1/fc2, layer_norm2). */
function* clipEncoderLayers(prefix: string, c: ModelConfig): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const inter = need(c, "intermediate_size");
  for (let i = 0; i < need(c, "num_hidden_layers"); i++) {
    const l = `${prefix}.layers.${i}`;
    for (const n of ["k_proj", "v_proj", "q_proj", "out_proj"]) yield linear(`${l}.self_attn.${n}`, h, h, true);
    yield norm(`${l}.layer_norm1`, "LayerNorm", h, true);
    yield linear(`${l}.mlp.fc1`, h, inter, true);
    yield linear(`${l}.mlp.fc2`, inter, h, true);
    yield norm(`${l}.layer_norm2`, "LayerNorm", h, true);
  }
}

function* clipText(c: ModelConfig): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  yield embedding("text_model.embeddings.token_embedding", need(c, "vocab_size"), h);
  yield embedding("text_model.embeddings.position_embedding", need(c, "max_position_embeddings"), h);
  yield* clipEncoderLayers("text_model.encoder", c);
  yield norm("text_model.final_layer_norm", "LayerNorm", h, true);
}

function* siglipVision(prefix: string, c: ModelConfig): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const patch = need(c, "patch_size");
  const patches = (need(c, "image_size") / patch) ** 2;
  yield conv(`${prefix}.embeddings.patch_embedding`, "Conv2d", configNumber(c, "num_channels") ?? 3, h, [patch, patch], true);
  yield embedding(`${prefix}.embeddings.position_embedding`, patches, h);
  yield* clipEncoderLayers(`${prefix}.encoder`, c);
  yield norm(`${prefix}.post_layernorm`, "LayerNorm", h, true);
}

function* vit(c: ModelConfig, head: HeadKind): Generator<GraphModule> {
  const h = need(c, "hidden_size");
  const inter = need(c, "intermediate_size");
  const patch = need(c, "patch_size");
  const patches = (need(c, "image_size") / patch) ** 2;
  const qkvBias = c["qkv_bias"] !== false;
  const p = head === "base" ? "" : "vit.";
  // cls_token [1, 1, H] and position_embeddings [1, patches + 1, H] are parameters of the embeddings module.
  yield owner(`${p}embeddings`, "ViTEmbeddings", h + (patches + 1) * h);
  yield conv(`${p}embeddings.patch_embeddings.projection`, "Conv2d", configNumber(c, "num_channels") ?? 3, h, [patch, patch], true);
  for (let i = 0; i < need(c, "num_hidden_layers"); i++) {
    const l = `${p}encoder.layer.${i}`;
    for (const n of ["query", "key", "value"]) yield linear(`${l}.attention.attention.${n}`, h, h, qkvBias);
    yield linear(`${l}.attention.output.dense`, h, h, true);
    yield linear(`${l}.intermediate.dense`, h, inter, true);
    yield linear(`${l}.output.dense`, inter, h, true);
    yield norm(`${l}.layernorm_before`, "LayerNorm", h, true);
    yield norm(`${l}.layernorm_after`, "LayerNorm", h, true);
  }
  yield norm(`${p}layernorm`, "LayerNorm", h, true);
  if (head === "image-cls") yield linear("classifier", h, numLabels(c), true);
}

function* gemma3Multimodal(c: ModelConfig): Generator<GraphModule> {
  const text = (c["text_config"] ?? {}) as ModelConfig;
  const vision = (c["vision_config"] ?? {}) as ModelConfig;
  // Gemma3Model registers the vision tower, then the projector, then the language model.
  yield* siglipVision("model.vision_tower.vision_model", vision);
  const hv = need(vision, "hidden_size");
  // mm_input_projection_weight [Hv, Ht] is a parameter of the projector itself.
  yield owner("model.multi_modal_projector", "Gemma3MultiModalProjector", hv * need(text, "hidden_size"));
  yield norm("model.multi_modal_projector.mm_soft_emb_norm", "RMSNorm", hv, false);
  yield* decoderStack(text, "gemma3_text", "model.language_model");
  yield linear("lm_head", need(text, "hidden_size"), need(text, "vocab_size"), false);
}

/**
 * Builds the module template of `modelType` for the model class `className`. Returns null for a
 * model type this table does not describe. Throws MissingConfigField when config.json lacks a needed size.
 */
export function moduleTemplate(modelType: string, className: string | undefined, config: ModelConfig): GraphModule[] | null {
  const head = headKind(className);
  let modules: Iterable<GraphModule>;
  if (isDecoderModelType(modelType)) modules = decoderModel(config, modelType, head);
  else {
    switch (modelType) {
      case "gpt2":
        modules = gpt2(config, head);
        break;
      case "opt":
        modules = opt(config, head);
        break;
      case "t5":
      case "mt5":
        modules = t5(config, head);
        break;
      case "bart":
        modules = bart(config, head);
        break;
      case "whisper":
        modules = whisper(config, head);
        break;
      case "bert":
      case "roberta":
      case "layoutlm":
        modules = bertLike(config, modelType, head);
        break;
      case "gpt_neox":
        modules = gptNeox(config, head);
        break;
      case "bloom":
        modules = bloom(config, head);
        break;
      case "falcon":
        modules = falcon(config, head);
        break;
      case "clip_text_model":
        modules = clipText(config);
        break;
      case "vit":
        modules = vit(config, head);
        break;
      case "gemma3":
        modules = gemma3Multimodal(config);
        break;
      default:
        return null;
    }
  }
  const out: GraphModule[] = [];
  for (const m of modules) {
    if (out.length === MAX_TEMPLATE_MODULES) {
      const layers = JSON.stringify(config["num_hidden_layers"] ?? null);
      throw new InvalidConfigField("num_hidden_layers", `config.json describes more than ${MAX_TEMPLATE_MODULES} modules (num_hidden_layers is ${layers})`);
    }
    out.push(m);
  }
  return out;
}

import * as tf from "@tensorflow/tfjs-core";
import { Embedding, Linear, RMSNorm } from "../nn/layers.js";
import { Module, ModuleList } from "../nn/module.js";
import { Rng } from "../random.js";
import { CausalLM, initializeWeights } from "./causal-lm.js";
import { Activation, Dropout, attend, causalMask, mergeHeads, splitHeads } from "./common.js";
import type { LlamaConfig, RopeScaling } from "./config.js";
import type { BuildOptions } from "./gpt2.js";

/**
 * Computes the rotary inverse frequencies `1 / theta^(2i / dim)` for i < dim / 2, in float32 as
 * transformers computes them, then rescaled by the config's rope type.
 */
export function inverseFrequencies(theta: number, dim: number, scaling: RopeScaling): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) out[i] = 1 / Math.fround(theta ** Math.fround((2 * i) / dim));
  if (scaling.type === "linear") return out.map((f) => f / scaling.factor);
  if (scaling.type === "llama3") {
    // Llama 3.1's scaling: long wavelengths are divided by `factor`, short ones kept, and the
    // band between them interpolated smoothly.
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: context } = scaling;
    const lowFreqWavelen = context / lowFreqFactor;
    const highFreqWavelen = context / highFreqFactor;
    return out.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) return f / factor;
      if (wavelen < highFreqWavelen) return f;
      const smooth = (context / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
  }
  return out;
}

/** transformers' LlamaRotaryEmbedding: cos and sin tables [seq, head_dim] for positions 0 .. seq − 1. */
class RotaryEmbedding extends Module {
  readonly typeName: string;
  private readonly inverse: Float32Array;

  constructor(config: LlamaConfig, prefix: string) {
    super();
    this.typeName = `${prefix}RotaryEmbedding`;
    this.inverse = inverseFrequencies(config.ropeTheta, config.headDim, config.ropeScaling);
  }

  /** Builds the tables. The angles for the first half of the head are repeated for the second half. */
  tables(seq: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    const half = this.inverse.length;
    const dim = 2 * half;
    const cos = new Float32Array(seq * dim);
    const sin = new Float32Array(seq * dim);
    for (let p = 0; p < seq; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * this.inverse[i]!);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        cos[p * dim + i] = c;
        cos[p * dim + half + i] = c;
        sin[p * dim + i] = s;
        sin[p * dim + half + i] = s;
      }
    }
    return { cos: tf.tensor2d(cos, [seq, dim]), sin: tf.tensor2d(sin, [seq, dim]) };
  }

  forward(_x: tf.Tensor): tf.Tensor {
    throw new Error(`${this.typeName} has no forward; the attention layers call tables(seq)`);
  }
}

/** `x·cos + rotate_half(x)·sin`, where rotate_half(x) = [−x₂, x₁] for the two halves of the head. */
function applyRotary(x: tf.Tensor, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor {
  const [first, second] = tf.split(x, 2, -1) as [tf.Tensor, tf.Tensor];
  const rotated = tf.concat([tf.neg(second), first], -1);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/**
 * Grouped-query attention's key/value repeat: [batch, kv, seq, dim] → [batch, kv·times, seq, dim],
 * each kv head repeated for `times` consecutive query heads (transformers' `repeat_kv`).
 */
function repeatKv(x: tf.Tensor, times: number): tf.Tensor {
  if (times === 1) return x;
  const [batch, kvHeads, seq, dim] = x.shape as [number, number, number, number];
  // Rank 4, not 5: tfjs implements the gradient of the underlying tile only up to rank 4.
  const expanded = tf.broadcastTo(tf.reshape(x, [batch, kvHeads, 1, seq * dim]), [batch, kvHeads, times, seq * dim]);
  return tf.reshape(expanded, [batch, kvHeads * times, seq, dim]);
}

class LlamaAttention extends Module {
  readonly typeName: string;
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  private readonly dropout: Dropout;

  /**
   * The model's rotary module, shared by every layer. It is referenced, not registered, so it
   * stays `model.rotary_emb` in the module tree as in transformers.
   */
  private readonly rotary: RotaryEmbedding;

  constructor(private readonly config: LlamaConfig, readonly layerIndex: number, prefix: string, rotary: RotaryEmbedding, rng: Rng) {
    super();
    this.typeName = `${prefix}Attention`;
    this.rotary = rotary;
    const { hiddenSize, numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = config;
    const qkv = { bias: config.qkvBias, rng };
    this.q_proj = this.registerModule("q_proj", new Linear(hiddenSize, heads * headDim, qkv));
    this.k_proj = this.registerModule("k_proj", new Linear(hiddenSize, kvHeads * headDim, qkv));
    this.v_proj = this.registerModule("v_proj", new Linear(hiddenSize, kvHeads * headDim, qkv));
    this.o_proj = this.registerModule("o_proj", new Linear(heads * headDim, hiddenSize, { bias: config.oBias, rng }));
    this.dropout = new Dropout(config.attentionDropout, rng);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const { numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = this.config;
    let q = splitHeads(this.q_proj.forward(x), heads, headDim);
    let k = splitHeads(this.k_proj.forward(x), kvHeads, headDim);
    const v = splitHeads(this.v_proj.forward(x), kvHeads, headDim);
    if (this.config.useRope[this.layerIndex]) {
      const { cos, sin } = this.rotary.tables(x.shape[1]!);
      q = applyRotary(q, cos, sin);
      k = applyRotary(k, cos, sin);
    }
    const mask = causalMask(x.shape[1]!, this.config.slidingWindow[this.layerIndex] ?? null);
    this.dropout.training = this.training;
    const out = attend(q, repeatKv(k, heads / kvHeads), repeatKv(v, heads / kvHeads), 1 / Math.sqrt(headDim), mask, this.dropout);
    return this.o_proj.forward(mergeHeads(out));
  }
}

/** SwiGLU feed-forward: `down_proj(act(gate_proj(x)) · up_proj(x))`. */
class LlamaMLP extends Module {
  readonly typeName: string;
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;
  act_fn: Activation;

  constructor(config: LlamaConfig, prefix: string, rng: Rng, file?: string) {
    super();
    this.typeName = `${prefix}MLP`;
    const { hiddenSize, intermediateSize, mlpBias: bias } = config;
    this.gate_proj = this.registerModule("gate_proj", new Linear(hiddenSize, intermediateSize, { bias, rng }));
    this.up_proj = this.registerModule("up_proj", new Linear(hiddenSize, intermediateSize, { bias, rng }));
    this.down_proj = this.registerModule("down_proj", new Linear(intermediateSize, hiddenSize, { bias, rng }));
    this.act_fn = this.registerModule("act_fn", new Activation(config.hiddenAct, file));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.down_proj.forward(tf.mul(this.act_fn.forward(this.gate_proj.forward(x)), this.up_proj.forward(x)));
  }
}

class LlamaDecoderLayer extends Module {
  readonly typeName: string;
  self_attn: LlamaAttention;
  mlp: LlamaMLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;

  constructor(config: LlamaConfig, layerIndex: number, prefix: string, rotary: RotaryEmbedding, rng: Rng, file?: string) {
    super();
    this.typeName = `${prefix}DecoderLayer`;
    this.self_attn = this.registerModule("self_attn", new LlamaAttention(config, layerIndex, prefix, rotary, rng));
    this.mlp = this.registerModule("mlp", new LlamaMLP(config, prefix, rng, file));
    this.input_layernorm = this.registerModule("input_layernorm", new RMSNorm(config.hiddenSize, config.rmsNormEps, `${prefix}RMSNorm`));
    this.post_attention_layernorm = this.registerModule("post_attention_layernorm", new RMSNorm(config.hiddenSize, config.rmsNormEps, `${prefix}RMSNorm`));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const h = tf.add(x, this.self_attn.forward(this.input_layernorm.forward(x)));
    return tf.add(h, this.mlp.forward(this.post_attention_layernorm.forward(h)));
  }
}

class LlamaModel extends Module {
  readonly typeName: string;
  embed_tokens: Embedding;
  layers: ModuleList;
  norm: RMSNorm;
  rotary_emb: RotaryEmbedding;

  constructor(config: LlamaConfig, prefix: string, rng: Rng, file?: string) {
    super();
    this.typeName = `${prefix}Model`;
    this.embed_tokens = this.registerModule("embed_tokens", new Embedding(config.vocabSize, config.hiddenSize, { rng }));
    const rotary = new RotaryEmbedding(config, prefix);
    const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => new LlamaDecoderLayer(config, i, prefix, rotary, rng, file));
    this.layers = this.registerModule("layers", new ModuleList(layers));
    this.norm = this.registerModule("norm", new RMSNorm(config.hiddenSize, config.rmsNormEps, `${prefix}RMSNorm`));
    this.rotary_emb = this.registerModule("rotary_emb", rotary);
  }

  forward(ids: tf.Tensor): tf.Tensor {
    let x = this.embed_tokens.forward(ids);
    // Read the layers from the list each time: applyPlan may have replaced modules inside it.
    for (const [, layer] of this.layers.children()) x = layer.forward(x);
    return this.norm.forward(x);
  }
}

/**
 * transformers' LlamaForCausalLM and the models that share its layout (Mistral, Qwen2,
 * SmolLM3). Class names take the architecture's prefix (`Qwen2Attention`, `Qwen2RMSNorm`) as
 * transformers names them.
 */
export class LlamaForCausalLM extends CausalLM {
  readonly typeName: string;
  readonly inputEmbeddings = "model.embed_tokens";
  readonly layersPath = "model.layers";
  model: LlamaModel;
  lm_head: Linear;

  constructor(readonly config: LlamaConfig, options: BuildOptions = {}) {
    super();
    this.typeName = config.architecture;
    const prefix = config.architecture.replace(/ForCausalLM$/, "") || "Llama";
    const rng = new Rng(options.seed ?? 0);
    this.model = this.registerModule("model", new LlamaModel(config, prefix, rng, options.file));
    const tiedWeight = config.tieWordEmbeddings ? { weight: this.model.embed_tokens.weight } : {};
    this.lm_head = this.registerModule("lm_head", new Linear(config.hiddenSize, config.vocabSize, { bias: false, rng, ...tiedWeight }));
    const std = typeof config.raw["initializer_range"] === "number" ? config.raw["initializer_range"] : 0.02;
    initializeWeights(this, rng, std);
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return this.lm_head.forward(this.model.forward(ids));
  }
}

import * as tf from "@tensorflow/tfjs-core";
import { Conv1D, Embedding, LayerNorm, Linear } from "../nn/layers.js";
import { Module, ModuleList } from "../nn/module.js";
import { Rng } from "../random.js";
import { CausalLM, initializeWeights } from "./causal-lm.js";
import { Activation, Dropout, attend, causalMask, mergeHeads, splitHeads } from "./common.js";
import type { GPT2Config } from "./config.js";

export interface BuildOptions {
  /** Seed for the initial weights and dropout masks. */
  seed?: number;
  /** config.json's path, named in configuration errors. */
  file?: string;
}

/** transformers' GPT2Attention (self-attention only): fused q/k/v `c_attn`, output `c_proj`. */
class GPT2Attention extends Module {
  readonly typeName = "GPT2Attention";
  c_attn: Conv1D;
  c_proj: Conv1D;
  attn_dropout: Dropout;
  resid_dropout: Dropout;
  private readonly scale: number;

  constructor(private readonly config: GPT2Config, layerIndex: number, rng: Rng) {
    super();
    const width = config.nEmbd;
    this.c_attn = this.registerModule("c_attn", new Conv1D(width, 3 * width, { rng }));
    this.c_proj = this.registerModule("c_proj", new Conv1D(width, width, { rng }));
    this.attn_dropout = this.registerModule("attn_dropout", new Dropout(config.attnPdrop, rng));
    this.resid_dropout = this.registerModule("resid_dropout", new Dropout(config.residPdrop, rng));
    const headDim = width / config.nHead;
    let scale = config.scaleAttnWeights ? 1 / Math.sqrt(headDim) : 1;
    if (config.scaleAttnByInverseLayerIdx) scale /= layerIndex + 1;
    this.scale = scale;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const { nEmbd, nHead } = this.config;
    const headDim = nEmbd / nHead;
    const [q, k, v] = tf.split(this.c_attn.forward(x), 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const mask = causalMask(x.shape[1]!);
    const context = attend(splitHeads(q, nHead, headDim), splitHeads(k, nHead, headDim), splitHeads(v, nHead, headDim), this.scale, mask, this.attn_dropout);
    return this.resid_dropout.forward(this.c_proj.forward(mergeHeads(context)));
  }
}

class GPT2MLP extends Module {
  readonly typeName = "GPT2MLP";
  c_fc: Conv1D;
  c_proj: Conv1D;
  act: Activation;
  dropout: Dropout;

  constructor(config: GPT2Config, rng: Rng, file?: string) {
    super();
    this.c_fc = this.registerModule("c_fc", new Conv1D(config.nEmbd, config.nInner, { rng }));
    this.c_proj = this.registerModule("c_proj", new Conv1D(config.nInner, config.nEmbd, { rng }));
    this.act = this.registerModule("act", new Activation(config.activation, file));
    this.dropout = this.registerModule("dropout", new Dropout(config.residPdrop, rng));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.dropout.forward(this.c_proj.forward(this.act.forward(this.c_fc.forward(x))));
  }
}

/** A pre-LayerNorm transformer block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`. */
class GPT2Block extends Module {
  readonly typeName = "GPT2Block";
  ln_1: LayerNorm;
  attn: GPT2Attention;
  ln_2: LayerNorm;
  mlp: GPT2MLP;

  constructor(config: GPT2Config, layerIndex: number, rng: Rng, file?: string) {
    super();
    this.ln_1 = this.registerModule("ln_1", new LayerNorm(config.nEmbd, config.layerNormEpsilon));
    this.attn = this.registerModule("attn", new GPT2Attention(config, layerIndex, rng));
    this.ln_2 = this.registerModule("ln_2", new LayerNorm(config.nEmbd, config.layerNormEpsilon));
    this.mlp = this.registerModule("mlp", new GPT2MLP(config, rng, file));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const h = tf.add(x, this.attn.forward(this.ln_1.forward(x)));
    return tf.add(h, this.mlp.forward(this.ln_2.forward(h)));
  }
}

/** transformers' GPT2Model: token and learned position embeddings, blocks `h`, final `ln_f`. */
class GPT2Model extends Module {
  readonly typeName = "GPT2Model";
  wte: Embedding;
  wpe: Embedding;
  drop: Dropout;
  h: ModuleList;
  ln_f: LayerNorm;

  constructor(private readonly config: GPT2Config, rng: Rng, file?: string) {
    super();
    this.wte = this.registerModule("wte", new Embedding(config.vocabSize, config.nEmbd, { rng }));
    this.wpe = this.registerModule("wpe", new Embedding(config.nPositions, config.nEmbd, { rng }));
    this.drop = this.registerModule("drop", new Dropout(config.embdPdrop, rng));
    const blocks = Array.from({ length: config.nLayer }, (_, i) => new GPT2Block(config, i, rng, file));
    this.h = this.registerModule("h", new ModuleList(blocks));
    this.ln_f = this.registerModule("ln_f", new LayerNorm(config.nEmbd, config.layerNormEpsilon));
  }

  forward(ids: tf.Tensor): tf.Tensor {
    const seq = ids.shape[1]!;
    if (seq > this.config.nPositions) throw new Error(`sequence length ${seq} is longer than n_positions (${this.config.nPositions})`);
    const positions = tf.range(0, seq, 1, "int32");
    let x = this.drop.forward(tf.add(this.wte.forward(ids), this.wpe.forward(positions)));
    // Read the blocks from the list each time: applyPlan may have replaced modules inside it.
    for (const [, block] of this.h.children()) x = block.forward(x);
    return this.ln_f.forward(x);
  }
}

/** transformers' GPT2LMHeadModel; `lm_head` shares `transformer.wte`'s weight when `tie_word_embeddings` is set. */
export class GPT2LMHeadModel extends CausalLM {
  readonly typeName: string;
  readonly inputEmbeddings = "transformer.wte";
  readonly layersPath = "transformer.h";
  transformer: GPT2Model;
  lm_head: Linear;

  constructor(readonly config: GPT2Config, options: BuildOptions = {}) {
    super();
    this.typeName = config.architecture;
    const rng = new Rng(options.seed ?? 0);
    this.transformer = this.registerModule("transformer", new GPT2Model(config, rng, options.file));
    const tiedWeight = config.tieWordEmbeddings ? { weight: this.transformer.wte.weight } : {};
    this.lm_head = this.registerModule("lm_head", new Linear(config.nEmbd, config.vocabSize, { bias: false, rng, ...tiedWeight }));
    // GPT-2 draws the residual projections with std / sqrt(2 · n_layer), as transformers does.
    const residual = new Map<string, number>();
    const std = typeof config.raw["initializer_range"] === "number" ? config.raw["initializer_range"] : 0.02;
    for (let i = 0; i < config.nLayer; i++) {
      for (const name of [`transformer.h.${i}.attn.c_proj`, `transformer.h.${i}.mlp.c_proj`]) residual.set(name, std / Math.sqrt(2 * config.nLayer));
    }
    initializeWeights(this, rng, std, residual);
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return this.lm_head.forward(this.transformer.forward(ids));
  }
}

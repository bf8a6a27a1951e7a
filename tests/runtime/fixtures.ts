import * as tf from "@tensorflow/tfjs-core";
import { fingerprintModules } from "../../compiler/graph/fingerprint.js";
import type { Plan, PlanTarget } from "../../compiler/plan/types.js";
import { Conv1D, Container, Embedding, Linear, Module, ModuleList, RMSNorm } from "../../runtime/nn/index.js";
import { initBackend, type BackendPreference } from "../../runtime/backend.js";
import { Rng } from "../../runtime/random.js";

// Tests run on the JavaScript cpu backend unless PEFTC_TEST_BACKEND names another one
// (`wasm`, `gpu`), so the same checks can be repeated on each backend.
await initBackend((process.env["PEFTC_TEST_BACKEND"] ?? "cpu") as BackendPreference);

export const VOCAB = 11;
export const HIDDEN = 6;
export const LAYERS = 2;

class Attention extends Module {
  readonly typeName = "LlamaAttention";
  q_proj: Linear;
  v_proj: Linear;

  constructor(rng: Rng) {
    super();
    this.q_proj = this.registerModule("q_proj", new Linear(HIDDEN, HIDDEN, { bias: false, rng }));
    this.v_proj = this.registerModule("v_proj", new Linear(HIDDEN, HIDDEN, { bias: false, rng }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.tanh(this.q_proj.forward(x)), this.v_proj.forward(x));
  }
}

class Mlp extends Module {
  readonly typeName = "GPT2MLP";
  c_fc: Conv1D;
  c_proj: Conv1D;

  constructor(rng: Rng) {
    super();
    this.c_fc = this.registerModule("c_fc", new Conv1D(HIDDEN, 2 * HIDDEN, { rng }));
    this.c_proj = this.registerModule("c_proj", new Conv1D(2 * HIDDEN, HIDDEN, { rng }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.c_proj.forward(tf.relu(this.c_fc.forward(x)));
  }
}

class Block extends Module {
  readonly typeName = "DecoderLayer";
  self_attn: Attention;
  mlp: Mlp;
  norm: RMSNorm;

  constructor(rng: Rng) {
    super();
    this.self_attn = this.registerModule("self_attn", new Attention(rng));
    this.mlp = this.registerModule("mlp", new Mlp(rng));
    this.norm = this.registerModule("norm", new RMSNorm(HIDDEN));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const h = tf.add(x, this.self_attn.forward(this.norm.forward(x)));
    return tf.add(h, this.mlp.forward(h));
  }
}

/**
 * A tiny causal LM laid out like transformers' Llama (`model.embed_tokens`, `model.layers.N`,
 * `lm_head`) with GPT-2 style Conv1D MLPs, so one model has every adaptable kind. With `tied`,
 * `lm_head` uses the very same weight variable as `model.embed_tokens`.
 */
export class TinyLM extends Module {
  readonly typeName = "TinyLMForCausalLM";
  model: Container;
  lm_head: Linear;
  score: Linear;

  constructor(options: { seed?: number; tied?: boolean } = {}) {
    super();
    const rng = new Rng(options.seed ?? 1);
    const embed = new Embedding(VOCAB, HIDDEN, { rng });
    const layers = new ModuleList(Array.from({ length: LAYERS }, () => new Block(rng)));
    this.model = this.registerModule("model", new Container({ embed_tokens: embed, layers, norm: new RMSNorm(HIDDEN) }));
    const tiedWeight = options.tied === false ? {} : { weight: embed.weight };
    this.lm_head = this.registerModule("lm_head", new Linear(HIDDEN, VOCAB, { bias: false, rng, ...tiedWeight }));
    this.score = this.registerModule("score", new Linear(HIDDEN, 3, { rng }));
  }

  hidden(ids: tf.Tensor): tf.Tensor {
    let h = this.model.child("embed_tokens").forward(ids);
    const layers = this.model.child("layers") as ModuleList;
    for (let i = 0; i < layers.length; i++) h = layers.at(i).forward(h);
    return this.model.child("norm").forward(h);
  }

  /** Logits [batch, seq, vocab]. */
  forward(ids: tf.Tensor): tf.Tensor {
    return this.lm_head.forward(this.hidden(ids));
  }

  /** Class scores [batch, seq, 3] from the `score` head. */
  classify(ids: tf.Tensor): tf.Tensor {
    return this.score.forward(this.hidden(ids));
  }
}

/** The TinyLM's adaptable modules written out by hand, as a graph JSON export would list them. */
export const TINY_GRAPH_MODULES = [
  { name: "model.embed_tokens", type: "Embedding", num_embeddings: VOCAB, embedding_dim: HIDDEN },
  ...[0, 1].flatMap((i) => [
    { name: `model.layers.${i}.self_attn.q_proj`, type: "Linear", in_features: HIDDEN, out_features: HIDDEN },
    { name: `model.layers.${i}.self_attn.v_proj`, type: "Linear", in_features: HIDDEN, out_features: HIDDEN },
    { name: `model.layers.${i}.mlp.c_fc`, type: "Conv1D", in_features: HIDDEN, out_features: 2 * HIDDEN },
    { name: `model.layers.${i}.mlp.c_proj`, type: "Conv1D", in_features: 2 * HIDDEN, out_features: HIDDEN },
  ]),
  { name: "lm_head", type: "Linear", in_features: HIDDEN, out_features: VOCAB },
  { name: "score", type: "Linear", in_features: HIDDEN, out_features: 3 },
];

export const TINY_FINGERPRINT = fingerprintModules(TINY_GRAPH_MODULES);

/** Builds a plan target as the plan format lays it out, with scaling alpha / r unless `extra` sets it. */
export function target(module: string, kind: PlanTarget["kind"], inFeatures: number, outFeatures: number, extra: Partial<PlanTarget> = {}): PlanTarget {
  const r = extra.r ?? 2;
  const alpha = extra.alpha ?? 4;
  return {
    module,
    kind,
    in_features: inFeatures,
    out_features: outFeatures,
    r,
    alpha,
    scaling: alpha / r,
    dropout: 0,
    fan_in_fan_out: kind === "conv1d_gpt2",
    parameters: r * (inFeatures + outFeatures),
    tie: null,
    ...extra,
  };
}

/** q_proj and v_proj of both layers, plus the Conv1D c_fc of layer 0. */
export function basicPlan(): Plan {
  return {
    format: "peftc-plan/1",
    model: { fingerprint: TINY_FINGERPRINT, model_type: "llama", parameters: null },
    adapters: [
      {
        name: "default",
        method: "lora",
        targets: [
          target("model.layers.0.self_attn.q_proj", "linear", HIDDEN, HIDDEN),
          target("model.layers.0.self_attn.v_proj", "linear", HIDDEN, HIDDEN),
          target("model.layers.0.mlp.c_fc", "conv1d_gpt2", HIDDEN, 2 * HIDDEN),
          target("model.layers.1.self_attn.q_proj", "linear", HIDDEN, HIDDEN),
          target("model.layers.1.self_attn.v_proj", "linear", HIDDEN, HIDDEN),
        ],
        modules_to_save: [],
        tie_groups: [],
        trainable_parameters: null,
      },
    ],
    diagnostics: [],
  };
}

/** Embedding and lm_head tied: one LoRA adapter on the embedding, used transposed by lm_head. */
export function tiedPlan(mode: "shared_adapter" | "untied" = "shared_adapter"): Plan {
  const plan = basicPlan();
  const shared = mode === "shared_adapter";
  plan.adapters[0]!.targets = [
    target("model.embed_tokens", "embedding", VOCAB, HIDDEN, {
      tie: { group: "model.embed_tokens.weight", role: "source", orientation: "same" },
    }),
    target("lm_head", "linear", HIDDEN, VOCAB, {
      parameters: shared ? 0 : 2 * (HIDDEN + VOCAB),
      tie: { group: "model.embed_tokens.weight", role: "member", orientation: shared ? "transposed" : "same" },
    }),
    target("model.layers.0.self_attn.q_proj", "linear", HIDDEN, HIDDEN),
  ];
  plan.adapters[0]!.tie_groups = [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"], mode }];
  return plan;
}

/** Token ids [2, 5] covering most of the vocabulary. */
export function sampleIds(): tf.Tensor {
  return tf.tensor2d([[0, 3, 7, 10, 2], [9, 1, 4, 8, 5]], [2, 5], "int32");
}

/** Sets every trainable variable to seeded random values, so B is no longer zero. */
export function randomize(variables: tf.Variable[], seed: number, std = 0.3): void {
  const rng = new Rng(seed);
  for (const v of variables) v.assign(tf.tensor(rng.normal(v.size, 0, std), v.shape));
}

import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../random.js";
import { Conv1D, Embedding, Linear, alongLastAxis, lookupRows } from "../nn/layers.js";
import { Module, type ModuleDescription } from "../nn/module.js";

/**
 * The two trainable factors of one LoRA adapter, in the layout PEFT stores for the layer that
 * owns them. Linear and Conv1D: `A` [r, in_features], `B` [out_features, r] (`lora_A.weight`,
 * `lora_B.weight`). Embedding: `A` [r, num_embeddings], `B` [embedding_dim, r]
 * (`lora_embedding_A`, `lora_embedding_B`).
 */
export interface LoraFactors {
  A: tf.Variable;
  B: tf.Variable;
  /** Layer kind of the owner, which fixes how the factors are laid out. */
  owner: "linear" | "embedding";
}

export interface LoraSettings {
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
}

export type AdaptedBase = Linear | Conv1D | Embedding;

/**
 * Creates factors initialised like PEFT's default (`init_lora_weights=True`): for Linear and
 * Conv1D, A is kaiming-uniform with a = sqrt(5) and B is zero; for Embedding the roles swap, A
 * is zero and B is standard normal. Either way B·A = 0, so the layer starts equal to its base.
 * `gaussian` draws A (Linear) from N(0, 1/r) instead, as PEFT does.
 */
export function initFactors(base: AdaptedBase, r: number, rng: Rng, init: "default" | "gaussian" = "default"): LoraFactors {
  if (base instanceof Embedding) {
    return {
      A: tf.variable(tf.zeros([r, base.numEmbeddings])),
      B: tf.variable(tf.tensor(rng.normal(base.embeddingDim * r), [base.embeddingDim, r])),
      owner: "embedding",
    };
  }
  const { inFeatures, outFeatures } = base;
  const a = init === "gaussian" ? rng.normal(r * inFeatures, 0, 1 / r) : rng.kaimingUniform(r * inFeatures, inFeatures);
  return {
    A: tf.variable(tf.tensor(a, [r, inFeatures])),
    B: tf.variable(tf.zeros([outFeatures, r])),
    owner: "linear",
  };
}

/**
 * A base layer wrapped with one LoRA adapter: `y = base(x) + scaling · B(A(dropout(x)))`.
 *
 * A layer either owns its factors or uses another layer's (a member of a tie group). A Linear
 * layer using an Embedding's factors reads them transposed: `A = B_embᵀ`, `B = A_embᵀ`.
 */
export class LoraLayer extends Module {
  readonly typeName: string;
  /** False while adapters are disabled: the layer then returns `base(x)`. */
  enabled = true;
  /** True while the delta is added into the base weight; forward then skips the adapter. */
  merged = false;

  constructor(
    readonly base: AdaptedBase,
    readonly factors: LoraFactors,
    readonly settings: LoraSettings,
    /** Draws dropout seeds when the caller gave a seed, so training runs repeat. */
    private readonly dropoutRng: Rng | null,
  ) {
    super();
    this.typeName = base.typeName;
  }

  /** The factors are read transposed: a Linear (or Conv1D) layer using an Embedding's factors. */
  get transposed(): boolean {
    return this.factors.owner === "embedding" && !(this.base instanceof Embedding);
  }

  override children(): Array<[string, Module]> {
    return this.base.children();
  }

  override variables(): Array<[string, tf.Variable]> {
    return this.base.variables();
  }

  override describe(): Omit<ModuleDescription, "name"> {
    return this.base.describe();
  }

  forward(x: tf.Tensor): tf.Tensor {
    const result = this.base.forward(x);
    if (!this.enabled || this.merged) return result;
    return tf.add(result, tf.mul(this.adapterOutput(x), this.settings.scaling));
  }

  /** `B(A(dropout(x)))` without the scaling. */
  private adapterOutput(x: tf.Tensor): tf.Tensor {
    const { A, B } = this.factors;
    if (this.base instanceof Embedding) {
      // PEFT's LoRA Embedding looks ids up in Aᵀ and applies no dropout.
      const afterA = lookupRows(tf.transpose(A), x, true);
      return alongLastAxis(afterA, (h) => tf.matMul(h, B as tf.Tensor2D, false, true));
    }
    const input = this.training && this.settings.dropout > 0 ? tf.dropout(x, this.settings.dropout, undefined, this.dropoutRng?.nextSeed()) : x;
    return alongLastAxis(input, (x2d) => {
      if (this.transposed) {
        // x · (B_embᵀ)ᵀ · (A_embᵀ)ᵀ = x · B_emb · A_emb
        return tf.matMul(tf.matMul(x2d, B as tf.Tensor2D), A as tf.Tensor2D);
      }
      return tf.matMul(tf.matMul(x2d, A as tf.Tensor2D, false, true), B as tf.Tensor2D, false, true);
    });
  }

  /** Computes the change this adapter makes to the base weight, in the base weight's layout, scaling included. */
  deltaWeight(): tf.Tensor {
    return tf.tidy(() => {
      const { A, B } = this.factors;
      // B·A is [out, in] for a Linear owner and [embedding_dim, num_embeddings] for an Embedding owner.
      const product = tf.matMul(B, A);
      const linearLayout = this.base instanceof Linear && !this.transposed;
      const delta = linearLayout ? product : tf.transpose(product);
      return tf.mul(delta, this.settings.scaling);
    });
  }
}

import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../random.js";
import { Module, type ModuleDescription } from "./module.js";

export interface LayerOptions {
  /** Generator for the initial weights; a fresh unseeded one when absent. */
  rng?: Rng;
}

function variableFrom(values: Float32Array, shape: number[]): tf.Variable {
  return tf.variable(tf.tensor(values, shape, "float32"));
}

/** Applies `fn` to the last axis of `x` by folding the leading axes into one. */
export function alongLastAxis(x: tf.Tensor, fn: (x2d: tf.Tensor2D) => tf.Tensor): tf.Tensor {
  const lead = x.shape.slice(0, -1);
  const out = fn(tf.reshape(x, [-1, x.shape[x.shape.length - 1]!]) as tf.Tensor2D);
  return tf.reshape(out, [...lead, out.shape[1]!]);
}

/** PyTorch's `nn.Linear`: `y = x W^T + b` with `weight` of shape [out_features, in_features]. */
export class Linear extends Module {
  readonly typeName = "Linear";
  weight: tf.Variable;
  bias: tf.Variable | null;

  /**
   * Pass `weight` to share an existing variable, e.g. an output projection tied to the input
   * embedding (both are [vocab, hidden]). Otherwise the weights start like PyTorch's defaults.
   */
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LayerOptions & { bias?: boolean; weight?: tf.Variable } = {},
  ) {
    super();
    const rng = options.rng ?? new Rng();
    if (options.weight !== undefined && !sameShape(options.weight.shape, [outFeatures, inFeatures])) {
      throw new Error(`Linear weight must have shape [${outFeatures}, ${inFeatures}], got [${options.weight.shape}]`);
    }
    this.weight = this.registerVariable(
      "weight",
      options.weight ?? variableFrom(rng.kaimingUniform(outFeatures * inFeatures, inFeatures), [outFeatures, inFeatures]),
    );
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = options.bias === false ? null : this.registerVariable("bias", variableFrom(rng.uniform(outFeatures, -bound, bound), [outFeatures]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return alongLastAxis(x, (x2d) => {
      const y = tf.matMul(x2d, this.weight as tf.Tensor2D, false, true);
      return this.bias === null ? y : tf.add(y, this.bias);
    });
  }

  override describe(): Omit<ModuleDescription, "name"> {
    return { ...super.describe(), in_features: this.inFeatures, out_features: this.outFeatures, bias: this.bias !== null };
  }
}

/**
 * The transformers GPT-2 `Conv1D`: a linear layer whose `weight` is stored [in_features,
 * out_features], so `y = x W + b`.
 */
export class Conv1D extends Module {
  readonly typeName = "Conv1D";
  weight: tf.Variable;
  bias: tf.Variable;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LayerOptions = {}) {
    super();
    const rng = options.rng ?? new Rng();
    // transformers initialises Conv1D weights from N(0, 0.02) and the bias with zeros.
    this.weight = this.registerVariable("weight", variableFrom(rng.normal(inFeatures * outFeatures, 0, 0.02), [inFeatures, outFeatures]));
    this.bias = this.registerVariable("bias", tf.variable(tf.zeros([outFeatures])));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return alongLastAxis(x, (x2d) => tf.add(tf.matMul(x2d, this.weight as tf.Tensor2D), this.bias));
  }

  override describe(): Omit<ModuleDescription, "name"> {
    return { ...super.describe(), in_features: this.inFeatures, out_features: this.outFeatures, bias: true };
  }
}

/**
 * Looks up rows of `table` [rows, dim] by integer ids, returning [...ids.shape, dim].
 *
 * With `differentiable`, the lookup must let gradients reach `table`. tf.gather's gradient needs
 * the UnsortedSegmentSum kernel, which tfjs 4.22's wasm backend lacks, so on a backend without
 * it the lookup becomes a one-hot matrix product. That gives the same rows but costs
 * ids × rows × dim multiplications.
 */
export function lookupRows(table: tf.Tensor, ids: tf.Tensor, differentiable = false): tf.Tensor {
  const indices = tf.cast(ids, "int32");
  if (!differentiable || tf.getKernel("UnsortedSegmentSum", tf.getBackend()) !== undefined) return tf.gather(table, indices);
  const [rows, dim] = table.shape as [number, number];
  // The one-hot matrix is built as int32 and cast: tfjs 4.22's wasm OneHot kernel writes int32
  // data even when asked for float32, and the product then reads integer bits as floats.
  const oneHot = tf.cast(tf.oneHot(tf.reshape(indices, [-1]), rows), table.dtype);
  return tf.reshape(tf.matMul(oneHot, table), [...indices.shape, dim]);
}

/** PyTorch's `nn.Embedding`: `weight` [num_embeddings, embedding_dim], looked up by int32 ids. */
export class Embedding extends Module {
  readonly typeName = "Embedding";
  weight: tf.Variable;
  /**
   * Set when `weight` is trained (a saved module's copy), so lookups stay differentiable on
   * backends that lack gather's gradient kernel. Default: false.
   */
  trainsWeight = false;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, options: LayerOptions = {}) {
    super();
    const rng = options.rng ?? new Rng();
    this.weight = this.registerVariable("weight", variableFrom(rng.normal(numEmbeddings * embeddingDim), [numEmbeddings, embeddingDim]));
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return lookupRows(this.weight, ids, this.trainsWeight);
  }

  override describe(): Omit<ModuleDescription, "name"> {
    return { ...super.describe(), num_embeddings: this.numEmbeddings, embedding_dim: this.embeddingDim };
  }
}

/** PyTorch's `nn.LayerNorm` over the last axis, with `weight` and `bias` of shape [dim]. */
export class LayerNorm extends Module {
  readonly typeName = "LayerNorm";
  weight: tf.Variable;
  bias: tf.Variable;

  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.registerVariable("weight", tf.variable(tf.ones([dim])));
    this.bias = this.registerVariable("bias", tf.variable(tf.zeros([dim])));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps)));
    return tf.add(tf.mul(normed, this.weight), this.bias);
  }
}

/** RMS normalisation over the last axis (LlamaRMSNorm), with `weight` of shape [dim]. */
export class RMSNorm extends Module {
  readonly typeName: string;
  weight: tf.Variable;

  constructor(readonly dim: number, readonly eps = 1e-6, typeName = "RMSNorm") {
    super();
    this.typeName = typeName;
    this.weight = this.registerVariable("weight", tf.variable(tf.ones([dim])));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const meanSquare = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, this.eps))), this.weight);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

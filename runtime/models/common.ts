import * as tf from "@tensorflow/tfjs-core";
import { RuntimeInputError } from "../errors.js";
import { Module } from "../nn/module.js";
import { Rng } from "../random.js";

/** PyTorch's `nn.Dropout`: active only in training mode; seeded masks when built with a seeded Rng. */
export class Dropout extends Module {
  readonly typeName = "Dropout";

  constructor(readonly rate: number, private readonly rng: Rng | null = null) {
    super();
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.rate === 0) return x;
    return tf.dropout(x, this.rate, undefined, this.rng?.nextSeed());
  }
}

type ActivationFn = (x: tf.Tensor) => tf.Tensor;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`): 0.5x(1 + tanh(sqrt(2/π)(x + 0.044715x³))). */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** Exact GELU, x·Φ(x) = 0.5x(1 + erf(x/√2)). */
function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** transformers' ACT2FN names and the class name `named_modules()` shows for each. */
const ACTIVATIONS: Record<string, { className: string; fn: ActivationFn }> = {
  gelu_new: { className: "NewGELUActivation", fn: geluTanh },
  gelu_pytorch_tanh: { className: "PytorchGELUTanh", fn: geluTanh },
  gelu: { className: "GELUActivation", fn: geluErf },
  relu: { className: "ReLU", fn: (x) => tf.relu(x) },
  silu: { className: "SiLU", fn: (x) => tf.mul(x, tf.sigmoid(x)) },
  swish: { className: "SiLU", fn: (x) => tf.mul(x, tf.sigmoid(x)) },
};

/** An activation function as a module, named as transformers names it. */
export class Activation extends Module {
  readonly typeName: string;
  private readonly fn: ActivationFn;

  constructor(name: string, file?: string) {
    super();
    const entry = ACTIVATIONS[name];
    if (entry === undefined) {
      const known = Object.keys(ACTIVATIONS).join(", ");
      throw new RuntimeInputError("model-unsupported", `activation "${name}" is not supported by the runtime; supported: ${known}`, file === undefined ? {} : { file });
    }
    this.typeName = entry.className;
    this.fn = entry.fn;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.fn(x);
  }
}

/**
 * An additive attention mask [seq, seq]: 0 where query i may attend to key j (j <= i, and
 * i - j < window when a sliding window is set), a large negative number elsewhere, so the
 * masked scores become exactly 0 after softmax.
 */
export function causalMask(seq: number, window: number | null = null): tf.Tensor2D {
  const values = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) {
    for (let j = 0; j < seq; j++) {
      const visible = j <= i && (window === null || i - j < window);
      values[i * seq + j] = visible ? 0 : -1e9;
    }
  }
  return tf.tensor2d(values, [seq, seq]);
}

/**
 * Scaled dot-product attention over [batch, heads, seq, head_dim] tensors:
 * softmax(q·kᵀ · scale + mask) · v.
 */
export function attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: number, mask: tf.Tensor2D, dropout: Dropout | null): tf.Tensor {
  const scores = tf.add(tf.mul(tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true), scale), mask);
  const weights = tf.softmax(scores, -1);
  const dropped = dropout === null ? weights : dropout.forward(weights);
  return tf.matMul(dropped as tf.Tensor4D, v as tf.Tensor4D);
}

/** [batch, seq, heads·dim] → [batch, heads, seq, dim]. */
export function splitHeads(x: tf.Tensor, heads: number, dim: number): tf.Tensor {
  const [batch, seq] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [batch, seq, heads, dim]), [0, 2, 1, 3]);
}

/** [batch, heads, seq, dim] → [batch, seq, heads·dim]. */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [batch, heads, seq, dim] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, seq, heads * dim]);
}

/**
 * Mean next-token cross-entropy of causal-LM logits [batch, seq, vocab] against the same ids
 * [batch, seq]: position t predicts token t + 1, so each sequence contributes seq − 1 terms.
 * This is the loss transformers' `*ForCausalLM` computes with `labels = input_ids`.
 */
export function causalLmLoss(logits: tf.Tensor, ids: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [batch, seq, vocab] = logits.shape as [number, number, number];
    const predicted = tf.reshape(tf.slice(logits, [0, 0, 0], [batch, seq - 1, vocab]), [-1, vocab]);
    const labels = tf.reshape(tf.slice(tf.cast(ids, "int32"), [0, 1], [batch, seq - 1]), [-1]);
    const logProbs = tf.logSoftmax(predicted, -1);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(labels, vocab)), -1);
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

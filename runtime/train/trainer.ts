import * as tf from "@tensorflow/tfjs-core";
import type { CausalLM } from "../models/causal-lm.js";
import { causalLmLoss } from "../models/common.js";
import { Rng } from "../random.js";
import type { TokenBlocks } from "./data.js";

export interface StepReport {
  step: number;
  totalSteps: number;
  loss: number;
  /** Training tokens per second since the first step began. */
  tokensPerSecond: number;
}

export interface TrainOptions {
  /** The variables Adam updates; every other variable stays frozen. */
  variables: tf.Variable[];
  steps: number;
  learningRate: number;
  batchSize: number;
  /** Seed for the batch order. */
  seed: number;
  onStep?: (report: StepReport) => void;
}

export interface TrainResult {
  losses: number[];
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

/** Stacks blocks into an int32 [batch, seq] tensor. */
export function batchTensor(blocks: Int32Array[], seqLen: number): tf.Tensor2D {
  const values = new Int32Array(blocks.length * seqLen);
  blocks.forEach((block, i) => values.set(block, i * seqLen));
  return tf.tensor2d(values, [blocks.length, seqLen], "int32");
}

/** Batches in epoch order: each epoch visits every block once, in an order shuffled by `rng`. */
function* batches(data: TokenBlocks, batchSize: number, rng: Rng): Generator<Int32Array[]> {
  const order = data.blocks.map((_, i) => i);
  for (;;) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let start = 0; start < order.length; start += batchSize) {
      yield order.slice(start, start + batchSize).map((i) => data.blocks[i]!);
    }
  }
}

/** Steps for `epochs` passes over `blocks` blocks in batches of `batchSize`. */
export function stepsForEpochs(epochs: number, blocks: number, batchSize: number): number {
  return epochs * Math.ceil(blocks / batchSize);
}

/**
 * Trains `options.variables` with Adam on the next-token loss of `data`. The model is put in
 * training mode (dropout on) while it runs and back in evaluation mode at the end.
 */
export function train(model: CausalLM, data: TokenBlocks, options: TrainOptions): TrainResult {
  const optimizer = tf.train.adam(options.learningRate);
  const source = batches(data, options.batchSize, new Rng(options.seed));
  const losses: number[] = [];
  let tokens = 0;
  const started = performance.now();
  model.train();
  try {
    for (let step = 1; step <= options.steps; step++) {
      const blocks = source.next().value as Int32Array[];
      const ids = batchTensor(blocks, data.seqLen);
      const cost = optimizer.minimize(() => causalLmLoss(model.forward(ids), ids), true, options.variables);
      const loss = cost!.dataSync()[0]!;
      cost!.dispose();
      ids.dispose();
      losses.push(loss);
      tokens += blocks.length * data.seqLen;
      const seconds = (performance.now() - started) / 1000;
      options.onStep?.({ step, totalSteps: options.steps, loss, tokensPerSecond: tokens / seconds });
    }
  } finally {
    model.eval();
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { losses, tokens, seconds, tokensPerSecond: tokens / seconds };
}

/**
 * The mean next-token loss over every predicted position of `data`, in evaluation mode (no
 * dropout). Each block contributes seq − 1 predictions, so batches weigh by their block count.
 */
export function evaluateLoss(model: CausalLM, data: TokenBlocks, batchSize: number): number {
  model.eval();
  let total = 0;
  for (let start = 0; start < data.blocks.length; start += batchSize) {
    const blocks = data.blocks.slice(start, start + batchSize);
    const loss = tf.tidy(() => {
      const ids = batchTensor(blocks, data.seqLen);
      return causalLmLoss(model.forward(ids), ids).dataSync()[0]!;
    });
    total += loss * blocks.length;
  }
  return total / data.blocks.length;
}

import * as tf from "@tensorflow/tfjs-core";
import { toGraph, type RuntimeGraph } from "../graph.js";
import { Conv1D, Embedding, LayerNorm, Linear, RMSNorm } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { Rng } from "../random.js";
import type { ModelConfig } from "./config.js";

/**
 * A decoder-only language model built from a Hugging Face config: `forward(ids)` maps int token
 * ids [batch, seq] to logits [batch, seq, vocab]. The tree under it has transformers' module
 * names and class names, so a plan compiled from the same model directory applies to it.
 */
export abstract class CausalLM extends Module {
  abstract readonly config: ModelConfig;
  /** Dotted name of the input embedding (`get_input_embeddings()` in transformers). */
  abstract readonly inputEmbeddings: string;
  /** Dotted name of the output projection (`get_output_embeddings()`). */
  readonly outputEmbeddings = "lm_head";
  /** Dotted name of the ModuleList of decoder layers (`transformer.h`, `model.layers`). */
  abstract readonly layersPath: string;

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** True when the input embedding and lm_head hold one shared weight variable. */
  get tied(): boolean {
    const embedding = this.findModule(this.inputEmbeddings);
    const head = this.findModule(this.outputEmbeddings);
    const weightOf = (m: Module | undefined) => m?.variables().find(([n]) => n === "weight")?.[1];
    return weightOf(embedding) !== undefined && weightOf(embedding) === weightOf(head);
  }

  /** The `peftc-graph/1` description of this model, with its tie declared as transformers v5 does. */
  graph(): RuntimeGraph {
    return toGraph(this, {
      modelType: this.config.modelType,
      architectures: [this.config.architecture],
      config: { tie_word_embeddings: this.config.tieWordEmbeddings },
      inputEmbeddings: this.inputEmbeddings,
      outputEmbeddings: this.outputEmbeddings,
    });
  }

  /** Logits [batch, seq, vocab] for int ids [batch, seq], with intermediate tensors freed. */
  logits(ids: tf.Tensor2D): tf.Tensor3D {
    return this.call(ids) as tf.Tensor3D;
  }
}

/**
 * Draws new weights like transformers' `_init_weights`: Linear, Conv1D and Embedding weights
 * from N(0, std), biases zero, norm weights one and norm biases zero. `scaled` lists modules whose
 * weights use a smaller std (GPT-2's residual projections).
 */
export function initializeWeights(model: Module, rng: Rng, std: number, scaled: Map<string, number> = new Map()): void {
  const seen = new Set<tf.Variable>();
  for (const [name, module] of model.namedModules()) {
    const moduleStd = scaled.get(name) ?? std;
    for (const [local, variable] of module.variables()) {
      // A tied weight is drawn once, by its first owner.
      if (seen.has(variable)) continue;
      seen.add(variable);
      let values: tf.Tensor;
      if (module instanceof LayerNorm || module instanceof RMSNorm) {
        values = local === "weight" ? tf.ones(variable.shape) : tf.zeros(variable.shape);
      } else if (module instanceof Linear || module instanceof Conv1D || module instanceof Embedding) {
        values = local === "weight" ? tf.tensor(rng.normal(variable.size, 0, moduleStd), variable.shape) : tf.zeros(variable.shape);
      } else {
        continue;
      }
      variable.assign(values);
      values.dispose();
    }
  }
}

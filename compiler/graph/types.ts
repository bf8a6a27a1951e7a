/** In-memory form of a `peftc-graph/1` document: a model's structure without its weights. */

export const GRAPH_FORMAT = "peftc-graph/1";

/** PyTorch module classes that PEFT's LoRA can wrap; targeting any other type is an error. */
export const ADAPTABLE_TYPES = new Set([
  "Linear",
  "Embedding",
  "Conv1d",
  "Conv2d",
  "Conv3d",
  "Conv1D",
  "MultiheadAttention",
]);

export interface GraphModule {
  /** Fully-qualified dotted name, as PyTorch's `named_modules()` returns it. */
  name: string;
  /** PyTorch class name (`Linear`, `Embedding`, `Conv1D`, `LayerNorm`, `ModuleList`, `Module`, ...). */
  type: string;
  /** Linear and Conv1D: sizes; `null` when the source did not give them. */
  in_features?: number | null;
  out_features?: number | null;
  bias?: boolean | null;
  /** Embedding. */
  num_embeddings?: number | null;
  embedding_dim?: number | null;
  /** Conv1d/2d/3d. */
  in_channels?: number | null;
  out_channels?: number | null;
  kernel_size?: number[] | null;
  groups?: number | null;
  /** MultiheadAttention. */
  embed_dim?: number | null;
  num_heads?: number | null;
  /** Number of parameters the module owns directly (not its children's); `null` when unknown. */
  parameters?: number | null;
  /** Names of the fields above that were inferred (from config.json or an architecture table) rather than read. */
  inferred?: string[];
}

/** A tied-weights declaration: target parameter → source parameter (transformers v5) or a list of targets (v4). */
export type TiedWeightsKeys = Record<string, string> | string[];

export interface Graph {
  format: typeof GRAPH_FORMAT;
  model_type: string | null;
  architectures: string[];
  /** The parts of config.json that matter to planning (`tie_word_embeddings`, ...). */
  config: Record<string, unknown>;
  /** Every named module, containers included, in `named_modules()` order; the root is not listed. */
  modules: GraphModule[];
  tied_weights_keys?: TiedWeightsKeys | null;
  /** Declarations made by submodules, keyed by the submodule's name; inner names are relative to it. */
  module_tied_weights_keys?: Record<string, TiedWeightsKeys>;
  input_embeddings?: string | null;
  output_embeddings?: string | null;
  /** Total parameter count of the base model, shared tensors counted once; `null` when unknown. */
  parameters?: number | null;
  /** Top-level fields that were inferred rather than read (e.g. `output_embeddings`, `tied_weights_keys`). */
  inferred?: string[];
  /** Origin of the graph, relative and machine-independent (e.g. `hf-directory`, `graph-json`). */
  source?: { kind: string; files?: string[] };
}

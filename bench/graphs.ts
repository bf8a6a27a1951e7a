/**
 * Model graphs for the compile benchmark, in peftc-graph/1 form: the module trees of real
 * architectures at full size, and a synthetic MoE tree of exactly 1,000,000 modules.
 *
 * Every module is listed, containers included, in PyTorch `named_modules()` order, as a graph
 * exported from a live model would be. Module and class names follow the transformers 4 model
 * code (LlamaForCausalLM; DeepseekV3ForCausalLM with per-expert Linear layers; MixtralForCausalLM).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { Graph, GraphModule } from "../compiler/graph/types.js";

/** A generated model: the graph's top-level fields and a generator of its modules. */
export interface BenchModel {
  /** Short id used in file names and tables. */
  id: string;
  /** Description of the graph for the table heading. */
  title: string;
  header: Omit<Graph, "modules">;
  modules(): Generator<GraphModule>;
}

function linear(name: string, inFeatures: number, outFeatures: number, bias = false): GraphModule {
  return { name, type: "Linear", in_features: inFeatures, out_features: outFeatures, bias };
}

function rmsNorm(name: string, size: number): GraphModule {
  return { name, type: "RMSNorm", parameters: size };
}

/** Creates a module without weights of its own (a decoder layer, an activation), which owns 0 parameters. */
function container(name: string, type: string): GraphModule {
  return { name, type, parameters: 0 };
}

function decoderHeader(modelType: string, architecture: string, tied: boolean): Omit<Graph, "modules"> {
  return {
    format: "peftc-graph/1",
    model_type: modelType,
    architectures: [architecture],
    config: { tie_word_embeddings: tied },
    tied_weights_keys: { "lm_head.weight": "model.embed_tokens.weight" },
    input_embeddings: "model.embed_tokens",
    output_embeddings: "lm_head",
  };
}

/** Shape of a Llama-family decoder (LlamaForCausalLM). */
export interface LlamaShape {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
}

/** Llama 3 70B, from its config.json. */
export const LLAMA3_70B: LlamaShape = { layers: 80, hidden: 8192, heads: 64, kvHeads: 8, intermediate: 28672, vocab: 128256 };

function* llamaModules(shape: LlamaShape): Generator<GraphModule> {
  const { hidden, intermediate } = shape;
  const kv = (hidden / shape.heads) * shape.kvHeads;
  yield container("model", "LlamaModel");
  yield { name: "model.embed_tokens", type: "Embedding", num_embeddings: shape.vocab, embedding_dim: hidden };
  yield container("model.layers", "ModuleList");
  for (let i = 0; i < shape.layers; i++) {
    const p = `model.layers.${i}`;
    yield container(p, "LlamaDecoderLayer");
    yield container(`${p}.self_attn`, "LlamaAttention");
    yield linear(`${p}.self_attn.q_proj`, hidden, hidden);
    yield linear(`${p}.self_attn.k_proj`, hidden, kv);
    yield linear(`${p}.self_attn.v_proj`, hidden, kv);
    yield linear(`${p}.self_attn.o_proj`, hidden, hidden);
    yield container(`${p}.mlp`, "LlamaMLP");
    yield linear(`${p}.mlp.gate_proj`, hidden, intermediate);
    yield linear(`${p}.mlp.up_proj`, hidden, intermediate);
    yield linear(`${p}.mlp.down_proj`, intermediate, hidden);
    yield container(`${p}.mlp.act_fn`, "SiLU");
    yield rmsNorm(`${p}.input_layernorm`, hidden);
    yield rmsNorm(`${p}.post_attention_layernorm`, hidden);
  }
  yield rmsNorm("model.norm", hidden);
  yield container("model.rotary_emb", "LlamaRotaryEmbedding");
  yield linear("lm_head", hidden, shape.vocab);
}

export function llamaModel(shape: LlamaShape = LLAMA3_70B): BenchModel {
  return {
    id: "llama3-70b",
    title: `Llama-3-70B shape (${shape.layers} layers)`,
    header: decoderHeader("llama", "LlamaForCausalLM", false),
    modules: () => llamaModules(shape),
  };
}

/** Shape of a DeepSeek-V3 decoder: MLA attention, dense MLP in the first layers, then routed experts. */
export interface DeepseekShape {
  layers: number;
  denseLayers: number;
  hidden: number;
  intermediate: number;
  moeIntermediate: number;
  routedExperts: number;
  sharedExperts: number;
  heads: number;
  qLoraRank: number;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  vocab: number;
}

/** DeepSeek-V3 (671B), from its config.json. */
export const DEEPSEEK_V3: DeepseekShape = {
  layers: 61,
  denseLayers: 3,
  hidden: 7168,
  intermediate: 18432,
  moeIntermediate: 2048,
  routedExperts: 256,
  sharedExperts: 1,
  heads: 128,
  qLoraRank: 1536,
  kvLoraRank: 512,
  qkNopeHeadDim: 128,
  qkRopeHeadDim: 64,
  vHeadDim: 128,
  vocab: 129280,
};

function* mlpModules(prefix: string, type: string, hidden: number, intermediate: number): Generator<GraphModule> {
  yield container(prefix, type);
  yield linear(`${prefix}.gate_proj`, hidden, intermediate);
  yield linear(`${prefix}.up_proj`, hidden, intermediate);
  yield linear(`${prefix}.down_proj`, intermediate, hidden);
  yield container(`${prefix}.act_fn`, "SiLU");
}

function* deepseekModules(s: DeepseekShape): Generator<GraphModule> {
  const qHeadDim = s.qkNopeHeadDim + s.qkRopeHeadDim;
  yield container("model", "DeepseekV3Model");
  yield { name: "model.embed_tokens", type: "Embedding", num_embeddings: s.vocab, embedding_dim: s.hidden };
  yield container("model.layers", "ModuleList");
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    yield container(p, "DeepseekV3DecoderLayer");
    yield container(`${p}.self_attn`, "DeepseekV3Attention");
    yield linear(`${p}.self_attn.q_a_proj`, s.hidden, s.qLoraRank);
    yield rmsNorm(`${p}.self_attn.q_a_layernorm`, s.qLoraRank);
    yield linear(`${p}.self_attn.q_b_proj`, s.qLoraRank, s.heads * qHeadDim);
    yield linear(`${p}.self_attn.kv_a_proj_with_mqa`, s.hidden, s.kvLoraRank + s.qkRopeHeadDim);
    yield rmsNorm(`${p}.self_attn.kv_a_layernorm`, s.kvLoraRank);
    yield linear(`${p}.self_attn.kv_b_proj`, s.kvLoraRank, s.heads * (s.qkNopeHeadDim + s.vHeadDim));
    yield linear(`${p}.self_attn.o_proj`, s.heads * s.vHeadDim, s.hidden);
    if (i < s.denseLayers) {
      yield* mlpModules(`${p}.mlp`, "DeepseekV3MLP", s.hidden, s.intermediate);
    } else {
      yield container(`${p}.mlp`, "DeepseekV3MoE");
      yield container(`${p}.mlp.experts`, "ModuleList");
      for (let e = 0; e < s.routedExperts; e++) yield* mlpModules(`${p}.mlp.experts.${e}`, "DeepseekV3MLP", s.hidden, s.moeIntermediate);
      // The router owns a (experts x hidden) weight and a per-expert score correction bias.
      yield { name: `${p}.mlp.gate`, type: "DeepseekV3TopkRouter", parameters: s.routedExperts * s.hidden + s.routedExperts };
      yield* mlpModules(`${p}.mlp.shared_experts`, "DeepseekV3MLP", s.hidden, s.moeIntermediate * s.sharedExperts);
    }
    yield rmsNorm(`${p}.input_layernorm`, s.hidden);
    yield rmsNorm(`${p}.post_attention_layernorm`, s.hidden);
  }
  yield rmsNorm("model.norm", s.hidden);
  yield container("model.rotary_emb", "DeepseekV3RotaryEmbedding");
  yield linear("lm_head", s.hidden, s.vocab);
}

export function deepseekModel(shape: DeepseekShape = DEEPSEEK_V3): BenchModel {
  return {
    id: "deepseek-v3",
    title: `DeepSeek-V3-like MoE (${shape.layers} layers x ${shape.routedExperts} experts)`,
    header: decoderHeader("deepseek_v3", "DeepseekV3ForCausalLM", false),
    modules: () => deepseekModules(shape),
  };
}

/** Shape of the synthetic Mixtral-style MoE. */
export interface SyntheticShape {
  layers: number;
  experts: number;
  hidden: number;
  intermediate: number;
  vocab: number;
}

/**
 * 998 layers of 1,002 modules (10 per layer plus 248 experts of 4) and 4 top-level modules:
 * exactly 1,000,000 named modules.
 */
export const SYNTHETIC_1M: SyntheticShape = { layers: 998, experts: 248, hidden: 4096, intermediate: 14336, vocab: 32000 };

function* syntheticModules(s: SyntheticShape): Generator<GraphModule> {
  const { hidden } = s;
  yield container("model", "MixtralModel");
  yield { name: "model.embed_tokens", type: "Embedding", num_embeddings: s.vocab, embedding_dim: hidden };
  yield container("model.layers", "ModuleList");
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    yield container(p, "MixtralDecoderLayer");
    yield container(`${p}.self_attn`, "MixtralAttention");
    yield linear(`${p}.self_attn.q_proj`, hidden, hidden);
    yield linear(`${p}.self_attn.k_proj`, hidden, hidden / 4);
    yield linear(`${p}.self_attn.v_proj`, hidden, hidden / 4);
    yield linear(`${p}.self_attn.o_proj`, hidden, hidden);
    yield container(`${p}.block_sparse_moe`, "MixtralSparseMoeBlock");
    yield linear(`${p}.block_sparse_moe.gate`, hidden, s.experts);
    yield container(`${p}.block_sparse_moe.experts`, "ModuleList");
    for (let e = 0; e < s.experts; e++) {
      const q = `${p}.block_sparse_moe.experts.${e}`;
      yield container(q, "MixtralBlockSparseTop2MLP");
      yield linear(`${q}.w1`, hidden, s.intermediate);
      yield linear(`${q}.w2`, s.intermediate, hidden);
      yield linear(`${q}.w3`, hidden, s.intermediate);
    }
    yield rmsNorm(`${p}.input_layernorm`, hidden);
  }
  yield linear("lm_head", hidden, s.vocab);
}

export function syntheticModel(shape: SyntheticShape = SYNTHETIC_1M): BenchModel {
  return {
    id: "synthetic-1m",
    title: `synthetic MoE (${shape.layers} layers x ${shape.experts} experts)`,
    header: decoderHeader("mixtral", "MixtralForCausalLM", false),
    modules: () => syntheticModules(shape),
  };
}

/** Returns the three benchmark models, smallest first. */
export function benchModels(): BenchModel[] {
  return [llamaModel(), deepseekModel(), syntheticModel()];
}

/** Counts a model's modules by type without building the list. */
export function countModules(model: BenchModel): { total: number; byType: Map<string, number> } {
  const byType = new Map<string, number>();
  let total = 0;
  for (const m of model.modules()) {
    total++;
    byType.set(m.type, (byType.get(m.type) ?? 0) + 1);
  }
  return { total, byType };
}

/**
 * Writes the model as a peftc-graph/1 JSON file, one module per line, streaming so that a
 * million-module graph never sits in memory as one string. Returns the number of bytes written.
 */
export function writeGraphFile(model: BenchModel, path: string): number {
  const fd = openSync(path, "w");
  let bytes = 0;
  let pending: string[] = [];
  let pendingLength = 0;
  const flush = (): void => {
    if (pending.length === 0) return;
    bytes += writeSync(fd, pending.join(""));
    pending = [];
    pendingLength = 0;
  };
  const write = (text: string): void => {
    pending.push(text);
    pendingLength += text.length;
    if (pendingLength > 1 << 20) flush();
  };
  try {
    const headerText = JSON.stringify(model.header, null, 2);
    // The header object is written without its closing brace, then the modules array is appended.
    write(headerText.slice(0, headerText.lastIndexOf("}")).trimEnd() + ',\n  "modules": [\n');
    let first = true;
    for (const m of model.modules()) {
      write((first ? "    " : ",\n    ") + JSON.stringify(m));
      first = false;
    }
    write("\n  ]\n}\n");
    flush();
  } finally {
    closeSync(fd);
  }
  return bytes;
}

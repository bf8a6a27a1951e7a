import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Graph, GraphModule } from "../../compiler/graph/types.js";
import { loadGraph } from "../../compiler/import/index.js";

const models = fileURLToPath(new URL("../fixtures/models/", import.meta.url));
const cache = new Map<string, Graph>();

function graphOf(folder: string): Graph {
  let graph = cache.get(folder);
  if (graph === undefined) {
    graph = loadGraph(join(models, folder));
    cache.set(folder, graph);
  }
  return graph;
}

function moduleOf(folder: string, name: string): GraphModule {
  const m = graphOf(folder).modules.find((x) => x.name === name);
  if (m === undefined) throw new assert.Assertion({ message: `${folder}: no module ${name}`, operator: "find", expects: true, actual: false });
  return m;
}

function countType(folder: string, type: string): number {
  return graphOf(folder).modules.filter((m) => m.type === type).length;
}

/**
 * Expected counts of Linear (and other) modules, worked out by hand from each architecture:
 * e.g. Llama has 7 Linear layers per decoder layer plus lm_head.
 */
const typeCounts: Record<string, Record<string, number>> = {
  "bloom-176b": { Linear: 70 * 4 + 1, LayerNorm: 70 * 2 + 2, Embedding: 1 },
  "falcon-180b-chat": { Linear: 80 * 4 + 1, LayerNorm: 80 * 2 + 1, Embedding: 1 },
  "gemma-2b-it": { Linear: 18 * 7 + 1, RMSNorm: 18 * 2 + 1, Embedding: 1 },
  // Text: 62 layers x 7 + lm_head; SigLIP vision tower: 27 layers x (4 attention + 2 MLP).
  "gemma3-medgemma-27b-it": { Linear: 62 * 7 + 1 + 27 * 6, Embedding: 2, Conv2d: 1 },
  "gpt-neox-pythia-12b-oasst": { Linear: 36 * 4 + 1, LayerNorm: 36 * 2 + 1, Embedding: 1 },
  "gpt-oss-20b": { Linear: 24 * 4 + 1, GptOssExperts: 24, GptOssTopKRouter: 24, Embedding: 1 },
  "layoutlm-mlm-wikipedia-ja": { Linear: 12 * 6 + 3, Embedding: 7 },
  "llama-3.2-3b-instruct": { Linear: 28 * 7 + 1, RMSNorm: 28 * 2 + 1, Embedding: 1 },
  "mistral-devstral-small-2507": { Linear: 40 * 7 + 1, Embedding: 1 },
  // Per layer: 4 attention projections, the router gate and 8 experts x (w1, w2, w3).
  "mixtral-8x22b-wizardlm2": { Linear: 56 * (4 + 1 + 8 * 3) + 1, Embedding: 1 },
  "phi3-mini-slerp": { Linear: 32 * 4 + 1, Embedding: 1 },
  "qwen2-14b-cogito": { Linear: 48 * 7 + 1, Embedding: 1 },
  // Per layer: 128 experts x 3 + gate + shared expert (3) + shared_expert_gate; 30 linear-attention
  // layers with 5 projections, 10 full-attention layers with 4; lm_head.
  "qwen3.5-moe-18b-reap": { Linear: 40 * (128 * 3 + 1 + 3 + 1) + 30 * 5 + 10 * 4 + 1, Conv1d: 30, Embedding: 1 },
  "smollm2-135m-sharded": { Linear: 30 * 7 + 1, Embedding: 1 },
  "smollm3-3b": { Linear: 36 * 7 + 1, Embedding: 1 },
  // Encoder only: 24 blocks x (q, k, v, o, wi_0, wi_1, wo); shared, encoder.embed_tokens, relative_attention_bias.
  "t5-v1_1-xxl-encoder-flux-nf4": { Linear: 24 * 7, Embedding: 3, RMSNorm: 24 * 2 + 1 },
  "vit-base-stanford-dogs-sharded": { Linear: 12 * 6 + 1, Conv2d: 1 },
  // Unknown architecture (remote code): types come from names. The text model's embed_tokens and
  // the CLIP tower's position_embedding are the embeddings.
  "deepseek-ocr-v2moe": { Embedding: 2 },
  // Config-only folders, built from the architecture template.
  "gpt2-indo-instruct": { Conv1D: 12 * 4, Linear: 1, Embedding: 2, LayerNorm: 12 * 2 + 1 },
  "opt-1.3b": { Linear: 24 * 6 + 1, Embedding: 2, LayerNorm: 24 * 2 + 1 },
  "t5-codet5-small": { Linear: 6 * 6 + 6 * 10 + 1, Embedding: 3 + 2 },
  "bert-base-uncased-seqcls": { Linear: 12 * 6 + 2, Embedding: 3 },
  "roberta-mlm-kl": { Linear: 12 * 6 + 2, Embedding: 3 },
  "whisper-asr": { Linear: 12 * 6 + 12 * 10 + 1, Conv1d: 2, Embedding: 3 },
  "clip-text-flux": { Linear: 12 * 6, Embedding: 2 },
  "granitemoe-1b-a400m": { Linear: 24 * 5 + 1, GraniteMoeParallelExperts: 24 * 2 },
};

for (const [folder, counts] of Object.entries(typeCounts)) {
  test(`${folder} module counts`, () => {
    for (const [type, count] of Object.entries(counts)) assert.is(countType(folder, type), count, `${type} modules`);
  });
}

test("every fixture folder imports as a normalized graph", () => {
  for (const folder of Object.keys(typeCounts)) {
    const graph = graphOf(folder);
    const names = new Set<string>();
    for (const m of graph.modules) {
      assert.not.ok(names.has(m.name), `${folder}: duplicate ${m.name}`);
      const dot = m.name.lastIndexOf(".");
      // Pre-order: every parent is listed before its children.
      if (dot > 0) assert.ok(names.has(m.name.slice(0, dot)), `${folder}: ${m.name} before its parent`);
      names.add(m.name);
    }
    assert.is(graph.format, "peftc-graph/1");
  }
});

test("buffers, quantization state and fused experts are not modules", () => {
  const bogus = /(^|\.)(inv_freq|masked_bias|position_ids|absmax|quant_map|quant_state|bitsandbytes__nf4|sinks|[^.]*_blocks|[^.]*_scales|experts\.gate_up_proj|experts\.down_proj)$/;
  for (const folder of Object.keys(typeCounts)) {
    for (const m of graphOf(folder).modules) assert.not.match(m.name, bogus, `${folder}: ${m.name}`);
  }
  // GPT-NeoX stores its causal mask as attention.bias: a buffer, not a bias of `attention`.
  assert.not.ok(graphOf("gpt-neox-pythia-12b-oasst").modules.some((m) => m.name.endsWith("attention.bias")));
  assert.is(moduleOf("gpt-neox-pythia-12b-oasst", "gpt_neox.layers.0.attention").parameters, 0);
  // gpt-oss keeps experts fused: parameters of the experts module, no per-expert Linear.
  assert.is(moduleOf("gpt-oss-20b", "model.layers.0.mlp.experts").type, "GptOssExperts");
  assert.not.ok(graphOf("gpt-oss-20b").modules.some((m) => m.name.startsWith("model.layers.0.mlp.experts.")));
});

test("named_modules order for a Llama checkpoint", () => {
  const names = graphOf("llama-3.2-3b-instruct").modules.map((m) => m.name);
  const layer0 = ["self_attn", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm"];
  assert.equal(names.slice(0, 15), ["model", "model.embed_tokens", "model.layers", "model.layers.0", ...layer0.map((n) => `model.layers.0.${n}`)]);
  assert.equal(names.slice(-2), ["model.norm", "lm_head"]);
  assert.ok(names.indexOf("model.layers.10") > names.indexOf("model.layers.9.post_attention_layernorm"));
  assert.is(moduleOf("llama-3.2-3b-instruct", "model.layers").type, "ModuleList");
  assert.is(moduleOf("llama-3.2-3b-instruct", "model.layers.0").type, "Module");
});

test("shapes derived from config.json", () => {
  // Llama-3.2-3B: hidden 3072, 24 heads x 128, 8 KV heads, intermediate 8192, vocab 128256.
  const k = moduleOf("llama-3.2-3b-instruct", "model.layers.0.self_attn.k_proj");
  assert.equal([k.in_features, k.out_features, k.bias], [3072, 8 * 128, false]);
  assert.ok(k.inferred!.includes("out_features"));
  const down = moduleOf("llama-3.2-3b-instruct", "model.layers.27.mlp.down_proj");
  assert.equal([down.in_features, down.out_features], [8192, 3072]);
  // Gemma-2b: 8 heads x 256 for queries, 1 KV head.
  const gq = moduleOf("gemma-2b-it", "model.layers.0.self_attn.q_proj");
  const gk = moduleOf("gemma-2b-it", "model.layers.0.self_attn.k_proj");
  assert.equal([gq.out_features, gk.out_features], [8 * 256, 256]);
  // Phi-3: fused qkv (3 x 32 x 96) and gate_up (2 x 8192).
  assert.is(moduleOf("phi3-mini-slerp", "model.layers.0.self_attn.qkv_proj").out_features, 3 * 3072);
  assert.is(moduleOf("phi3-mini-slerp", "model.layers.0.mlp.gate_up_proj").out_features, 2 * 8192);
  // Falcon-180B: (232 query heads + 2 x 8 KV heads) x 64.
  assert.is(moduleOf("falcon-180b-chat", "transformer.h.0.self_attention.query_key_value").out_features, (232 + 2 * 8) * 64);
  // Mixtral 8x22B: hidden 6144, intermediate 16384, 8 experts.
  const w1 = moduleOf("mixtral-8x22b-wizardlm2", "model.layers.55.block_sparse_moe.experts.7.w1");
  assert.equal([w1.in_features, w1.out_features], [6144, 16384]);
  assert.is(moduleOf("mixtral-8x22b-wizardlm2", "model.layers.0.block_sparse_moe.gate").out_features, 8);
  // Qwen2: q/k/v have biases in the checkpoint, o_proj has none.
  assert.is(moduleOf("qwen2-14b-cogito", "model.layers.0.self_attn.q_proj").bias, true);
  assert.is(moduleOf("qwen2-14b-cogito", "model.layers.0.self_attn.o_proj").bias, false);
  // T5-v1.1-XXL: gated FFN 4096 -> 10240, 64 heads x 64.
  const wi = moduleOf("t5-v1_1-xxl-encoder-flux-nf4", "encoder.block.0.layer.1.DenseReluDense.wi_0");
  assert.equal([wi.in_features, wi.out_features], [4096, 10240]);
  assert.is(moduleOf("t5-v1_1-xxl-encoder-flux-nf4", "encoder.block.3.layer.0.SelfAttention.q").out_features, 64 * 64);
  // GPT-2: c_attn is a Conv1D 768 -> 3 x 768.
  const cAttn = moduleOf("gpt2-indo-instruct", "transformer.h.0.attn.c_attn");
  assert.equal([cAttn.type, cAttn.in_features, cAttn.out_features], ["Conv1D", 768, 3 * 768]);
  // OPT positional embeddings reserve 2 extra rows.
  assert.is(moduleOf("opt-1.3b", "model.decoder.embed_positions").num_embeddings, 2048 + 2);
  // Whisper: conv1 reads 80 mel bins with kernel 3.
  const conv1 = moduleOf("whisper-asr", "model.encoder.conv1");
  assert.equal([conv1.in_channels, conv1.out_channels, conv1.kernel_size], [80, 768, [3]]);
});

test("unknown architectures import from parameter names", () => {
  const expert = moduleOf("deepseek-ocr-v2moe", "model.layers.1.mlp.experts.63.down_proj");
  assert.is(expert.type, "Linear");
  assert.is(expert.in_features, null);
  assert.ok(expert.inferred!.includes("type"));
  assert.is(graphOf("deepseek-ocr-v2moe").parameters, null);
  const qwen = graphOf("qwen3.5-moe-18b-reap");
  assert.is(qwen.input_embeddings, "model.language_model.embed_tokens");
  assert.is(qwen.output_embeddings, "lm_head");
  assert.ok(qwen.inferred!.includes("input_embeddings"));
});

const embeddings: Array<[string, string | null, string | null, unknown]> = [
  ["llama-3.2-3b-instruct", "model.embed_tokens", "lm_head", { "lm_head.weight": "model.embed_tokens.weight" }],
  ["gpt2-indo-instruct", "transformer.wte", "lm_head", { "lm_head.weight": "transformer.wte.weight" }],
  ["opt-1.3b", "model.decoder.embed_tokens", "lm_head", { "lm_head.weight": "model.decoder.embed_tokens.weight" }],
  ["whisper-asr", "model.decoder.embed_tokens", "proj_out", { "proj_out.weight": "model.decoder.embed_tokens.weight" }],
  ["gpt-neox-pythia-12b-oasst", "gpt_neox.embed_in", "embed_out", {}],
  ["bloom-176b", "transformer.word_embeddings", "lm_head", { "lm_head.weight": "transformer.word_embeddings.weight" }],
  [
    "t5-codet5-small",
    "shared",
    "lm_head",
    { "encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight", "lm_head.weight": "shared.weight" },
  ],
  ["t5-v1_1-xxl-encoder-flux-nf4", "shared", null, { "encoder.embed_tokens.weight": "shared.weight" }],
  [
    "layoutlm-mlm-wikipedia-ja",
    "layoutlm.embeddings.word_embeddings",
    "cls.predictions.decoder",
    { "cls.predictions.decoder.weight": "layoutlm.embeddings.word_embeddings.weight", "cls.predictions.decoder.bias": "cls.predictions.bias" },
  ],
  ["gemma3-medgemma-27b-it", "model.language_model.embed_tokens", "lm_head", { "lm_head.weight": "model.language_model.embed_tokens.weight" }],
  ["bert-base-uncased-seqcls", "bert.embeddings.word_embeddings", null, null],
];

for (const [folder, input, output, tied] of embeddings) {
  test(`${folder} embeddings and tie declaration`, () => {
    const graph = graphOf(folder);
    assert.is(graph.input_embeddings, input);
    assert.is(graph.output_embeddings, output);
    assert.equal(graph.tied_weights_keys, tied);
  });
}

test("tie_word_embeddings as read or from the class default", () => {
  const read: Array<[string, boolean]> = [
    ["llama-3.2-3b-instruct", true],
    ["mistral-devstral-small-2507", false],
    ["gpt-neox-pythia-12b-oasst", false],
  ];
  for (const [folder, value] of read) {
    assert.is(graphOf(folder).config["tie_word_embeddings"], value, folder);
    assert.not.ok(graphOf(folder).inferred!.includes("config.tie_word_embeddings"), folder);
  }
  // No key in config.json: the config class default (true for these) is used and marked inferred.
  for (const folder of ["gemma-2b-it", "smollm3-3b", "gpt2-indo-instruct", "opt-1.3b", "falcon-180b-chat", "t5-codet5-small"]) {
    assert.is(graphOf(folder).config["tie_word_embeddings"], true, folder);
    assert.ok(graphOf(folder).inferred!.includes("config.tie_word_embeddings"), folder);
  }
  // An untied model keeps the architecture's declaration; config.tie_word_embeddings is false.
  assert.equal(graphOf("mistral-devstral-small-2507").tied_weights_keys, { "lm_head.weight": "model.embed_tokens.weight" });
});

test("lm_head omitted by tied checkpoints is added", () => {
  for (const folder of ["llama-3.2-3b-instruct", "smollm2-135m-sharded", "gemma-2b-it", "bloom-176b", "smollm3-3b", "gemma3-medgemma-27b-it"]) {
    const head = moduleOf(folder, "lm_head");
    assert.is(head.type, "Linear", folder);
    assert.ok(head.inferred!.includes("name"), folder);
  }
  // Stored heads are read, not added.
  assert.not.ok(moduleOf("mistral-devstral-small-2507", "lm_head").inferred!.includes("name"));
  // BLOOM's checkpoint has no `transformer.` prefix; the model class adds it on load.
  assert.ok(graphOf("bloom-176b").modules.some((m) => m.name === "transformer.h.69.mlp.dense_4h_to_h"));
  // T5's encoder embedding is tied to `shared` and not stored.
  assert.is(moduleOf("t5-v1_1-xxl-encoder-flux-nf4", "encoder.embed_tokens").num_embeddings, 32128);
});

test("Gemma 3 multimodal keys move to their current names", () => {
  const names = new Set(graphOf("gemma3-medgemma-27b-it").modules.map((m) => m.name));
  assert.ok(names.has("model.language_model.layers.61.self_attn.q_proj"));
  assert.ok(names.has("model.vision_tower.vision_model.encoder.layers.26.mlp.fc2"));
  assert.ok(names.has("model.multi_modal_projector.mm_soft_emb_norm"));
  assert.not.ok([...names].some((n) => n.startsWith("language_model.")));
  // text_config: hidden 5376, 32 heads x 128.
  assert.is(moduleOf("gemma3-medgemma-27b-it", "model.language_model.layers.0.self_attn.q_proj").out_features, 32 * 128);
});

/** Published parameter counts (model cards and papers), independent of this code. */
const published: Array<[string, number, string]> = [
  ["llama-3.2-3b-instruct", 3_212_749_824, "Llama-3.2-3B"],
  ["smollm2-135m-sharded", 134_515_008, "SmolLM2-135M"],
  ["gemma-2b-it", 2_506_172_416, "gemma-2b"],
  ["bloom-176b", 176_247_271_424, "BLOOM"],
  ["gpt2-indo-instruct", 124_439_808, "GPT-2 small"],
];

for (const [folder, count, model] of published) {
  test(`${folder} parameter total equals ${model}`, () => {
    assert.is(graphOf(folder).parameters, count);
  });
}

test("parameter totals by hand arithmetic", () => {
  // Pythia-12B is 11,846,072,320 with a 50688-token vocabulary; this checkpoint has 50288 tokens
  // in embed_in and embed_out (untied): 2 x 400 x 5120 fewer.
  assert.is(graphOf("gpt-neox-pythia-12b-oasst").parameters, 11_846_072_320 - 2 * 400 * 5120);
  // t5-small is 60,506,624 with 32128 tokens; codet5-small has 32100 (shared, tied head): 28 x 512 fewer.
  assert.is(graphOf("t5-codet5-small").parameters, 60_506_624 - 28 * 512);
  // bert-base-uncased (with pooler) is 109,482,240, plus a 4-label classifier 768 x 4 + 4.
  assert.is(graphOf("bert-base-uncased-seqcls").parameters, 109_482_240 + 768 * 4 + 4);
  // OPT-1.3B has embeddings of 50272 x 2048 and 2050 x 2048 and a final norm of 2 x 2048.
  // Each of its 24 layers has 4 x (2048^2 + 2048) attention, two norms and fc1/fc2 with biases.
  const optLayer = 4 * (2048 * 2048 + 2048) + 4 * 2048 + (2048 * 8192 + 8192) + (8192 * 2048 + 2048);
  assert.is(graphOf("opt-1.3b").parameters, 50272 * 2048 + 2050 * 2048 + 2 * 2048 + 24 * optLayer);
  // Each Mixtral 8x22B layer has q/o of 6144 x 6144, k/v of 6144 x 1024, a 6144 x 8 gate,
  // 8 experts of 3 x 6144 x 16384 and two norms. Embeddings and head are 32000 x 6144 each.
  const mixtralLayer = 2 * 6144 * 6144 + 2 * 6144 * 1024 + 6144 * 8 + 8 * 3 * 6144 * 16384 + 2 * 6144;
  assert.is(graphOf("mixtral-8x22b-wizardlm2").parameters, 56 * mixtralLayer + 2 * 32000 * 6144 + 6144);
  // Unknown shapes give an unknown total.
  assert.is(graphOf("qwen3.5-moe-18b-reap").parameters, null);
});

test("Llama-3.2-1B config gives its published total", () => {
  // Published config of meta-llama/Llama-3.2-1B (config-only import) and its 1,235,814,400 parameters.
  const dir = mkdtempSync(join(tmpdir(), "peftc-llama-1b-"));
  try {
    const config = {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: 2048,
      intermediate_size: 8192,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 64,
      num_hidden_layers: 16,
      vocab_size: 128256,
      tie_word_embeddings: true,
    };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    const graph = loadGraph(dir);
    assert.is(graph.parameters, 1_235_814_400);
    assert.ok(graph.inferred!.includes("modules"));
    assert.ok(graph.modules.every((m) => m.inferred === undefined || m.inferred.includes("name")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function importConfig(config: Record<string, unknown>): Graph {
  const dir = mkdtempSync(join(tmpdir(), "peftc-config-"));
  try {
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    return loadGraph(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("BART declares ties on the base model", () => {
  // Sizes of facebook/bart-base: d_model 768, 6 + 6 layers, FFN 3072, 50265 tokens.
  const graph = importConfig({
    architectures: ["BartForConditionalGeneration"],
    model_type: "bart",
    d_model: 768,
    encoder_layers: 6,
    decoder_layers: 6,
    encoder_ffn_dim: 3072,
    decoder_ffn_dim: 3072,
    max_position_embeddings: 1024,
    vocab_size: 50265,
  });
  assert.equal(graph.tied_weights_keys, { "lm_head.weight": "model.shared.weight" });
  assert.equal(graph.module_tied_weights_keys, {
    model: { "encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight" },
  });
  assert.is(graph.input_embeddings, "model.shared");
  // Encoder layers: 4 attention + fc1 + fc2; decoder layers add 4 cross-attention; lm_head.
  assert.is(graph.modules.filter((m) => m.type === "Linear").length, 6 * 6 + 6 * 10 + 1);
  // shared, lm_head and both embed_tokens are one tensor; positions are 1026 x 768 per stack.
  const layerNorms = 2 * 768;
  const encoderLayer = 4 * (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768) + 2 * layerNorms;
  const decoderLayer = encoderLayer + 4 * (768 * 768 + 768) + layerNorms;
  const expected = 50265 * 768 + 2 * (1026 * 768 + layerNorms) + 6 * encoderLayer + 6 * decoderLayer;
  assert.is(graph.parameters, expected);
});

test("Qwen2-MoE config builds experts", () => {
  const graph = importConfig({
    architectures: ["Qwen2MoeForCausalLM"],
    model_type: "qwen2_moe",
    hidden_size: 64,
    intermediate_size: 128,
    moe_intermediate_size: 32,
    shared_expert_intermediate_size: 96,
    num_experts: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    num_hidden_layers: 2,
    vocab_size: 100,
    mlp_only_layers: [1],
  });
  const names = new Set(graph.modules.map((m) => m.name));
  assert.ok(names.has("model.layers.0.mlp.experts.3.down_proj"));
  assert.ok(names.has("model.layers.0.mlp.shared_expert_gate"));
  // Layer 1 is listed in mlp_only_layers, so it has a dense MLP.
  assert.ok(names.has("model.layers.1.mlp.gate_proj"));
  assert.not.ok(names.has("model.layers.1.mlp.experts"));
  assert.is(graph.modules.find((m) => m.name === "model.layers.0.self_attn.k_proj")?.bias, true);
  assert.is(graph.config["tie_word_embeddings"], false);
});

test("Gemma 3 1B and Qwen3 0.6B configs give published totals", () => {
  // Published configs of google/gemma-3-1b-it (999,885,952 parameters) and Qwen/Qwen3-0.6B (596,049,920).
  const gemma = importConfig({
    architectures: ["Gemma3ForCausalLM"],
    model_type: "gemma3_text",
    hidden_size: 1152,
    intermediate_size: 6912,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    head_dim: 256,
    num_hidden_layers: 26,
    vocab_size: 262144,
  });
  assert.is(gemma.parameters, 999_885_952);
  assert.is(gemma.config["tie_word_embeddings"], true);
  const qwen = importConfig({
    architectures: ["Qwen3ForCausalLM"],
    model_type: "qwen3",
    hidden_size: 1024,
    intermediate_size: 3072,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    num_hidden_layers: 28,
    vocab_size: 151936,
    tie_word_embeddings: true,
  });
  assert.is(qwen.parameters, 596_049_920);
});

test("index names match the fixture files", () => {
  // Guard against a fixture edited by hand: the SOURCES.md list covers every copied file.
  const sources = readFileSync(join(models, "SOURCES.md"), "utf8");
  for (const folder of Object.keys(typeCounts)) assert.match(sources, `| ${folder} | config.json |`);
});

test.run();

/**
 * The benchmark graphs must have the sizes the benchmark table claims. Expected counts are worked
 * out by hand from each architecture's layout (see the comments), not from the generators.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { countModules, deepseekModel, llamaModel, syntheticModel, writeGraphFile, type BenchModel } from "../../bench/graphs.js";
import { graphFromJson } from "../../compiler/import/graph-json.js";

test("llama3-70b module counts", () => {
  const { total, byType } = countModules(llamaModel());
  // model, embed_tokens, layers; 80 layers x (layer, self_attn, q/k/v/o, mlp, gate/up/down, act_fn,
  // 2 norms) = 80 x 13; model.norm, rotary_emb, lm_head.
  assert.is(total, 3 + 80 * 13 + 3);
  assert.is(byType.get("Linear"), 80 * 7 + 1);
  assert.is(byType.get("Embedding"), 1);
});

test("deepseek-v3 module counts", () => {
  const { total, byType } = countModules(deepseekModel());
  // Attention: layer, self_attn, q_a_proj, q_a_layernorm, q_b_proj, kv_a_proj_with_mqa,
  // kv_a_layernorm, kv_b_proj, o_proj = 9, plus 2 layer norms = 11 per layer.
  // Dense MLP (layers 0-2): mlp, gate/up/down, act_fn = 5.
  // MoE MLP (layers 3-60): mlp, experts, 256 x (expert, gate/up/down, act_fn), gate router,
  // shared_experts with gate/up/down and act_fn = 1 + 1 + 1280 + 1 + 5 = 1288.
  assert.is(total, 3 + 3 * (11 + 5) + 58 * (11 + 1288) + 3);
  // 5 attention projections per layer, 3 dense MLP projections in 3 layers, 256 x 3 + 3
  // expert projections in 58 layers, and lm_head.
  assert.is(byType.get("Linear"), 61 * 5 + 3 * 3 + 58 * (256 * 3 + 3) + 1);
  assert.is(byType.get("DeepseekV3TopkRouter"), 58);
});

test("synthetic graph has 1,000,000 modules", () => {
  const { total, byType } = countModules(syntheticModel());
  assert.is(total, 1_000_000);
  // Per layer q/k/v/o, the router and 248 experts x w1/w2/w3; then lm_head.
  assert.is(byType.get("Linear"), 998 * (4 + 1 + 248 * 3) + 1);
});

function roundTrip(model: BenchModel): void {
  const dir = mkdtempSync(join(tmpdir(), "peftc-bench-graph-"));
  try {
    const path = join(dir, "graph.json");
    const bytes = writeGraphFile(model, path);
    const text = readFileSync(path, "utf8");
    assert.is(Buffer.byteLength(text), bytes);
    const graph = graphFromJson(JSON.parse(text), text, path);
    const written = [...model.modules()].map((m) => m.name);
    // Every container is listed, in named_modules() order, so normalizing changes nothing.
    assert.equal(graph.modules.map((m) => m.name), written);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("llama3-70b file is a valid graph", () => roundTrip(llamaModel()));

test("deepseek-v3 file is a valid graph", () => roundTrip(deepseekModel()));

test.run();

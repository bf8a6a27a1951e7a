import * as tf from "@tensorflow/tfjs-core";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileSpecFile } from "../../compiler/compile.js";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { loadModel } from "../../runtime/models/index.js";
import { registerTrainingKernels } from "../../runtime/train/kernels.js";
import { REFERENCE } from "./plans.js";

await initBackend("cpu");

/** Writes a spec next to nothing else and returns its path. */
function spec(text: string): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "peftc-spec-"));
  const path = join(dir, "spec.yaml");
  writeFileSync(path, text);
  return { path, cleanup: () => rmSync(dir, { recursive: true }) };
}

const CASES: Array<[string, string, string[]]> = [
  ["tiny-gpt2", "target_modules: [c_attn, c_proj, lm_head]\nensure_weight_tying: true\n", ["transformer.wte", "lm_head"]],
  ["tiny-llama", "target_modules: all-linear\n", ["model.layers.1.mlp.down_proj"]],
  ["tiny-llama-tied", "target_modules: [q_proj, v_proj, lm_head]\nensure_weight_tying: true\n", ["model.embed_tokens", "lm_head"]],
  ["tiny-llama-bf16", "target_modules: [q_proj, k_proj]\n", ["model.layers.0.self_attn.k_proj"]],
];

for (const [fixture, text, expected] of CASES) {
  test(`plan compiled from ${fixture} applies to the built model`, () => {
    const { path, cleanup } = spec(`r: 4\nlora_alpha: 8\n${text}`);
    const dir = join(REFERENCE, fixture);
    const { plan } = compileSpecFile(path, { model: dir });
    const { model } = loadModel(dir);
    const lora = applyPlan(model, plan, { seed: 1 });
    for (const name of expected) assert.ok(lora.layers.has(name), `${name} is adapted`);
    assert.is(lora.layers.size, plan.adapters[0]!.targets.length);
    cleanup();
  });
}

const TINY_DIMS = { vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 };
const CONFIG_ONLY: Array<Record<string, unknown>> = [
  { model_type: "llama", architectures: ["LlamaForCausalLM"], ...TINY_DIMS, tie_word_embeddings: true },
  { model_type: "mistral", architectures: ["MistralForCausalLM"], ...TINY_DIMS },
  { model_type: "qwen2", architectures: ["Qwen2ForCausalLM"], ...TINY_DIMS },
  { model_type: "smollm3", architectures: ["SmolLM3ForCausalLM"], ...TINY_DIMS },
  { model_type: "gpt2", architectures: ["GPT2LMHeadModel"], vocab_size: 64, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 32 },
];

for (const config of CONFIG_ONLY) {
  test(`${config["model_type"]} config alone plans the built tree`, () => {
    const dir = mkdtempSync(join(tmpdir(), "peftc-config-only-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    const { path, cleanup } = spec("r: 2\nlora_alpha: 4\ntarget_modules: all-linear\n");
    const { plan } = compileSpecFile(path, { model: dir });
    const { model, weights } = loadModel(dir);
    assert.is(weights, "random");
    // applyPlan throws when the compiler's graph and the built tree differ in any adaptable module.
    const lora = applyPlan(model, plan, { seed: 1 });
    assert.ok(lora.layers.size > 0);
    cleanup();
    rmSync(dir, { recursive: true });
  });
}

test("gather gradient on wasm equals the cpu backend's", async () => {
  const gradient = () =>
    tf.tidy(() => {
      const table = tf.variable(tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
      const ids = tf.tensor2d([[0, 2, 2], [1, 0, 2]], undefined, "int32");
      const weights = tf.tensor3d([[[1, 0], [0, 1], [2, 3]], [[4, 5], [6, 7], [8, 9]]]);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.gather(table, ids), weights)) as tf.Scalar, [table]);
      const out = Array.from(grads[table.name]!.dataSync());
      table.dispose();
      return out;
    });
  // Row r of the gradient sums the weights of every position that looked up id r.
  const byHand = [1 + 6, 0 + 7, 4, 5, 0 + 2 + 8, 1 + 3 + 9];
  assert.equal(gradient(), byHand);
  await initBackend("wasm");
  registerTrainingKernels();
  assert.equal(gradient(), byHand);
  await initBackend("cpu");
});

test.run();

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

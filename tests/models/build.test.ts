import * as tf from "@tensorflow/tfjs-core";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { fingerprintModel } from "../../runtime/graph.js";
import { buildModel, inverseFrequencies, loadModel, parseModelConfig, type LlamaConfig } from "../../runtime/models/index.js";
import { readSafetensors, writeSafetensors } from "../../runtime/safetensors.js";
import { planForKeptLayers } from "../../runtime/train/layers.js";
import { REFERENCE, checkpointFingerprint, checkpointModules, planFor } from "./plans.js";

await initBackend("cpu");

const FIXTURES = ["tiny-gpt2", "tiny-llama", "tiny-llama-tied", "tiny-llama-f16", "tiny-llama-bf16"];

for (const fixture of FIXTURES) {
  test(`${fixture} fingerprint matches its checkpoint's modules`, () => {
    const { model } = loadModel(join(REFERENCE, fixture));
    assert.is(fingerprintModel(model), checkpointFingerprint(join(REFERENCE, fixture)));
    model.dispose();
  });
}

test("tied checkpoints share one weight variable", () => {
  for (const [fixture, embedding] of [["tiny-gpt2", "transformer.wte"], ["tiny-llama-tied", "model.embed_tokens"]] as const) {
    const { model } = loadModel(join(REFERENCE, fixture));
    const embeddingWeight = model.findModule(embedding)!.variables()[0]![1];
    const headWeight = model.findModule("lm_head")!.variables()[0]![1];
    assert.ok(embeddingWeight === headWeight, fixture);
    assert.equal(model.graph().tied_weights_keys, { "lm_head.weight": `${embedding}.weight` });
    assert.not.ok(model.namedVariables().some(([name]) => name === "lm_head.weight"), "listed once, under the embedding");
  }
  const { model } = loadModel(join(REFERENCE, "tiny-llama"));
  assert.not.ok(model.tied);
});

test("module names and classes follow transformers", () => {
  const gpt2 = loadModel(join(REFERENCE, "tiny-gpt2")).model;
  const names = new Map(gpt2.namedModules().map(([n, m]) => [n, m.typeName]));
  assert.is(names.get(""), "GPT2LMHeadModel");
  assert.is(names.get("transformer.h"), "ModuleList");
  assert.is(names.get("transformer.h.1.attn.c_attn"), "Conv1D");
  assert.is(names.get("transformer.h.1.mlp.act"), "NewGELUActivation");
  assert.is(names.get("transformer.ln_f"), "LayerNorm");
  assert.is(names.get("lm_head"), "Linear");
  const llama = loadModel(join(REFERENCE, "tiny-llama")).model;
  const order = llama.namedModules().map(([n]) => n);
  assert.equal(order.slice(0, 8), ["", "model", "model.embed_tokens", "model.layers", "model.layers.0", "model.layers.0.self_attn", "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj"]);
  assert.equal(order.slice(-3), ["model.norm", "model.rotary_emb", "lm_head"]);
  assert.is(llama.findModule("model.norm")!.typeName, "LlamaRMSNorm");
});

/** Writes `fixture`'s tensors split over two shard files plus the index transformers writes. */
function shardedCopy(fixture: string): string {
  const dir = mkdtempSync(join(tmpdir(), "peftc-shards-"));
  copyFileSync(join(REFERENCE, fixture, "config.json"), join(dir, "config.json"));
  const { tensors } = readSafetensors(readFileSync(join(REFERENCE, fixture, "model.safetensors")));
  const names = [...tensors.keys()];
  const shards = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  const weightMap: Record<string, string> = {};
  shards.forEach((keys, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    for (const key of keys) weightMap[key] = file;
    const list = keys.map((name) => ({ name, shape: tensors.get(name)!.shape, data: tensors.get(name)!.data! }));
    writeFileSync(join(dir, file), writeSafetensors(list, { format: "pt" }));
  });
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return dir;
}

test("sharded checkpoint loads like the single file", () => {
  const dir = shardedCopy("tiny-llama");
  const ids = tf.tensor2d([[0, 5, 9, 127]], undefined, "int32");
  const sharded = loadModel(dir);
  const single = loadModel(join(REFERENCE, "tiny-llama"));
  assert.is(sharded.weights, "checkpoint");
  assert.is(sharded.files.length, 2);
  assert.equal(Array.from(sharded.model.logits(ids).dataSync()), Array.from(single.model.logits(ids).dataSync()));
  rmSync(dir, { recursive: true });
});

test("index without shards builds random weights", () => {
  const dir = shardedCopy("tiny-llama");
  for (const file of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) rmSync(join(dir, file));
  const first = loadModel(dir, { seed: 5 });
  const again = loadModel(dir, { seed: 5 });
  const other = loadModel(dir, { seed: 6 });
  assert.is(first.weights, "random");
  const weight = (m: typeof first.model) => Array.from(m.findModule("model.layers.1.mlp.up_proj")!.variables()[0]![1].dataSync());
  assert.equal(weight(first.model), weight(again.model));
  assert.not.equal(weight(first.model), weight(other.model));
  rmSync(dir, { recursive: true });
});

test("checkpoint with a missing tensor lists it", () => {
  const dir = shardedCopy("tiny-llama");
  rmSync(join(dir, "model-00002-of-00002.safetensors"));
  assert.throws(() => loadModel(dir), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.code === "checkpoint-incomplete");
  rmSync(dir, { recursive: true });
  const copy = mkdtempSync(join(tmpdir(), "peftc-missing-"));
  copyFileSync(join(REFERENCE, "tiny-llama", "config.json"), join(copy, "config.json"));
  const { tensors } = readSafetensors(readFileSync(join(REFERENCE, "tiny-llama", "model.safetensors")));
  const kept = [...tensors].filter(([name]) => name !== "model.norm.weight").map(([name, e]) => ({ name, shape: e.shape, data: e.data! }));
  writeFileSync(join(copy, "model.safetensors"), writeSafetensors(kept));
  assert.throws(() => loadModel(copy), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.code === "checkpoint-mismatch" && err.problems.includes("missing tensor model.norm.weight"));
  rmSync(copy, { recursive: true });
});

const LLAMA_BASE = {
  model_type: "llama",
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};

test("qwen2 has q/k/v biases and no o_proj bias", () => {
  const model = buildModel(parseModelConfig({ ...LLAMA_BASE, model_type: "qwen2", architectures: ["Qwen2ForCausalLM"] }));
  const describe = (name: string) => model.findModule(name)!.describe();
  assert.is(describe("model.layers.0.self_attn.q_proj").bias, true);
  assert.is(describe("model.layers.0.self_attn.v_proj").bias, true);
  assert.is(describe("model.layers.0.self_attn.o_proj").bias, false);
  assert.is(describe("model.layers.0.mlp.up_proj").bias, false);
  assert.is(model.findModule("model.layers.0.self_attn")!.typeName, "Qwen2Attention");
});

test("llama attention_bias puts biases on all four projections", () => {
  const config = parseModelConfig({ ...LLAMA_BASE, attention_bias: true }) as LlamaConfig;
  assert.is(config.qkvBias, true);
  assert.is(config.oBias, true);
});

test("smollm3 skips rotary embeddings where no_rope_layers is 0", () => {
  const config = parseModelConfig({ ...LLAMA_BASE, model_type: "smollm3", no_rope_layers: [1, 1, 1, 0] }) as LlamaConfig;
  assert.equal(config.useRope, [true, true, true, false]);
  // SmolLM3Config's default: every fourth layer has no rotary embeddings.
  const defaults = parseModelConfig({ ...LLAMA_BASE, model_type: "smollm3", num_hidden_layers: 8 }) as LlamaConfig;
  assert.equal(defaults.useRope, [true, true, true, false, true, true, true, false]);
  assert.is(defaults.tieWordEmbeddings, true);
});

test("sliding windows follow the model type", () => {
  const mistral = parseModelConfig({ ...LLAMA_BASE, model_type: "mistral", sliding_window: 3 }) as LlamaConfig;
  assert.equal(mistral.slidingWindow, [3, 3, 3, 3]);
  const qwen = parseModelConfig({ ...LLAMA_BASE, model_type: "qwen2", sliding_window: 3, use_sliding_window: true, max_window_layers: 2 }) as LlamaConfig;
  assert.equal(qwen.slidingWindow, [null, null, 3, 3]);
  const llama = parseModelConfig({ ...LLAMA_BASE, sliding_window: 3 }) as LlamaConfig;
  assert.equal(llama.slidingWindow, [null, null, null, null]);
});

test("sliding window hides keys further back", () => {
  const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], undefined, "int32");
  const full = buildModel(parseModelConfig({ ...LLAMA_BASE, model_type: "mistral", sliding_window: null }), { seed: 1 });
  const windowed = buildModel(parseModelConfig({ ...LLAMA_BASE, model_type: "mistral", sliding_window: 2 }), { seed: 1 });
  const a = full.logits(ids).arraySync()[0]!;
  const b = windowed.logits(ids).arraySync()[0]!;
  // Positions 0 and 1 see at most two tokens either way; later ones lose the older keys.
  assert.equal(a[1], b[1]);
  assert.not.equal(a[5], b[5]);
});

test("rope_parameters of transformers 5 set rope_theta", () => {
  const config = parseModelConfig({ ...LLAMA_BASE, rope_parameters: { rope_theta: 100000, rope_type: "default" } }) as LlamaConfig;
  assert.is(config.ropeTheta, 100000);
});

test("llama3 rope scaling by hand", () => {
  // head_dim 8, theta 10000: frequencies 1, 0.1, 0.01, 0.001 (wavelengths 6.3, 63, 628, 6283).
  // factor 8, low 1, high 4, original context 1000: wavelengths above 1000 are divided by 8,
  // below 250 kept, and 628 sits between: smooth = (1000/628.3 - 1) / 3 = 0.19718.
  const scaled = inverseFrequencies(10000, 8, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1000 });
  const smooth = (1000 / ((2 * Math.PI) / 0.01) - 1) / 3;
  const expected = [1, 0.1, (1 - smooth) * (0.01 / 8) + smooth * 0.01, 0.001 / 8];
  expected.forEach((value, i) => assert.ok(Math.abs(scaled[i]! - value) < 1e-7 * Math.max(1, value), `frequency ${i}: ${scaled[i]} vs ${value}`));
});

test("config errors name the file and field", () => {
  const dir = mkdtempSync(join(tmpdir(), "peftc-config-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...LLAMA_BASE, num_attention_heads: 3 }));
  assert.throws(() => loadModel(dir), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.file === join(dir, "config.json") && /num_attention_heads \(3\) must be a multiple of num_key_value_heads \(2\)/.test(err.message));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ model_type: "bert" }));
  assert.throws(() => loadModel(dir), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.code === "model-unsupported");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...LLAMA_BASE, rope_scaling: { rope_type: "yarn", factor: 4 } }));
  assert.throws(() => loadModel(dir), (err: unknown) => err instanceof RuntimeInputError && /rope type "yarn" is not supported/.test(err.message));
  rmSync(dir, { recursive: true });
});

test("layer override keeps the first layers of a checkpoint", () => {
  const ids = tf.tensor2d([[3, 1, 4, 1, 5]], undefined, "int32");
  const { model } = loadModel(join(REFERENCE, "tiny-llama"), { numHiddenLayers: 1 });
  assert.is(model.findModule("model.layers")!.children().length, 1);
  const full = loadModel(join(REFERENCE, "tiny-llama")).model;
  const layer0 = (m: typeof model) => Array.from(m.findModule("model.layers.0.self_attn.q_proj")!.variables()[0]![1].dataSync());
  assert.equal(layer0(model), layer0(full));
  assert.not.equal(Array.from(model.logits(ids).dataSync()), Array.from(full.logits(ids).dataSync()));
  assert.throws(() => loadModel(join(REFERENCE, "tiny-llama"), { numHiddenLayers: 3 }), /layer override \(--num-hidden-layers\) 3 is more than the model's num_hidden_layers \(2\)/);
});

test("decoder layer saved as a trainable copy", () => {
  const dir = join(REFERENCE, "tiny-llama");
  const plan = planFor(checkpointModules(dir), ["q_proj"]);
  plan.adapters[0]!.modules_to_save = [{ module: "model.layers.1", parameters: null, tie: null }];
  const { model } = loadModel(dir);
  const ids = tf.tensor2d([[3, 1, 4, 1, 5]], undefined, "int32");
  const before = Array.from(model.logits(ids).dataSync());
  const lora = applyPlan(model, plan, { seed: 1 });
  // B starts at zero and the copy starts equal to the layer, so the logits do not move.
  assert.equal(Array.from(model.logits(ids).dataSync()), before);
  const copied = lora.savedModules.get("model.layers.1")!.copy.namedVariables().length;
  assert.is(copied, 9, "two norms and seven projections");
  assert.is(lora.trainableVariables().length, 2 * 2 + copied);
});

test("plan for the full depth fits a model with fewer layers", () => {
  const dir = join(REFERENCE, "tiny-llama-tied");
  const plan = planFor(checkpointModules(dir), ["q_proj", "v_proj", "embed_tokens", "lm_head"], { tie: "model.embed_tokens" });
  const { model } = loadModel(dir, { numHiddenLayers: 1 });
  const fitted = planForKeptLayers(plan, model, 2);
  assert.is(fitted.model.fingerprint, fingerprintModel(model));
  assert.equal(fitted.adapters[0]!.targets.map((t) => t.module), ["model.embed_tokens", "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "lm_head"]);
  // A plan for another model is left for applyPlan to reject.
  const other = planFor(checkpointModules(join(REFERENCE, "tiny-gpt2")), ["c_attn"]);
  assert.is(planForKeptLayers(other, model, 2), other);
});

test.run();

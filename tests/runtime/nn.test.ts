import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fingerprintModel, toGraph } from "../../runtime/graph.js";
import { Conv1D, Embedding, Linear, RMSNorm } from "../../runtime/nn/index.js";
import { Rng } from "../../runtime/random.js";
import { HIDDEN, TINY_FINGERPRINT, TinyLM, VOCAB } from "./fixtures.js";

test("namedModules follows registration order", () => {
  const names = new TinyLM().namedModules().map(([name]) => name);
  assert.equal(names.slice(0, 12), [
    "",
    "model",
    "model.embed_tokens",
    "model.layers",
    "model.layers.0",
    "model.layers.0.self_attn",
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.0.mlp",
    "model.layers.0.mlp.c_fc",
    "model.layers.0.mlp.c_proj",
    "model.layers.0.norm",
  ]);
  assert.equal(names.slice(-4), ["model.layers.1.norm", "model.norm", "lm_head", "score"]);
});

test("toGraph fingerprint equals hand-written graph", () => {
  assert.is(fingerprintModel(new TinyLM()), TINY_FINGERPRINT);
});

test("toGraph records the tied lm_head weight", () => {
  const graph = toGraph(new TinyLM({ tied: true }));
  assert.equal(graph.tied_weights_keys, { "lm_head.weight": "model.embed_tokens.weight" });
  const untied = toGraph(new TinyLM({ tied: false }));
  assert.is(untied.tied_weights_keys, undefined);
  const head = graph.modules.find((m) => m.name === "lm_head")!;
  assert.equal(head, { name: "lm_head", type: "Linear", parameters: VOCAB * HIDDEN, in_features: HIDDEN, out_features: VOCAB, bias: false });
  // Shared weights count once: the tied model has VOCAB * HIDDEN fewer parameters.
  assert.is(untied.parameters - graph.parameters, VOCAB * HIDDEN);
});

test("Linear computes x W^T + b", () => {
  const layer = new Linear(2, 3, { rng: new Rng(1) });
  layer.weight.assign(tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
  layer.bias!.assign(tf.tensor1d([0.5, -1, 2]));
  const y = layer.call(tf.tensor2d([[1, -1]]));
  // [1*1 + -1*2 + 0.5, 1*3 + -1*4 - 1, 1*5 + -1*6 + 2]
  assert.equal(Array.from(y.dataSync()), [-0.5, -2, 1]);
});

test("Conv1D stores weight as [in, out]", () => {
  const layer = new Conv1D(2, 3, { rng: new Rng(1) });
  assert.equal(layer.weight.shape, [2, 3]);
  layer.weight.assign(tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
  const y = layer.call(tf.tensor3d([[[1, 1]]]));
  assert.equal(y.shape, [1, 1, 3]);
  assert.equal(Array.from(y.dataSync()), [5, 7, 9]);
});

test("Embedding looks up rows", () => {
  const layer = new Embedding(3, 2, { rng: new Rng(1) });
  layer.weight.assign(tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
  const y = layer.call(tf.tensor2d([[2, 0]], [1, 2], "int32"));
  assert.equal(y.shape, [1, 2, 2]);
  assert.equal(Array.from(y.dataSync()), [5, 6, 1, 2]);
});

test("RMSNorm divides by the root mean square", () => {
  const y = new RMSNorm(2, 0).call(tf.tensor2d([[3, 4]]));
  const rms = Math.sqrt((9 + 16) / 2);
  const values = Array.from(y.dataSync());
  assert.ok(Math.abs(values[0]! - 3 / rms) < 1e-6);
  assert.ok(Math.abs(values[1]! - 4 / rms) < 1e-6);
});

test("seeded Rng repeats its sequence", () => {
  assert.equal(Array.from(new Rng(7).uniform(5, 0, 1)), Array.from(new Rng(7).uniform(5, 0, 1)));
  assert.not.equal(Array.from(new Rng(7).uniform(5, 0, 1)), Array.from(new Rng(8).uniform(5, 0, 1)));
});

test("kaiming uniform bound is 1/sqrt(fan_in)", () => {
  const values = new Rng(3).kaimingUniform(20000, 16);
  const max = Math.max(...values.map(Math.abs));
  assert.ok(max <= 0.25, `max ${max} exceeds 1/sqrt(16)`);
  assert.ok(max > 0.24, `max ${max} should come close to the bound`);
});

test("replaceChild repoints the parent's field", () => {
  const model = new TinyLM();
  const replacement = new Linear(HIDDEN, VOCAB, { bias: false });
  model.replaceChild("lm_head", replacement);
  assert.is(model.lm_head, replacement);
  assert.is(model.findModule("lm_head"), replacement);
});

test.run();

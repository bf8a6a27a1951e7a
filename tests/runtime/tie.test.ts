import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { LoraLayer } from "../../runtime/lora/layers.js";
import type { Linear } from "../../runtime/nn/index.js";
import { HIDDEN, TinyLM, VOCAB, randomize, sampleIds, tiedPlan } from "./fixtures.js";

function close(a: tf.Tensor, b: tf.Tensor, tolerance: number): boolean {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! <= tolerance);
}

/** Builds a loss that reads both tied modules: embeddings in, logits out, weighted by fixed random targets. */
function lossOf(model: TinyLM, weights: tf.Tensor): () => tf.Scalar {
  return () => tf.sum(tf.mul(model.forward(sampleIds()), weights)) as tf.Scalar;
}

test("member holds the source's very variables", () => {
  const lora = applyPlan(new TinyLM(), tiedPlan(), { seed: 1 });
  const embed = lora.layers.get("model.embed_tokens")!;
  const head = lora.layers.get("lm_head")!;
  assert.is(head.factors.A, embed.factors.A);
  assert.is(head.factors.B, embed.factors.B);
  assert.ok(head.transposed);
  assert.not.ok(embed.transposed);
});

test("lm_head delta is the embedding delta transposed", () => {
  const lora = applyPlan(new TinyLM(), tiedPlan(), { seed: 2 });
  randomize(lora.trainableVariables(), 3);
  const { A, B } = lora.layers.get("model.embed_tokens")!.factors;
  // Computed by hand from the factors: the embedding's B·A is [hidden, vocab]; lm_head uses
  // A' = Bᵀ [r, hidden] and B' = Aᵀ [vocab, r], so its B'·A' is [vocab, hidden].
  const embeddingProduct = tf.matMul(B, A);
  const headProduct = tf.matMul(tf.transpose(A), tf.transpose(B));
  assert.equal(headProduct.shape, [VOCAB, HIDDEN]);
  assert.ok(close(headProduct, tf.transpose(embeddingProduct), 1e-6));
  // The layers' own deltas (scaling 2) are both [vocab, hidden], the layout of the shared weight.
  const embedDelta = lora.layers.get("model.embed_tokens")!.deltaWeight();
  const headDelta = lora.layers.get("lm_head")!.deltaWeight();
  assert.ok(close(headDelta, tf.mul(headProduct, 2), 1e-5));
  assert.ok(close(embedDelta, tf.mul(tf.transpose(embeddingProduct), 2), 1e-5));
});

test("lm_head output uses the transposed factors", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, tiedPlan(), { seed: 2 });
  randomize(lora.trainableVariables(), 4);
  const head = lora.layers.get("lm_head")!;
  const { A, B } = head.factors;
  const h = tf.tensor2d([[0.1, -0.2, 0.3, 0.4, -0.5, 0.6]]);
  const base = (head.base as Linear).forward(h);
  // y = base + 2 · h · (Bᵀ)ᵀ · (Aᵀ)ᵀ written out as PEFT's lora_B(lora_A(h)).
  const expected = tf.add(base, tf.mul(tf.matMul(tf.matMul(h, tf.transpose(tf.transpose(B))), tf.transpose(tf.transpose(A))), 2));
  assert.ok(close(head.call(h), expected, 1e-5));
});

test("a step moves the shared variable by both gradients", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, tiedPlan(), { seed: 5 });
  randomize(lora.trainableVariables(), 6);
  const weights = tf.randomNormal([2, 5, VOCAB], 0, 1, "float32", 7);
  const embed = lora.layers.get("model.embed_tokens")!;
  const { A, B } = embed.factors;

  // Independent check: give lm_head its own copies of the factors, then take each path's gradient.
  const headLayer = lora.layers.get("lm_head")!;
  const A2 = tf.variable(A.clone());
  const B2 = tf.variable(B.clone());
  const untiedHead = new LoraLayer(headLayer.base, { A: A2, B: B2, owner: "embedding" }, headLayer.settings, null);
  model.replaceChild("lm_head", untiedHead);
  const viaSeparate = tf.variableGrads(lossOf(model, weights), [A, B, A2, B2]).grads;
  model.replaceChild("lm_head", headLayer);
  const gradA = tf.add(viaSeparate[A.name]!, viaSeparate[A2.name]!);
  const gradB = tf.add(viaSeparate[B.name]!, viaSeparate[B2.name]!);
  // Both paths contribute to each factor, so neither part alone is the total.
  assert.ok(tf.max(tf.abs(viaSeparate[A2.name]!)).dataSync()[0]! > 0);
  assert.ok(tf.max(tf.abs(viaSeparate[A.name]!)).dataSync()[0]! > 0);

  const tied = tf.variableGrads(lossOf(model, weights), [A, B]).grads;
  assert.ok(close(tied[A.name]!, gradA, 1e-3), "tied gradient of A is the sum of both paths");
  assert.ok(close(tied[B.name]!, gradB, 1e-3), "tied gradient of B is the sum of both paths");

  const lr = 0.01;
  const expectedA = tf.sub(A, tf.mul(gradA, lr));
  const expectedB = tf.sub(B, tf.mul(gradB, lr));
  tf.train.sgd(lr).minimize(lossOf(model, weights), false, lora.trainableVariables());
  assert.ok(close(A, expectedA, 1e-5));
  assert.ok(close(B, expectedB, 1e-5));
  assert.is(lora.layers.get("lm_head")!.factors.A, A, "the step kept one shared variable");
});

test("untied mode gives independent adapters", () => {
  const lora = applyPlan(new TinyLM(), tiedPlan("untied"), { seed: 1 });
  const embed = lora.layers.get("model.embed_tokens")!;
  const head = lora.layers.get("lm_head")!;
  assert.is.not(head.factors.A, embed.factors.A);
  assert.equal(head.factors.A.shape, [2, HIDDEN]);
  assert.equal(head.factors.B.shape, [VOCAB, 2]);
  assert.not.ok(head.transposed);
});

test("shared_copy gives one trainable copy", () => {
  const model = new TinyLM();
  const plan = tiedPlan();
  const adapter = plan.adapters[0]!;
  adapter.targets = adapter.targets.filter((t) => t.tie === null);
  adapter.modules_to_save = [
    { module: "model.embed_tokens", parameters: VOCAB * HIDDEN, tie: { group: "model.embed_tokens.weight", role: "source", orientation: "same" } },
    { module: "lm_head", parameters: 0, tie: { group: "model.embed_tokens.weight", role: "member", orientation: "same" } },
  ];
  adapter.tie_groups = [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"], mode: "shared_copy" }];
  const base = Array.from(model.call(sampleIds()).dataSync());
  const lora = applyPlan(model, plan, { seed: 1 });
  const embedCopy = lora.savedModules.get("model.embed_tokens")!.copy as unknown as { weight: tf.Variable };
  const headCopy = lora.savedModules.get("lm_head")!.copy as Linear;
  assert.is(headCopy.weight, embedCopy.weight);
  const original = (lora.savedModules.get("lm_head")!.original as Linear).weight;
  assert.is.not(headCopy.weight, original);
  assert.equal(Array.from(model.call(sampleIds()).dataSync()), base);
  // Embedding weight counted once, plus q_proj's A and B.
  assert.is(lora.trainableVariables().reduce((n, v) => n + v.size, 0), VOCAB * HIDDEN + 2 * (2 * HIDDEN));
  const originalValues = Array.from(original.dataSync());
  embedCopy.weight.assign(tf.mul(embedCopy.weight, 2));
  assert.equal(Array.from(original.dataSync()), originalValues, "training the copy leaves the original");
  assert.not.equal(Array.from(model.call(sampleIds()).dataSync()), base);
});

test("tie group needs one shared weight", () => {
  const model = new TinyLM({ tied: false });
  const before = model.namedModules().map(([, m]) => m);
  assert.throws(
    () => applyPlan(model, tiedPlan(), { seed: 1 }),
    (err: unknown) => err instanceof RuntimeInputError && err.problems.length === 1 && err.problems[0]!.startsWith("the plan ties lm_head to model.embed_tokens, but in this model they are separate weights"),
  );
  assert.equal(model.namedModules().map(([, m]) => m), before);
});

test("untied mode needs no shared weight", () => {
  const lora = applyPlan(new TinyLM({ tied: false }), tiedPlan("untied"), { seed: 1 });
  assert.is(lora.layers.size, 3);
});

test.run();

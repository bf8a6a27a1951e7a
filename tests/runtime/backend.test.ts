import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { Rng } from "../../runtime/random.js";
import { TinyLM, VOCAB, randomize, sampleIds, tiedPlan } from "./fixtures.js";

test("cpu preference selects cpu", async () => {
  const choice = await initBackend("cpu");
  assert.is(choice.name, "cpu");
  assert.is(tf.getBackend(), "cpu");
  assert.is(choice.summary, "backend: cpu (JavaScript)");
});

test("auto choice can train a tied adapter", async () => {
  try {
    const choice = await initBackend();
    assert.ok(["tensorflow", "wasm", "cpu"].includes(choice.name), choice.name);
    assert.is(tf.getBackend(), choice.name);
    assert.match(choice.summary, /^backend: \S+/);
    // The embedding adapter's gradient needs a scatter kernel (UnsortedSegmentSum) that some
    // backends lack; the chosen one must have it.
    const model = new TinyLM();
    const lora = applyPlan(model, tiedPlan(), { seed: 1 });
    const weights = tf.randomNormal([2, 5, VOCAB], 0, 1, "float32", 2);
    // At initialisation lora_embedding_A is zero and gets the only non-zero gradient.
    const A = lora.layers.get("model.embed_tokens")!.factors.A;
    const before = Array.from(A.dataSync());
    tf.train.sgd(0.1).minimize(() => tf.sum(tf.mul(model.forward(sampleIds()), weights)) as tf.Scalar, false, lora.trainableVariables());
    assert.not.equal(Array.from(A.dataSync()), before);
  } finally {
    await initBackend("cpu");
  }
});

test("inference purpose runs the LoRA forward", async () => {
  try {
    const choice = await initBackend("auto", { purpose: "inference" });
    const model = new TinyLM();
    const base = Array.from(model.call(sampleIds()).dataSync());
    applyPlan(model, tiedPlan(), { seed: 1 });
    const out = Array.from(model.call(sampleIds()).dataSync());
    assert.is(out.length, base.length, choice.name);
    out.forEach((v, i) => assert.ok(Math.abs(v - base[i]!) < 1e-4, `${choice.name}: output ${i}`));
  } finally {
    await initBackend("cpu");
  }
});

/** Gradients of a loss through a tied LoRA adapter and a saved embedding copy, on the current backend. */
function tiedGradients(): number[][] {
  const model = new TinyLM();
  const plan = tiedPlan();
  plan.adapters[0]!.modules_to_save = [{ module: "score", parameters: 3 * 6 + 3, tie: null }];
  const lora = applyPlan(model, plan, { seed: 1 });
  randomize(lora.trainableVariables(), 2);
  const weights = tf.tensor(new Rng(3).normal(2 * 5 * VOCAB), [2, 5, VOCAB]);
  const scoreWeights = tf.tensor(new Rng(4).normal(2 * 5 * 3), [2, 5, 3]);
  const loss = () => tf.add(tf.sum(tf.mul(model.forward(sampleIds()), weights)), tf.sum(tf.mul(model.classify(sampleIds()), scoreWeights))) as tf.Scalar;
  const { grads } = tf.variableGrads(loss, lora.trainableVariables());
  return lora.trainableVariables().map((v) => Array.from(grads[v.name]!.dataSync()));
}

test("wasm gradients match cpu", async () => {
  const reference = tiedGradients();
  try {
    const choice = await initBackend("wasm");
    assert.is(choice.name, "wasm");
    const onWasm = tiedGradients();
    assert.is(onWasm.length, reference.length);
    onWasm.forEach((g, i) => g.forEach((v, j) => assert.ok(Math.abs(v - reference[i]![j]!) <= 1e-3 * Math.max(1, Math.abs(reference[i]![j]!)), `variable ${i} element ${j}`)));
  } finally {
    await initBackend("cpu");
  }
});

test.run();

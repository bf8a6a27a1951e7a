import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { TinyLM, VOCAB, sampleIds, tiedPlan } from "./fixtures.js";

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

test("wasm preference fails loudly or trains", async () => {
  try {
    const choice = await initBackend("wasm");
    assert.is(choice.name, "wasm");
  } catch (err) {
    assert.match((err as Error).message, /^the wasm backend is not usable: /);
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

test.run();

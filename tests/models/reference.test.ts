import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadModel } from "../../runtime/models/index.js";

await tf.setBackend("cpu");

const REFERENCE = fileURLToPath(new URL("../fixtures/reference/", import.meta.url));
/** The fixtures' README: a float32 implementation matches every logit within 1e-4. */
const TOLERANCE = 1e-4;

interface Reference {
  input_ids: number[][];
  logits: number[][][];
}

function maxAbsDiff(actual: Float32Array, expected: number[][][]): number {
  const flat = expected.flat(2);
  assert.is(actual.length, flat.length, "logit count");
  let worst = 0;
  for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - Math.fround(flat[i]!)));
  return worst;
}

for (const fixture of ["tiny-gpt2", "tiny-llama", "tiny-llama-tied", "tiny-llama-f16", "tiny-llama-bf16"]) {
  test(`${fixture} logits match the PyTorch reference`, () => {
    const dir = REFERENCE + fixture;
    const reference = JSON.parse(readFileSync(`${dir}/reference.json`, "utf8")) as Reference;
    const { model, weights } = loadModel(dir);
    assert.is(weights, "checkpoint");
    const ids = tf.tensor2d(reference.input_ids, undefined, "int32");
    const logits = model.logits(ids);
    const diff = maxAbsDiff(logits.dataSync() as Float32Array, reference.logits);
    assert.ok(diff <= TOLERANCE, `max abs diff ${diff} > ${TOLERANCE}`);
    ids.dispose();
    logits.dispose();
    model.dispose();
  });
}

test.run();

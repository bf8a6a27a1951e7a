import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

/**
 * The fixtures' README lists how far common porting mistakes move the logits. Building a fixture
 * with the mistaken config value must move them by about as much, which shows the runtime reads
 * that field and computes with it as PyTorch does.
 */
const MISTAKES: Array<[string, Record<string, unknown>, number]> = [
  ["tiny-gpt2", { activation_function: "gelu" }, 1.6e-3],
  ["tiny-llama", { rope_theta: 10000 }, 2.1],
  ["tiny-llama", { rms_norm_eps: 1e-5 }, 3.7e-4],
];

for (const [fixture, change, documented] of MISTAKES) {
  test(`${fixture} with ${JSON.stringify(change)} moves logits as documented`, () => {
    const source = REFERENCE + fixture;
    const dir = mkdtempSync(join(tmpdir(), "peftc-mistake-"));
    const config = JSON.parse(readFileSync(`${source}/config.json`, "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, ...change }));
    copyFileSync(`${source}/model.safetensors`, join(dir, "model.safetensors"));
    const reference = JSON.parse(readFileSync(`${source}/reference.json`, "utf8")) as Reference;
    const { model } = loadModel(dir);
    const ids = tf.tensor2d(reference.input_ids, undefined, "int32");
    const diff = maxAbsDiff(model.logits(ids).dataSync() as Float32Array, reference.logits);
    // The README rounds to two digits; a float32 run may differ a little more.
    assert.ok(diff > documented * 0.8, `max abs diff ${diff} is well below the documented ${documented}`);
    assert.ok(diff < documented * 1.25, `max abs diff ${diff} is well above the documented ${documented}`);
    model.dispose();
    rmSync(dir, { recursive: true });
  });
}

test.run();

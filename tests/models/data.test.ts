import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RuntimeInputError } from "../../runtime/errors.js";
import { readTokenFile, splitBlocks, toBlocks } from "../../runtime/train/data.js";
import { ProgressBar } from "../../runtime/train/progress.js";
import { stepsForEpochs } from "../../runtime/train/trainer.js";

test("token file lines join into one stream", () => {
  const dir = mkdtempSync(join(tmpdir(), "peftc-data-"));
  const path = join(dir, "ids.txt");
  writeFileSync(path, "1 2\t3\n\n  4\n5 6 7\n");
  assert.equal(Array.from(readTokenFile(path, 8)), [1, 2, 3, 4, 5, 6, 7]);
  assert.throws(() => readTokenFile(join(dir, "missing.txt"), 8), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.code === "data-not-found");
  rmSync(dir, { recursive: true });
});

test("blocks drop the incomplete tail", () => {
  const { blocks } = toBlocks(Int32Array.from([0, 1, 2, 3, 4, 5, 6]), 3);
  assert.equal(blocks.map((b) => Array.from(b)), [[0, 1, 2], [3, 4, 5]]);
});

test("split holds out the last blocks", () => {
  const data = toBlocks(Int32Array.from({ length: 40 }, (_, i) => i), 2);
  const { train, eval: held } = splitBlocks(data, 0.1);
  // 20 blocks, 10% held out: the last 2.
  assert.is(train.blocks.length, 18);
  assert.equal(held.blocks.map((b) => b[0]), [36, 38]);
  // At least one block is held out, and one block alone cannot be split.
  assert.is(splitBlocks(toBlocks(Int32Array.from([1, 2, 3, 4]), 2), 0.01).eval.blocks.length, 1);
  assert.throws(() => splitBlocks(toBlocks(Int32Array.from([1, 2]), 2), 0.1), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.code === "data-too-small");
});

test("epochs round up to whole batches", () => {
  assert.is(stepsForEpochs(1, 10, 4), 3);
  assert.is(stepsForEpochs(2, 8, 4), 4);
});

test("progress lines every 5% off a terminal", () => {
  let text = "";
  const bar = new ProgressBar({ write: (t: string) => (text += t) }, 40);
  for (let step = 1; step <= 40; step++) bar.update({ step, totalSteps: 40, loss: 1, tokensPerSecond: 1234.5 });
  bar.finish();
  const lines = text.trimEnd().split("\n");
  // Step 1, then every second step (40 / 20), the last one included.
  assert.is(lines.length, 21);
  assert.is(lines[0], "step 1/40  loss 1.0000  1,235 tokens/s");
  assert.is(lines.at(-1), "step 40/40  loss 1.0000  1,235 tokens/s");
});

test.run();

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { initBackend } from "../../runtime/backend.js";
import { runTrain } from "../../runtime/cli/train.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { readTextFile } from "../../runtime/train/data.js";
import { REFERENCE, checkpointModules, planFor } from "./plans.js";

await initBackend("cpu");

/** A word-level tokenizer in the tokenizer.json format: whitespace split, one id per known word. */
const TOKENIZER = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [{ id: 0, content: "[UNK]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: null,
  pre_tokenizer: { type: "Whitespace" },
  post_processor: null,
  decoder: null,
  model: { type: "WordLevel", vocab: { "[UNK]": 0, the: 1, cat: 2, sat: 3, on: 4, mat: 5 }, unk_token: "[UNK]" },
};

function modelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "peftc-text-"));
  for (const file of ["config.json", "model.safetensors"]) copyFileSync(join(REFERENCE, "tiny-llama-tied", file), join(dir, file));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(TOKENIZER));
  return dir;
}

test("text data is tokenized with tokenizer.json", () => {
  const dir = modelDir();
  const data = join(dir, "train.txt");
  writeFileSync(data, "the cat sat\n\non the mat dog\n");
  // By the vocabulary above; "dog" is unknown, so it becomes [UNK] (0). The empty line adds nothing.
  assert.equal(Array.from(readTextFile(data, dir, 128)), [1, 2, 3, 4, 1, 5, 0]);
  rmSync(dir, { recursive: true });
});

test("text data without tokenizer.json is an error", () => {
  const dir = modelDir();
  rmSync(join(dir, "tokenizer.json"));
  const data = join(dir, "train.txt");
  writeFileSync(data, "the cat\n");
  assert.throws(() => readTextFile(data, dir, 128), (err: unknown) => err instanceof RuntimeInputError && err.diagnostic.code === "tokenizer-missing");
  rmSync(dir, { recursive: true });
});

test("train --text trains on tokenized text", async () => {
  const dir = modelDir();
  const data = join(dir, "train.txt");
  writeFileSync(data, Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? "the cat sat on the mat" : "the mat sat on the cat")).join("\n"));
  const planPath = join(dir, "plan.json");
  writeFileSync(planPath, JSON.stringify(planFor(checkpointModules(dir), ["q_proj", "v_proj"])));
  let out = "";
  let err = "";
  const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } };
  const code = await runTrain(["--plan", planPath, "--model", dir, "--data", data, "--text", "--output", join(dir, "adapter"), "--steps", "3", "--seq-len", "12", "--backend", "cpu"], io);
  assert.is(code, 0, err);
  // 40 lines of 6 words make 240 tokens: 20 sequences of 12, 2 of them held out.
  assert.match(err, "18 training sequences and 2 evaluation sequences of 12 tokens");
  assert.match(out, /eval loss \d+\.\d+/);
  rmSync(dir, { recursive: true });
});

test.run();

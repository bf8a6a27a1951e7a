import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { runTrain } from "../../runtime/cli/train.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { loadModel } from "../../runtime/models/index.js";
import { saveAdapter } from "../../runtime/peft-format.js";
import { REFERENCE, checkpointModules, planFor } from "./plans.js";

await initBackend("cpu");

const MODEL = join(REFERENCE, "tiny-llama-tied");

/** Captures what a command writes. */
function sink(): { write(text: string): boolean; text: string } {
  return {
    text: "",
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

/** Creates a work directory with a plan for tiny-llama-tied and `tokens` token ids of data (ids 0 to 99, repeating). */
function setup(tokens = 320): { dir: string; planPath: string; dataPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "peftc-train-errors-"));
  const planPath = join(dir, "plan.json");
  writeFileSync(planPath, JSON.stringify(planFor(checkpointModules(MODEL), ["q_proj", "v_proj"])));
  const dataPath = join(dir, "train.txt");
  writeFileSync(dataPath, Array.from({ length: tokens }, (_, i) => i % 100).join(" ") + "\n");
  return { dir, planPath, dataPath };
}

/** Runs `peftc train` in-process with `args` plus --seq-len 16 and the cpu backend. */
async function train(args: string[], options: Parameters<typeof runTrain>[2] = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await runTrain([...args, "--seq-len", "16", "--backend", "cpu"], { stdout, stderr }, options);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

test("output naming a file fails first", async () => {
  const { dir, planPath, dataPath } = setup();
  const output = join(dir, "adapter.bin");
  writeFileSync(output, "not a directory");
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", output, "--steps", "1"]);
  assert.is(result.code, 1);
  // One line, written before the backend line: nothing was built or trained.
  assert.is(result.stderr, `${output}: error[output-invalid]: --output must name a directory, but it is an existing file; choose another path\n`);
  assert.is(readFileSync(output, "utf8"), "not a directory");
  rmSync(dir, { recursive: true });
});

test("output below a file fails first", async () => {
  const { dir, planPath, dataPath } = setup();
  const file = join(dir, "file.txt");
  writeFileSync(file, "");
  const output = join(file, "adapter");
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", output, "--steps", "1"]);
  assert.is(result.code, 1);
  assert.is(result.stderr, `${output}: error[output-invalid]: --output must name a directory, but ${file} is a file; choose another path\n`);
  rmSync(dir, { recursive: true });
});

test("output may be an existing directory", async () => {
  const { dir, planPath, dataPath } = setup();
  const output = join(dir, "adapter");
  mkdirSync(output);
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", output, "--steps", "1"]);
  assert.is(result.code, 0, result.stderr);
  assert.ok(readFileSync(join(output, "adapter_config.json"), "utf8").length > 0);
  rmSync(dir, { recursive: true });
});

test("saveAdapter turns fs errors into one line", () => {
  const dir = mkdtempSync(join(tmpdir(), "peftc-train-errors-"));
  const file = join(dir, "taken");
  writeFileSync(file, "");
  const { model } = loadModel(MODEL);
  const lora = applyPlan(model, planFor(checkpointModules(MODEL), ["q_proj"]), { seed: 1 });
  for (const [target, reason] of [[file, "EEXIST"], [join(file, "sub"), "ENOTDIR"]] as const) {
    let error: unknown;
    try {
      saveAdapter(lora, target);
    } catch (err) {
      error = err;
    }
    assert.instance(error, RuntimeInputError);
    assert.is((error as RuntimeInputError).diagnostic.code, "adapter-write-failed");
    assert.is((error as RuntimeInputError).diagnostic.file, target);
    assert.match((error as RuntimeInputError).message, reason);
    assert.not.match((error as RuntimeInputError).message, "\n");
  }
  rmSync(dir, { recursive: true });
});

const POSITION_LIMITS: Array<[string, string]> = [
  ["tiny-llama-tied", "max_position_embeddings"],
  ["tiny-gpt2", "n_positions"],
];

for (const [fixture, field] of POSITION_LIMITS) {
  test(`seq-len above ${field} is a usage error`, async () => {
    const model = join(REFERENCE, fixture);
    const { dir, planPath, dataPath } = setup();
    const stderr = sink();
    // Both fixtures' config.json set the limit to 64.
    const args = ["--plan", planPath, "--model", model, "--data", dataPath, "--output", join(dir, "out"), "--seq-len", "65", "--backend", "cpu"];
    const code = await runTrain(args, { stdout: sink(), stderr });
    assert.is(code, 1);
    assert.is(stderr.text, `error[usage]: --seq-len 65 is more than the model's ${field} (64); pass --seq-len 64 or less\n`);
    rmSync(dir, { recursive: true });
  });
}

test("missing data fails before the backend", async () => {
  const { dir, planPath } = setup();
  const data = join(dir, "missing.txt");
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", data, "--output", join(dir, "out")]);
  assert.is(result.code, 1);
  assert.is(result.stderr, `${data}: error[data-not-found]: training data file not found\n`);
  rmSync(dir, { recursive: true });
});

test("missing plan fails before the backend", async () => {
  const { dir, dataPath } = setup();
  const plan = join(dir, "missing.json");
  const result = await train(["--plan", plan, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out")]);
  assert.is(result.code, 1);
  assert.is(result.stderr, `${plan}: error[plan-not-found]: plan file not found\n`);
  rmSync(dir, { recursive: true });
});

test.run();

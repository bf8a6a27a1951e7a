import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { main as peftc } from "../../compiler/cli/main.js";
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

test("saveAdapter onto a directory is one line", () => {
  const dir = mkdtempSync(join(tmpdir(), "peftc-train-errors-"));
  mkdirSync(join(dir, "adapter_model.safetensors"));
  const { model } = loadModel(MODEL);
  const lora = applyPlan(model, planFor(checkpointModules(MODEL), ["q_proj"]), { seed: 1 });
  let error: unknown;
  try {
    saveAdapter(lora, dir);
  } catch (err) {
    error = err;
  }
  assert.instance(error, RuntimeInputError);
  assert.is((error as RuntimeInputError).diagnostic.code, "adapter-write-failed");
  assert.is((error as RuntimeInputError).diagnostic.file, dir);
  assert.match((error as RuntimeInputError).message, "adapter_model.safetensors");
  assert.match((error as RuntimeInputError).message, "is a directory");
  assert.not.match((error as RuntimeInputError).message, "\n");
  // The temp file beside the target is removed, so only the directory that was in the way is left.
  assert.equal(readdirSync(dir), ["adapter_model.safetensors"]);
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

test("too little data names the data file", async () => {
  const { dir, planPath, dataPath } = setup(20);
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out")]);
  assert.is(result.code, 1);
  const lastLine = result.stderr.trimEnd().split("\n").at(-1);
  // 20 tokens make one sequence of 16, and the held-out one leaves nothing to train on.
  assert.is(lastLine, `${dataPath}: error[data-too-small]: the data makes only 1 sequence of 16 tokens, too few to hold out 1 for evaluation and train on the rest; add data, lower --seq-len or pass --eval-data`);
  rmSync(dir, { recursive: true });
});

test("plan and spec together are rejected", async () => {
  const { dir, planPath, dataPath } = setup();
  const plan = planFor(checkpointModules(MODEL), ["q_proj"]);
  const args = ["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out")];
  // The peftc command compiles --spec and passes the plan in; --plan beside it is a second plan.
  const withCompiled = await train(args, { plan });
  assert.is(withCompiled.code, 1);
  assert.is(withCompiled.stderr, "error[usage]: --plan and --spec were both given; pass one of them\n");
  const withSpec = await train([...args, "--spec", "spec.yaml"]);
  assert.is(withSpec.stderr, "error[usage]: --plan and --spec were both given; pass one of them\n");
  rmSync(dir, { recursive: true });
});

test("YAML plan from peftc plan trains", async () => {
  const { dir, dataPath } = setup();
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "r: 4\nlora_alpha: 8\ntarget_modules: [q_proj, v_proj]\n");
  const planPath = join(dir, "plan.yaml");
  const compiled = await peftc(["plan", spec, "--model", MODEL, "--format", "yaml", "-o", planPath], { stdout: sink(), stderr: sink(), env: {}, cwd: dir });
  assert.is(compiled, 0);
  assert.ok(readFileSync(planPath, "utf8").startsWith("format: peftc-plan/1"));
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out"), "--steps", "1"]);
  assert.is(result.code, 0, result.stderr);
  rmSync(dir, { recursive: true });
});

test("unreadable plan text is one line", async () => {
  const { dir, dataPath } = setup();
  const planPath = join(dir, "plan.txt");
  writeFileSync(planPath, "just some words\n");
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out")]);
  assert.is(result.code, 1);
  assert.is(result.stderr, `${planPath}: error[plan-invalid]: not a plan: expected a JSON or YAML object with format peftc-plan/1\n`);
  rmSync(dir, { recursive: true });
});

test("unknown option is lowercase usage", async () => {
  const result = await train(["--plann", "plan.json"]);
  assert.is(result.code, 1);
  assert.is(result.stderr, "error[usage]: unknown option '--plann'; see `peftc train --help`\n");
});

test("option without a value is usage", async () => {
  const stderr = sink();
  const code = await runTrain(["--model", MODEL, "--plan"], { stdout: sink(), stderr });
  assert.is(code, 1);
  assert.is(stderr.text, "error[usage]: option '--plan' needs a value; see `peftc train --help`\n");
});

test("negative option value is one line", async () => {
  const stderr = sink();
  const code = await runTrain(["--model", MODEL, "--lr", "-1"], { stdout: sink(), stderr });
  assert.is(code, 1);
  // node's parseArgs reads "-1" as an option and gives three lines of advice.
  assert.is(stderr.text, "error[usage]: option '--lr' has a value starting with '-'; write it as --lr=VALUE; see `peftc train --help`\n");
});

test("counts of one are singular", async () => {
  const { dir, planPath, dataPath } = setup();
  const evalPath = join(dir, "eval.txt");
  writeFileSync(evalPath, Array.from({ length: 16 }, (_, i) => i).join(" ") + "\n");
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--eval-data", evalPath, "--output", join(dir, "out"), "--steps", "1"]);
  assert.is(result.code, 0, result.stderr);
  // 320 tokens make 20 training sequences of 16; the eval file makes exactly one.
  assert.match(result.stderr, "20 training sequences and 1 evaluation sequence of 16 tokens, 1 step\n");
  assert.match(result.stdout, /^trained 1 step in /);
  rmSync(dir, { recursive: true });
});

test("layer override error names the option", async () => {
  const { dir, planPath, dataPath } = setup();
  const result = await train(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out"), "--num-hidden-layers", "5"]);
  assert.is(result.code, 1);
  assert.is(result.stderr, `${join(MODEL, "config.json")}: error[model-config-invalid]: the layer override (--num-hidden-layers) 5 is more than the model's num_hidden_layers (2)\n`);
  rmSync(dir, { recursive: true });
});

test.run();

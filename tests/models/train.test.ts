import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { runTrain, trainFromArgs, parseTrainArgs } from "../../runtime/cli/train.js";
import { loadModel } from "../../runtime/models/index.js";
import { loadAdapter } from "../../runtime/peft-format.js";
import { Rng } from "../../runtime/random.js";
import { evaluateLoss } from "../../runtime/train/trainer.js";
import { REFERENCE, checkpointModules, planFor } from "./plans.js";

await initBackend("cpu");

const MODEL = join(REFERENCE, "tiny-llama-tied");
const VOCAB = 128;

/** Captures what a command writes. */
function sink(isTTY = false): { write(text: string): boolean; text: string; isTTY: boolean } {
  return {
    text: "",
    isTTY,
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

/**
 * Writes a learnable token stream: an arithmetic walk through the vocabulary with a fixed stride, so
 * the next token follows from the current one and the loss can fall well below ln(vocab).
 */
function writeData(dir: string, lines: number, vocab = VOCAB): string {
  const rng = new Rng(7);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    let token = Math.floor(rng.next() * vocab);
    const ids: number[] = [];
    for (let j = 0; j < 16; j++) {
      ids.push(token);
      token = (token + 5) % vocab;
    }
    out.push(ids.join(" "));
  }
  const path = join(dir, "train.txt");
  writeFileSync(path, out.join("\n") + "\n");
  return path;
}

function setup(): { dir: string; planPath: string; dataPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "peftc-train-"));
  const plan = planFor(checkpointModules(MODEL), ["q_proj", "v_proj", "embed_tokens", "lm_head"], { tie: "model.embed_tokens" });
  const planPath = join(dir, "plan.json");
  writeFileSync(planPath, JSON.stringify(plan, null, 2));
  return { dir, planPath, dataPath: writeData(dir, 40) };
}

const ROUND_TRIPS: Array<[string, string[], string]> = [
  ["tiny-llama-tied", ["q_proj", "v_proj", "embed_tokens", "lm_head"], "model.embed_tokens"],
  ["tiny-gpt2", ["c_attn", "c_fc", "wte", "lm_head"], "transformer.wte"],
];

for (const [fixture, targets, embedding] of ROUND_TRIPS) {
  test(`${fixture} adapter reload reproduces the eval loss`, async () => {
    const model = join(REFERENCE, fixture);
    const dir = mkdtempSync(join(tmpdir(), "peftc-train-"));
    const planPath = join(dir, "plan.json");
    writeFileSync(planPath, JSON.stringify(planFor(checkpointModules(model), targets, { tie: embedding })));
    const output = join(dir, "adapter");
    const stdout = sink();
    const args = ["--plan", planPath, "--model", model, "--data", writeData(dir, 40, 96), "--output", output, "--steps", "30", "--lr", "0.01", "--seq-len", "16", "--batch-size", "4", "--seed", "3", "--backend", "cpu"];
    const parsed = parseTrainArgs(args, false);
    if (parsed === "help") throw new Error("unexpected --help");
    const run = await trainFromArgs(parsed, { stdout, stderr: sink() });

    assert.ok(existsSync(join(output, "adapter_model.safetensors")));
    const config = JSON.parse(readFileSync(join(output, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    assert.is(config["peft_type"], "LORA");
    assert.ok((config["target_modules"] as string[]).includes("lm_head"));
    const printed = /eval loss (\d+\.\d+)/.exec(stdout.text);
    assert.ok(printed, stdout.text);
    assert.is(Number(printed![1]), Number(run.evalLoss.toFixed(6)));

    // A fresh model with the same seed, the same plan and the saved adapter gives the same loss.
    const fresh = loadModel(model, { seed: 3 }).model;
    const baseLoss = evaluateLoss(fresh, run.evalData, 4);
    const lora = applyPlan(fresh, run.plan, { seed: 99 });
    loadAdapter(lora, output);
    const reloaded = evaluateLoss(fresh, run.evalData, 4);
    assert.ok(Math.abs(reloaded - run.evalLoss) < 1e-5, `reloaded ${reloaded} vs trained ${run.evalLoss}`);
    // Training moved the loss: the stride pattern is learnable.
    assert.ok(run.evalLoss < baseLoss - 0.5, `eval loss ${run.evalLoss} is not clearly below the base model's ${baseLoss}`);
    rmSync(dir, { recursive: true });
  });
}

test("train prints plain progress lines off a terminal", async () => {
  const { dir, planPath, dataPath } = setup();
  const stdout = sink();
  const stderr = sink(false);
  const code = await runTrain(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out"), "--steps", "4", "--seq-len", "16", "--backend", "cpu"], { stdout, stderr });
  assert.is(code, 0, stderr.text);
  assert.not.match(stderr.text, "\r");
  assert.match(stderr.text, /step 4\/4 {2}loss \d+\.\d{4} {2}[\d,.]+ tokens\/s\n/);
  rmSync(dir, { recursive: true });
});

test("train redraws one line on a terminal", async () => {
  const { dir, planPath, dataPath } = setup();
  const stderr = sink(true);
  const code = await runTrain(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out"), "--steps", "3", "--seq-len", "16", "--backend", "cpu"], { stdout: sink(), stderr });
  assert.is(code, 0, stderr.text);
  assert.is(stderr.text.split("\r").length - 1, 3);
  assert.match(stderr.text, /\[#{24}\] step 3\/3/);
  rmSync(dir, { recursive: true });
});

test("train reports a bad token id at its line and column", async () => {
  const { dir, planPath } = setup();
  const data = join(dir, "bad.txt");
  writeFileSync(data, "1 2 3\n4 x5 6\n");
  const stderr = sink();
  const code = await runTrain(["--plan", planPath, "--model", MODEL, "--data", data, "--output", join(dir, "out"), "--backend", "cpu"], { stdout: sink(), stderr });
  assert.is(code, 1);
  assert.is(stderr.text.split("\n").at(-2), `${data}:2:3: error[data-invalid]: "x5" is not a token id (a non-negative integer)`);
  rmSync(dir, { recursive: true });
});

test("train rejects a token id outside the vocabulary", async () => {
  const { dir, planPath } = setup();
  const data = join(dir, "big.txt");
  writeFileSync(data, "1 2 128\n");
  const stderr = sink();
  const code = await runTrain(["--plan", planPath, "--model", MODEL, "--data", data, "--output", join(dir, "out"), "--backend", "cpu"], { stdout: sink(), stderr });
  assert.is(code, 1);
  assert.match(stderr.text, `${data}:1:5: error[data-invalid]: token id 128 is out of range`);
  rmSync(dir, { recursive: true });
});

test("train rejects a plan for another model", async () => {
  const { dir, dataPath } = setup();
  const plan = planFor(checkpointModules(join(REFERENCE, "tiny-gpt2")), ["c_attn"]);
  const planPath = join(dir, "other.json");
  writeFileSync(planPath, JSON.stringify(plan));
  const stderr = sink();
  const code = await runTrain(["--plan", planPath, "--model", MODEL, "--data", dataPath, "--output", join(dir, "out"), "--backend", "cpu"], { stdout: sink(), stderr });
  assert.is(code, 1);
  const lines = stderr.text.trimEnd().split("\n");
  assert.ok(lines.at(-1)!.startsWith(`${planPath}: error[fingerprint-mismatch]: the plan was compiled for another model`), lines.at(-1));
  assert.match(lines.at(-1)!, "recompile it against this model with `peftc plan SPEC --model DIR`");
  assert.match(lines.at(-1)!, "missing module transformer.h.0.attn.c_attn");
  rmSync(dir, { recursive: true });
});

test("train reports a missing option as usage", async () => {
  const stderr = sink();
  const code = await runTrain(["--model", MODEL], { stdout: sink(), stderr });
  assert.is(code, 1);
  assert.match(stderr.text, /^error\[usage\]: missing --plan/);
});

test("runTrain without the bin rejects --spec", async () => {
  const stderr = sink();
  const code = await runTrain(["--spec", "spec.yaml", "--model", MODEL, "--data", "d.txt", "--output", "out"], { stdout: sink(), stderr });
  assert.is(code, 1);
  assert.match(stderr.text, /^error\[usage\]: --spec is compiled by the peftc command/);
});

test.run();

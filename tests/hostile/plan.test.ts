/**
 * Tampered plans and adapter files. `peftc diff` (run in CI on pull requests) rejects a damaged plan
 * in one line at the JSON position of the fault. The runtime rejects a plan or adapter file that
 * does not fit and leaves the model exactly as it was.
 */
import * as tf from "@tensorflow/tfjs-core";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Plan } from "../../compiler/plan/types.js";
import { applyPlan } from "../../runtime/apply.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import type { Module } from "../../runtime/nn/index.js";
import { loadAdapter, saveAdapter } from "../../runtime/peft-format.js";
import { readSafetensors, writeSafetensors } from "../../runtime/safetensors.js";
import { runCli } from "../cli/run.js";
import { TinyLM, basicPlan, randomize, tiedPlan } from "../runtime/fixtures.js";
import { assertOneLineError, scratch, writeSmallGraph } from "./helpers.js";

/** Compiles a plan from the small graph with the embedding tied to lm_head and returns its text. */
async function compiledPlan(dir: string): Promise<string> {
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj, embed_tokens]\nensure_weight_tying: true\n");
  const out = join(dir, "plan.json");
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out, "-q"]);
  assert.is(run.code, 0, run.stderr);
  return readFileSync(out, "utf8");
}

/** 1-based line of the first line of `text` that contains `needle`, counted after `from`. */
function lineOf(text: string, needle: string, from = 0): number {
  const lines = text.split("\n");
  const at = lines.findIndex((line, i) => i >= from && line.includes(needle));
  assert.ok(at >= 0, `${needle} is in the plan`);
  return at + 1;
}

type Tamper = (plan: Record<string, any>) => void;

const TAMPERED: Array<[string, Tamper, string, (text: string) => number]> = [
  ["newer format", (p) => (p["format"] = "peftc-plan/9"), 'at /format: expected "peftc-plan/1"', (t) => lineOf(t, '"format"')],
  ["r as a string", (p) => (p["adapters"][0].targets[0].r = "8"), "at /adapters/0/targets/0/r: expected an integer >= 1", (t) => lineOf(t, '"r": "8"')],
  ["negative r", (p) => (p["adapters"][0].targets[0].r = -8), "at /adapters/0/targets/0/r", (t) => lineOf(t, '"r": -8')],
  ["bad fingerprint", (p) => (p["model"].fingerprint = "md5:abc"), "at /model/fingerprint", (t) => lineOf(t, '"md5:abc"')],
  ["targets as a mapping", (p) => (p["adapters"][0].targets = {}), "at /adapters/0/targets: expected a list", (t) => lineOf(t, '"targets"')],
  [
    "target listed twice",
    (p) => p["adapters"][0].targets.push(p["adapters"][0].targets[1]),
    "at /adapters/0/targets/4/module: module 'model.layers.0.self_attn.q_proj' is also listed at /adapters/0/targets/1",
    (t) => lineOf(t, '"module": "model.layers.0.self_attn.q_proj"', lineOf(t, '"module": "model.layers.1.self_attn.q_proj"')),
  ],
  [
    "adapter listed twice",
    (p) => p["adapters"].push(p["adapters"][0]),
    "at /adapters/1/name: adapter name 'default' is also used by /adapters/0",
    (t) => lineOf(t, '"name": "default"', lineOf(t, '"name": "default"')),
  ],
  [
    "tie to a missing group",
    (p) => (p["adapters"][0].targets[0].tie.group = "no.such.weight"),
    "at /adapters/0/targets/0/tie/group: tie group 'no.such.weight' is not in this adapter's tie_groups",
    (t) => lineOf(t, '"no.such.weight"'),
  ],
];

for (const [label, tamper, message, line] of TAMPERED) {
  test(`diff: plan with ${label}`, async () => {
    const dir = scratch("diff");
    const good = join(dir, "plan.json");
    const original = await compiledPlan(dir);
    const plan = JSON.parse(original) as Record<string, any>;
    tamper(plan);
    const text = JSON.stringify(plan, null, 2);
    const bad = join(dir, "tampered.json");
    writeFileSync(bad, text);
    const run = await runCli(["diff", good, bad]);
    assertOneLineError(run, { file: bad, code: "plan-invalid", line: line(text), message });
    assert.is(run.stdout, "", "no diff is printed for an invalid plan");
  });
}

test("diff: plan cut short", async () => {
  const dir = scratch("diff-cut");
  const good = join(dir, "plan.json");
  const text = await compiledPlan(dir);
  const bad = join(dir, "cut.json");
  writeFileSync(bad, text.slice(0, 200));
  const run = await runCli(["diff", good, bad]);
  // The cut leaves an unterminated string or value; JSON.parse reports the end of the input.
  assertOneLineError(run, { file: bad, code: "json-syntax", message: "invalid JSON" });
});

/** Returns every variable of `model` by name, as plain numbers. */
function snapshot(model: Module): Map<string, number[]> {
  return new Map(model.namedVariables().map(([name, v]) => [name, Array.from(v.dataSync())]));
}

function assertUnchanged(model: Module, before: Map<string, number[]>, modules: Module[]): void {
  assert.equal(snapshot(model), before, "every variable keeps its value");
  assert.equal(model.namedModules().map(([, m]) => m), modules, "no module was replaced");
}

function runtimeError(fn: () => unknown): RuntimeInputError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RuntimeInputError);
    return err as RuntimeInputError;
  }
  throw new assert.Assertion({ message: "expected a RuntimeInputError", operator: "throws", expects: true, actual: false });
}

const TAMPERED_RUNTIME: Array<[string, (plan: Plan) => void, string, string]> = [
  ["another model's fingerprint", (p) => (p.model.fingerprint = `sha256:${"0".repeat(64)}`), "fingerprint-mismatch", "fingerprint"],
  ["a module the model lacks", (p) => (p.adapters[0]!.targets[0]!.module = "model.layers.9.self_attn.q_proj"), "plan-not-applicable", "missing module model.layers.9.self_attn.q_proj"],
  ["a shape the model lacks", (p) => (p.adapters[0]!.targets[0]!.in_features = 7), "plan-not-applicable", "model.layers.0.self_attn.q_proj has shape 6x6, the plan expects 7x6"],
  ["a zero rank", (p) => (p.adapters[0]!.targets[1]!.r = 0), "plan-not-applicable", "model.layers.0.self_attn.v_proj: r must be a positive integer, got 0"],
  ["an infinite scaling", (p) => (p.adapters[0]!.targets[1]!.scaling = Infinity), "plan-not-applicable", "v_proj: scaling must be a finite number"],
  ["a dropout of 1", (p) => (p.adapters[0]!.targets[1]!.dropout = 1), "plan-not-applicable", "v_proj: dropout must be in [0, 1), got 1"],
  ["a Linear marked as an embedding", (p) => (p.adapters[0]!.targets[1]!.kind = "embedding"), "plan-not-applicable", "v_proj is Linear, the plan expects Embedding"],
  ["a format of another version", (p) => ((p as { format: string }).format = "peftc-plan/2"), "plan-format", "peftc-plan/2"],
];

for (const [label, tamper, code, message] of TAMPERED_RUNTIME) {
  test(`applyPlan: plan with ${label}`, () => {
    const model = new TinyLM();
    const before = snapshot(model);
    const modules = model.namedModules().map(([, m]) => m);
    const plan = basicPlan();
    tamper(plan);
    const err = runtimeError(() => applyPlan(model, plan));
    assert.is(err.diagnostic.code, code, err.message);
    assert.ok(err.message.includes(message), err.message);
    assert.not.match(err.message, /\n/, "one line");
    assertUnchanged(model, before, modules);
  });
}

/** Saves a trained tied adapter and returns its directory and tensors. */
function savedAdapter(): { dir: string; tensors: Array<{ name: string; shape: number[]; data: Float32Array; dtype?: string }> } {
  const dir = scratch("adapter");
  const lora = applyPlan(new TinyLM(), tiedPlan(), { seed: 1 });
  randomize(lora.trainableVariables(), 3);
  saveAdapter(lora, dir);
  const file = readSafetensors(readFileSync(join(dir, "adapter_model.safetensors")));
  const tensors = [...file.tensors].map(([name, t]) => ({ name, shape: t.shape, data: Float32Array.from(t.data!) }));
  return { dir, tensors };
}

const BROKEN_ADAPTERS: Array<[string, (dir: string, tensors: ReturnType<typeof savedAdapter>["tensors"]) => void, RegExp]> = [
  ["a tensor missing", (dir, tensors) => writeFileSync(join(dir, "adapter_model.safetensors"), writeSafetensors(tensors.slice(1))), /missing/],
  [
    "a tensor of the wrong shape",
    (dir, tensors) => {
      const [first, ...rest] = tensors;
      const wrong = { name: first!.name, shape: [first!.shape[0]! + 1, first!.shape[1]!], data: new Float32Array((first!.shape[0]! + 1) * first!.shape[1]!) };
      writeFileSync(join(dir, "adapter_model.safetensors"), writeSafetensors([wrong, ...rest]));
    },
    /shape/,
  ],
  ["a file cut short", (dir) => writeFileSync(join(dir, "adapter_model.safetensors"), readFileSync(join(dir, "adapter_model.safetensors")).subarray(0, 40)), /safetensors|past the end|truncated/],
  [
    "an integer dtype",
    (dir) => {
      const path = join(dir, "adapter_model.safetensors");
      const bytes = readFileSync(path);
      const length = Number(bytes.readBigUInt64LE(0));
      // Same byte size, so only the dtype is wrong: F32 and I32 both take four bytes.
      const header = bytes.subarray(8, 8 + length).toString("utf8").replaceAll('"F32"', '"I32"');
      writeFileSync(path, Buffer.concat([bytes.subarray(0, 8), Buffer.from(header, "utf8"), bytes.subarray(8 + length)]));
    },
    /I32|dtype/,
  ],
  ["adapter_config.json cut short", (dir) => writeFileSync(join(dir, "adapter_config.json"), "{"), /invalid JSON/],
];

for (const [label, breakIt, message] of BROKEN_ADAPTERS) {
  test(`loadAdapter: ${label}`, () => {
    const { dir, tensors } = savedAdapter();
    breakIt(dir, tensors);
    const model = new TinyLM();
    const lora = applyPlan(model, tiedPlan(), { seed: 8 });
    const before = snapshot(model);
    const adapterBefore = lora.trainableVariables().map((v) => Array.from(v.dataSync()));
    const err = runtimeError(() => loadAdapter(lora, dir));
    assert.match(err.message, message, err.message);
    assert.not.match(err.message, /\n/, "one line");
    const file = label.startsWith("adapter_config") ? "adapter_config.json" : "adapter_model.safetensors";
    assert.ok((err.diagnostic.file ?? "").endsWith(file) || err.message.includes(file), `names ${file}: ${err.diagnostic.file} ${err.message}`);
    assert.equal(snapshot(model), before, "base variables keep their values");
    assert.equal(lora.trainableVariables().map((v) => Array.from(v.dataSync())), adapterBefore, "adapter variables keep their values");
  });
}

test.after(() => {
  tf.disposeVariables();
});

test.run();

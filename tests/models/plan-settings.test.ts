import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Plan } from "../../compiler/plan/types.js";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { loadModel } from "../../runtime/models/index.js";
import { saveAdapter } from "../../runtime/peft-format.js";
import { compileText, rejection } from "./compile-apply.js";
import { REFERENCE } from "./plans.js";

await initBackend("cpu");

const MODEL = join(REFERENCE, "tiny-llama");

/** Compiles a spec (r 4, q_proj and v_proj, plus `extra` lines) against tiny-llama with the real compiler. */
function compile(extra: string): Plan {
  return compileText(`r: 4\nlora_alpha: 8\ntarget_modules: [q_proj, v_proj]\n${extra}`, MODEL);
}

const UNSUPPORTED: Array<[string, string]> = [
  ["use_dora: true\n", 'config.use_dora is true, but the runtime does not implement DoRA'],
  ["lora_bias: true\n", "config.lora_bias is true, but the runtime does not implement a bias on lora_B"],
  ["init_lora_weights: pissa\n", 'config.init_lora_weights is "pissa", but the runtime implements only true'],
  ["init_lora_weights: olora\n", 'config.init_lora_weights is "olora", but the runtime implements only true'],
  ["init_lora_weights: false\n", "config.init_lora_weights is false, but the runtime implements only true"],
  ["bias: all\n", 'config.bias is "all", but the runtime does not train the base model\'s biases'],
  ["trainable_token_indices: [1, 2]\n", "trainable_tokens lists model.embed_tokens (indices 1, 2), but the runtime does not implement trainable tokens"],
];

for (const [line, expected] of UNSUPPORTED) {
  test(`compiled plan with ${line.trim()} is rejected`, () => {
    const err = rejection(compile(line), MODEL);
    assert.is(err.diagnostic.code, "plan-not-applicable");
    assert.ok(err.problems.some((p) => p.startsWith(expected)), err.message);
  });
}

test("every unsupported setting is listed in one error", () => {
  const err = rejection(compile("use_dora: true\nbias: lora_only\ntrainable_token_indices: [3]\n"), MODEL);
  assert.is(err.problems.length, 3, err.message);
  assert.ok(err.problems.some((p) => p.startsWith("config.use_dora")), err.message);
  assert.ok(err.problems.some((p) => p.startsWith("config.bias")), err.message);
  assert.ok(err.problems.some((p) => p.startsWith("trainable_tokens lists model.embed_tokens (indices 3)")), err.message);
});

test("empty trainable_tokens is accepted", () => {
  const plan = compile("");
  assert.equal(plan.adapters[0]!["trainable_tokens"], []);
  const lora = applyPlan(loadModel(MODEL).model, plan, { seed: 1 });
  assert.is(lora.layers.size, 4);
});

test("gaussian init draws A with std 1/r", () => {
  const plan = compile("init_lora_weights: gaussian\n");
  const lora = applyPlan(loadModel(MODEL).model, plan, { seed: 1 });
  const a = [...lora.layers.values()].flatMap((layer) => Array.from(layer.factors.A.dataSync()));
  const b = [...lora.layers.values()].flatMap((layer) => Array.from(layer.factors.B.dataSync()));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  // PEFT: nn.init.normal_(lora_A.weight, std=1 / r) with r = 4. The default kaiming-uniform A
  // would have std 1 / sqrt(3 * in_features), about 0.08 for tiny-llama's 48 features.
  assert.ok(Math.abs(std - 0.25) < 0.03, `std of A is ${std} over ${a.length} values`);
  assert.ok(b.every((v) => v === 0), "B starts at zero");
});

test("saved config records gaussian init", () => {
  const plan = compile("init_lora_weights: gaussian\n");
  const lora = applyPlan(loadModel(MODEL).model, plan, { seed: 1 });
  const dir = mkdtempSync(join(tmpdir(), "peftc-settings-"));
  saveAdapter(lora, dir);
  const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
  assert.is(config["init_lora_weights"], "gaussian");
  assert.is(config["use_dora"], false);
  rmSync(dir, { recursive: true });
});

test.run();

import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { initBackend } from "../../runtime/backend.js";
import { loadModel } from "../../runtime/models/index.js";
import { compileText as compile, rejection } from "./compile-apply.js";
import { REFERENCE } from "./plans.js";

await initBackend("cpu");

// The two fixtures have the same module names and shapes, so their plans have the same
// fingerprint. Only tiny-llama-tied shares one weight between model.embed_tokens and lm_head.
const TIED = join(REFERENCE, "tiny-llama-tied");
const UNTIED = join(REFERENCE, "tiny-llama");

const RECOMPILE = "recompile the plan against this model (peftc plan SPEC --model DIR)";

test("fixtures share one fingerprint", () => {
  const spec = "r: 4\nlora_alpha: 8\ntarget_modules: [q_proj]\n";
  assert.is(compile(spec, TIED).model.fingerprint, compile(spec, UNTIED).model.fingerprint);
});

test("shared_adapter plan rejects an untied model", () => {
  const plan = compile("r: 4\nlora_alpha: 8\ntarget_modules: [q_proj, lm_head]\nensure_weight_tying: true\n", TIED);
  assert.is(plan.adapters[0]!.tie_groups[0]!.mode, "shared_adapter");
  const err = rejection(plan, UNTIED);
  assert.is(err.diagnostic.code, "plan-not-applicable");
  assert.equal(err.problems, [`the plan ties lm_head to model.embed_tokens, but in this model they are separate weights; ${RECOMPILE}`]);
});

test("shared_copy plan rejects an untied model", () => {
  const plan = compile("r: 4\nlora_alpha: 8\ntarget_modules: [q_proj]\nmodules_to_save: [lm_head]\nensure_weight_tying: true\n", TIED);
  assert.is(plan.adapters[0]!.tie_groups[0]!.mode, "shared_copy");
  const err = rejection(plan, UNTIED);
  assert.equal(err.problems, [`the plan ties lm_head to model.embed_tokens, but in this model they are separate weights; ${RECOMPILE}`]);
});

test("plan without adapter ties checks model ties", () => {
  // No target or saved module is tied, but plan.model.tie_groups records the tied model's weights.
  const plan = compile("r: 4\nlora_alpha: 8\ntarget_modules: [q_proj]\n", TIED);
  const err = rejection(plan, UNTIED);
  assert.equal(err.problems, [`the plan ties lm_head to model.embed_tokens, but in this model they are separate weights; ${RECOMPILE}`]);
});

test("untied plan rejects a tied model", () => {
  const plan = compile("r: 4\nlora_alpha: 8\ntarget_modules: [q_proj, lm_head]\n", UNTIED);
  const err = rejection(plan, TIED);
  assert.equal(err.problems, [`in this model lm_head shares its weight with model.embed_tokens, but the plan was compiled for a model where they are separate; ${RECOMPILE}`]);
});

test("plans apply to their own models", () => {
  for (const dir of [TIED, UNTIED]) {
    const plan = compile("r: 4\nlora_alpha: 8\ntarget_modules: [q_proj, lm_head]\nensure_weight_tying: true\n", dir);
    const lora = applyPlan(loadModel(dir).model, plan, { seed: 1 });
    assert.ok(lora.layers.has("lm_head"), dir);
  }
});

test.run();

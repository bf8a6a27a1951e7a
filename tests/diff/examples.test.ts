/**
 * Diffs of real plan pairs: each committed example plan against a plan compiled from an edited
 * copy of its spec. Expected counts are worked out by hand from the example models.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileSpec } from "../../compiler/compile.js";
import { diffPlans } from "../../compiler/diff/diff.js";
import { expandCollapsed, collapseModules } from "../../compiler/diff/collapse.js";
import { renderDiff } from "../../compiler/diff/render.js";
import { loadGraph } from "../../compiler/import/index.js";
import { loadPlan } from "../../compiler/plan/validate.js";
import type { Plan } from "../../compiler/plan/types.js";
import { parseSpec } from "../../compiler/spec/load.js";

const examples = new URL("../../examples/", import.meta.url).pathname;

function committed(example: string): Plan {
  return loadPlan(join(examples, example, "spec.plan.json"));
}

/** Compiles the example's spec after `edit`, against the example's own model unless `model` is given. */
function edited(example: string, edit: (text: string) => string, model = example): Plan {
  const text = edit(readFileSync(join(examples, example, "spec.yaml"), "utf8"));
  return compileSpec(parseSpec(text, "spec.yaml"), loadGraph(join(examples, model, "model"))).plan;
}

test("identical example plans: no changes", () => {
  const plan = committed("qwen2-14b");
  const diff = diffPlans(plan, plan);
  assert.ok(diff.identical);
  assert.is(renderDiff(diff, "text", { color: false }).trim(), "no changes");
});

test("rank change on the attention projections of Qwen2-14B", () => {
  const after = edited("qwen2-14b", (t) => t.replace("r: 8\n", "r: 16\n"));
  const diff = diffPlans(committed("qwen2-14b"), after);
  const a = diff.adapters[0]!;
  // Only q/k/v/o take r from `r`; the MLP keeps its rank_pattern value 32. 48 layers x 4 modules.
  const rChange = a.target_changes.find((c) => c.field === "r")!;
  assert.equal([rChange.from, rChange.to, rChange.modules.length], [8, 16, 192]);
  assert.is(a.targets_added.length, 0);
  // Each layer: q 5120->5120, k and v 5120->1024, o 5120->5120; 8 more ranks on each.
  const perLayer = 8 * (10240 + 6144 + 6144 + 10240);
  assert.is(a.trainable_parameters.delta, 48 * perLayer);
  assert.match(diff.summary_line, "192 changed");
});

test("rank_pattern change is listed as a setting", () => {
  const after = edited("qwen2-14b", (t) => t.replace("gate_proj: 32", "gate_proj: 64"));
  const a = diffPlans(committed("qwen2-14b"), after).adapters[0]!;
  assert.ok(a.settings_changes.some((c) => c.field.startsWith("config.rank_pattern")), JSON.stringify(a.settings_changes));
  const rChange = a.target_changes.find((c) => c.field === "r")!;
  assert.equal([rChange.from, rChange.to, rChange.modules.length], [32, 64, 48]);
});

test("added target on Llama-3.2-3B", () => {
  const after = edited("llama-3.2-3b", (t) => t.replace("o_proj, lm_head]", "o_proj, gate_proj, lm_head]"));
  const diff = diffPlans(committed("llama-3.2-3b"), after);
  const a = diff.adapters[0]!;
  assert.is(a.targets_added.length, 28);
  assert.ok(a.targets_added.every((m) => m.endsWith(".mlp.gate_proj")));
  // gate_proj is 3072 -> 8192 at r=16.
  assert.is(a.trainable_parameters.delta, 28 * 16 * (3072 + 8192));
  assert.match(diff.summary_line, "+28 targets");
  const text = renderDiff(diff, "text", { color: false });
  assert.match(text, "model.layers.{0–27}.mlp.gate_proj");
});

test("layers_to_transform change on Mixtral", () => {
  const after = edited("mixtral-8x22b", (t) => t.replace("layers_to_transform: [0, 1, 2, 3]", "layers_to_transform: [2, 3, 4]"));
  const diff = diffPlans(committed("mixtral-8x22b"), after);
  const a = diff.adapters[0]!;
  // Each layer has 4 attention projections and 8 experts x 3.
  assert.is(a.targets_removed.length, 2 * 28);
  assert.is(a.targets_added.length, 28);
  const addedBack = expandCollapsed(collapseModules(a.targets_added));
  assert.equal(new Set(addedBack), new Set(a.targets_added));
  assert.ok(a.targets_added.every((m) => m.startsWith("model.layers.4.")));
});

test("tie turned on for Llama-3.2-3B's lm_head", () => {
  const before = edited("llama-3.2-3b", (t) => t.replace("ensure_weight_tying: true\n", ""));
  const diff = diffPlans(before, committed("llama-3.2-3b"));
  const a = diff.adapters[0]!;
  assert.equal(a.targets_added, ["model.embed_tokens"]);
  assert.is(a.tie_groups_changed.length, 1);
  assert.equal(a.tie_groups_changed[0]!.mode, { from: "untied", to: "shared_adapter" });
  // lm_head's own adapter (16 * (3072 + 128256)) becomes the embedding's (16 * (128256 + 3072)): same size.
  assert.is(a.trainable_parameters.delta, 0);
  assert.ok(diff.diagnostics.resolved.some((d) => d.code === "tie-not-ensured"));
});

test("model swap: the SmolLM2 spec against Llama-3.2-3B", () => {
  const after = edited("smollm2-135m", (t) => t, "llama-3.2-3b");
  const diff = diffPlans(committed("smollm2-135m"), after);
  assert.ok(diff.model.changed);
  assert.ok(diff.model.fingerprint !== null);
  assert.equal(diff.model.parameters, { from: 134515008, to: 3212749824 });
  const a = diff.adapters[0]!;
  // 30 layers become 28: q_proj and v_proj of layers 28 and 29 go away.
  assert.is(a.targets_removed.length, 4);
  assert.match(renderDiff(diff, "markdown", {}), "<details>");
});

test.run();

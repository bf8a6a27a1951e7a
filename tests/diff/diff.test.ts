import { test } from "uvu";
import * as assert from "uvu/assert";
import { expandCollapsed } from "../../compiler/diff/collapse.js";
import { diffIsEmpty, diffPlans } from "../../compiler/diff/diff.js";
import { renderDiff } from "../../compiler/diff/render.js";
import type { PlanTarget } from "../../compiler/plan/types.js";
import { HIDDEN, VOCAB, clone, embeddingTie, layeredAdapter, linearTarget, plan, withTotals } from "./plans.js";

// Expected counts below are hand computations: a 2048×2048 Linear at r=8 has 8·(2048+2048) = 32,768
// LoRA parameters, 22 layers × (q_proj, v_proj) = 44 targets, and the model has 1,100,048,384 parameters.

test("identical plans give no changes", () => {
  const p = plan([layeredAdapter()]);
  const diff = diffPlans(p, clone(p));
  assert.ok(diffIsEmpty(diff));
  assert.is(diff.summary_line, "no changes");
  assert.is(diff.adapters[0]!.status, "unchanged");
  assert.is(renderDiff(diff, "text"), "no changes\n");
  assert.is(renderDiff(diff, "markdown"), "no changes\n");
});

test("key order inside a value is not a change", () => {
  const oldPlan = plan([layeredAdapter()]);
  const newPlan = clone(oldPlan);
  const target = newPlan.adapters[0]!.targets[0]!;
  const reordered = Object.fromEntries(Object.entries(target).reverse()) as unknown as PlanTarget;
  newPlan.adapters[0]!.targets[0] = reordered;
  assert.ok(diffIsEmpty(diffPlans(oldPlan, newPlan)));
});

test("rank change groups r and scaling", () => {
  const diff = diffPlans(plan([layeredAdapter({ r: 8, alpha: 16 })]), plan([layeredAdapter({ r: 16, alpha: 16 })]));
  const adapter = diff.adapters[0]!;
  assert.is(adapter.status, "changed");
  assert.is(adapter.targets_changed.length, 44);
  assert.equal(
    adapter.target_changes.map((c) => [c.field, c.from, c.to, c.modules.length]),
    [
      ["r", 8, 16, 44],
      ["scaling", 2, 1, 44],
    ],
  );
  assert.equal(adapter.trainable_parameters, { from: 1_441_792, to: 2_883_584, delta: 1_441_792, percent_of_model: (1_441_792 / 1_100_048_384) * 100 });
  assert.is(diff.summary_line, "+0 targets · 44 changed · −0 removed · trainable +1.4M (+0.13%)");
  assert.ok(!diffIsEmpty(diff));
});

test("added target lists the new modules", () => {
  const diff = diffPlans(plan([layeredAdapter()]), plan([layeredAdapter({ projections: ["q_proj", "v_proj", "gate_proj"] })]));
  const adapter = diff.adapters[0]!;
  assert.is(adapter.targets_added.length, 22);
  assert.equal(adapter.targets_added, Array.from({ length: 22 }, (_, i) => `model.layers.${i}.mlp.gate_proj`));
  assert.equal(adapter.targets_removed, []);
  assert.equal(adapter.target_changes, []);
  assert.is(diff.summary_line, "+22 targets · 0 changed · −0 removed · trainable +720.9K (+0.07%)");
});

test("layers_to_transform change removes layers", () => {
  const upper = Array.from({ length: 11 }, (_, i) => i);
  const diff = diffPlans(plan([layeredAdapter()]), plan([layeredAdapter({ layersToTransform: upper })]));
  const adapter = diff.adapters[0]!;
  assert.is(adapter.targets_removed.length, 22);
  assert.equal(adapter.targets_removed.slice(0, 2), ["model.layers.11.self_attn.q_proj", "model.layers.11.self_attn.v_proj"]);
  assert.is(diff.summary_line, "+0 targets · 0 changed · −22 removed · trainable −720.9K (−0.07%)");
  assert.match(renderDiff(diff, "text"), "model.layers.{11–21}.self_attn.q_proj  (11 modules)");
});

/** Builds a llama plan whose lm_head is a target. With the tie on, lm_head uses model.embed_tokens' adapter. */
function lmHeadPlan(tied: boolean) {
  const adapter = layeredAdapter();
  if (tied) {
    const group = embeddingTie("shared_adapter");
    const source: PlanTarget = {
      ...linearTarget("model.embed_tokens", VOCAB, HIDDEN, 8, 16),
      kind: "embedding",
      tie: { group: group.id, role: "source", orientation: "same" },
    };
    const member = linearTarget("lm_head", HIDDEN, VOCAB, 8, 16, 0.05, { group: group.id, role: "member", orientation: "transposed" });
    adapter.targets = [source, ...adapter.targets, member];
    adapter.tie_groups = [group];
    return plan([withTotals(adapter)]);
  }
  adapter.targets = [...adapter.targets, linearTarget("lm_head", HIDDEN, VOCAB, 8, 16)];
  adapter.tie_groups = [embeddingTie("untied")];
  const warning = { severity: "warning" as const, code: "tie-not-ensured", message: "lm_head and model.embed_tokens share a weight but get independent adapters" };
  return plan([withTotals(adapter)], {}, [warning]);
}

test("tie turned on shares the embedding adapter", () => {
  const diff = diffPlans(lmHeadPlan(false), lmHeadPlan(true));
  const adapter = diff.adapters[0]!;
  assert.equal(adapter.targets_added, ["model.embed_tokens"]);
  assert.equal(adapter.targets_changed, ["lm_head"]);
  assert.equal(adapter.target_changes, [{ field: "tie", from: null, to: { group: "model.embed_tokens.weight", role: "member", orientation: "transposed" }, modules: ["lm_head"] }]);
  assert.equal(adapter.tie_groups_changed, [
    { id: "model.embed_tokens.weight", group: embeddingTie("shared_adapter"), source: null, mode: { from: "untied", to: "shared_adapter" }, members_added: [], members_removed: [] },
  ]);
  assert.match(renderDiff(diff, "text"), "  ~ tie group model.embed_tokens.weight: mode untied → shared_adapter, so lm_head now shares the adapter of model.embed_tokens\n");
  // lm_head's 8·(2048+32000) parameters move to the embedding, which has the same count: no change.
  assert.is(adapter.trainable_parameters.delta, 0);
  assert.is(diff.diagnostics.resolved.length, 1);
  assert.is(diff.diagnostics.resolved[0]!.code, "tie-not-ensured");
  assert.is(diff.summary_line, "+1 target · 1 changed · −0 removed · trainable +0 (+0.00%) · 1 tie group changed · diagnostics +0 −1");
});

test("tie group created and broken", () => {
  const created = diffPlans(plan([layeredAdapter()]), lmHeadPlan(true));
  assert.equal(created.adapters[0]!.tie_groups_created, [embeddingTie("shared_adapter")]);
  assert.match(renderDiff(created, "text"), "+ tie group model.embed_tokens.weight created: lm_head now shares the adapter of model.embed_tokens (shared_adapter)");

  const broken = diffPlans(lmHeadPlan(true), plan([layeredAdapter()]));
  assert.equal(broken.adapters[0]!.tie_groups_broken, [embeddingTie("shared_adapter")]);
  assert.equal(broken.adapters[0]!.targets_removed, ["model.embed_tokens", "lm_head"]);
  assert.match(renderDiff(broken, "text"), "− tie group model.embed_tokens.weight broken: lm_head no longer shares the adapter of model.embed_tokens (shared_adapter)");
});

test("tie group member and source changes", () => {
  const t5Group = { id: "shared.weight", source: "shared", members: ["encoder.embed_tokens", "decoder.embed_tokens"], mode: "shared_adapter" as const };
  const oldAdapter = { ...layeredAdapter(), tie_groups: [t5Group] };
  const newAdapter = { ...layeredAdapter(), tie_groups: [{ ...t5Group, source: "encoder.embed_tokens", members: ["shared", "decoder.embed_tokens"] }] };
  const diff = diffPlans(plan([oldAdapter]), plan([newAdapter]));
  assert.equal(diff.adapters[0]!.tie_groups_changed, [
    {
      id: "shared.weight",
      group: newAdapter.tie_groups[0]!,
      source: { from: "shared", to: "encoder.embed_tokens" },
      mode: null,
      members_added: ["shared"],
      members_removed: ["encoder.embed_tokens"],
    },
  ]);
});

test("model swap reports the model and shapes", () => {
  const oldPlan = plan([layeredAdapter()]);
  const newPlan = plan([layeredAdapter({ layers: 32, hidden: 4096 })], { fingerprint: "sha256:" + "b".repeat(64), model_type: "mistral", parameters: 7_241_732_096 });
  const diff = diffPlans(oldPlan, newPlan);
  assert.equal(diff.model, {
    changed: true,
    fingerprint: { from: "sha256:" + "a".repeat(64), to: "sha256:" + "b".repeat(64) },
    model_type: { from: "llama", to: "mistral" },
    parameters: { from: 1_100_048_384, to: 7_241_732_096 },
    other_changes: [],
  });
  const adapter = diff.adapters[0]!;
  assert.is(adapter.targets_added.length, 20);
  assert.equal(
    adapter.target_changes.map((c) => [c.field, c.from, c.to, c.modules.length]),
    [
      ["in_features", 2048, 4096, 44],
      ["out_features", 2048, 4096, 44],
    ],
  );
  // New: 64 targets · 8·(4096+4096) = 4,194,304; old 1,441,792; the delta is 0.038% of 7.24B.
  assert.is(adapter.trainable_parameters.delta, 2_752_512);
  assert.is(diff.summary_line, "+20 targets · 44 changed · −0 removed · trainable +2.8M (+0.04%) · model changed");
  assert.match(renderDiff(diff, "text"), "~ model_type llama→mistral");
});

test("model change alone is a change", () => {
  const oldPlan = plan([layeredAdapter()]);
  const newPlan = plan([layeredAdapter()], { fingerprint: "sha256:" + "c".repeat(64) });
  const diff = diffPlans(oldPlan, newPlan);
  assert.not.ok(diffIsEmpty(diff));
  assert.is(diff.summary_line, "+0 targets · 0 changed · −0 removed · trainable +0 (+0.00%) · model changed");
});

test("adapters matched by name", () => {
  const oldPlan = plan([layeredAdapter({ name: "a" }), layeredAdapter({ name: "b" })]);
  const newPlan = plan([layeredAdapter({ name: "b" }), layeredAdapter({ name: "c", projections: ["q_proj"] })]);
  const diff = diffPlans(oldPlan, newPlan);
  assert.equal(
    diff.adapters.map((a) => [a.name, a.status, a.targets_added.length, a.targets_removed.length]),
    [
      ["b", "unchanged", 0, 0],
      ["c", "added", 22, 0],
      ["a", "removed", 0, 44],
    ],
  );
  // c adds 22 · 32,768 = 720,896 and a removes 44 · 32,768 = 1,441,792.
  assert.is(diff.summary.trainable_parameters.delta, -720_896);
  assert.is(diff.summary_line, "+22 targets · 0 changed · −44 removed · trainable −720.9K (−0.07%) · adapters +1 −1");
});

test("modules_to_save added and changed", () => {
  const oldAdapter = withTotals({ ...layeredAdapter(), modules_to_save: [{ module: "score", parameters: 4096, tie: null }] });
  const newAdapter = withTotals({
    ...layeredAdapter(),
    modules_to_save: [
      { module: "score", parameters: 8192, tie: null },
      { module: "classifier", parameters: 2048, tie: null },
    ],
  });
  const diff = diffPlans(plan([oldAdapter]), plan([newAdapter]));
  const adapter = diff.adapters[0]!;
  assert.equal(adapter.saved_added, ["classifier"]);
  assert.equal(adapter.saved_changes, [{ field: "parameters", from: 4096, to: 8192, modules: ["score"] }]);
  assert.is(diff.summary_line, "+0 targets · 0 changed · −0 removed · trainable +6.1K (+0.00056%) · modules_to_save +1 −0 (1 changed)");
});

test("diagnostics compared by code and message", () => {
  const warning = (code: string, message: string) => ({ severity: "warning" as const, code, message });
  const oldPlan = plan([layeredAdapter()], {}, [warning("exclude-unused", "exclude_modules matched nothing"), warning("target-unused", "'k_proj' matched nothing")]);
  const newPlan = plan([layeredAdapter()], {}, [warning("target-unused", "'k_proj' matched nothing"), warning("target-unused", "'o_proj' matched nothing")]);
  const diff = diffPlans(oldPlan, newPlan);
  assert.equal(diff.diagnostics.appeared, [warning("target-unused", "'o_proj' matched nothing")]);
  assert.equal(diff.diagnostics.resolved, [warning("exclude-unused", "exclude_modules matched nothing")]);
  assert.is(diff.summary_line, "+0 targets · 0 changed · −0 removed · trainable +0 (+0.00%) · diagnostics +1 −1");
});

test("extra adapter fields are settings", () => {
  const config = { r: 8, lora_alpha: 16, use_dora: false, task_type: "CAUSAL_LM" };
  const oldAdapter = { ...layeredAdapter(), config, selectors: { target_modules: [{ entry: "q_proj", matched: 22 }] } };
  const newAdapter = { ...layeredAdapter(), config: { ...config, use_dora: true }, selectors: { target_modules: [{ entry: "q_proj", matched: 11 }] } };
  const diff = diffPlans(plan([oldAdapter]), plan([newAdapter]));
  // Selector counts follow from the targets, so only the config key is a change.
  assert.equal(diff.adapters[0]!.settings_changes, [{ field: "config.use_dora", from: false, to: true }]);
  assert.is(diff.adapters[0]!.status, "changed");
  assert.is(diff.summary_line, "+0 targets · 0 changed · −0 removed · trainable +0 (+0.00%) · 1 setting changed");
  assert.match(renderDiff(diff, "text"), "  ~ config.use_dora false→true\n");

  const selectorsOnly = diffPlans(plan([oldAdapter]), plan([{ ...oldAdapter, selectors: newAdapter.selectors }]));
  assert.ok(diffIsEmpty(selectorsOnly));
});

test("settings of an added adapter are not listed", () => {
  const diff = diffPlans(plan([]), plan([{ ...layeredAdapter(), config: { use_dora: true } }]));
  assert.equal(diff.adapters[0]!.settings_changes, []);
  assert.is(diff.adapters[0]!.status, "added");
});

test("extra model fields change the model", () => {
  const groups = [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"] }];
  const oldPlan = plan([layeredAdapter()], { tie_groups: groups });
  // tie_word_embeddings turned off: same modules and fingerprint, no tie group.
  const newPlan = plan([layeredAdapter()], { tie_groups: [] });
  const diff = diffPlans(oldPlan, newPlan);
  assert.is(diff.model.changed, true);
  assert.equal(diff.model.other_changes, [{ field: "tie_groups", from: groups, to: [] }]);
  assert.match(renderDiff(diff, "text"), '~ tie_groups [{"id":"model.embed_tokens.weight","source":"model.embed_tokens","members":["lm_head"]}]→[]');
});

test("unknown counts stay unknown", () => {
  const oldPlan = plan([{ ...layeredAdapter(), trainable_parameters: null }]);
  const newPlan = plan([layeredAdapter({ r: 16 })], { parameters: null });
  const diff = diffPlans(oldPlan, newPlan);
  assert.equal(diff.summary.trainable_parameters, { from: null, to: 2_883_584, delta: null, percent_of_model: null });
  assert.match(diff.summary_line, "trainable unknown");
});

test("changed modules expand back exactly", () => {
  const diff = diffPlans(plan([layeredAdapter({ r: 8 })]), plan([layeredAdapter({ r: 4, layersToTransform: [0, 1, 2, 5, 9, 10] })]));
  const adapter = diff.adapters[0]!;
  const rChange = adapter.target_changes.find((c) => c.field === "r")!;
  const json = JSON.parse(renderDiff(diff, "json")) as typeof diff;
  assert.equal(json.adapters[0]!.target_changes[0]!.modules, rChange.modules);
  const text = renderDiff(diff, "text");
  assert.match(text, "model.layers.{0–2,5,9,10}.self_attn.q_proj  (6 modules)");
  assert.equal(expandCollapsed("model.layers.{0–2,5,9,10}.self_attn.q_proj"), rChange.modules.filter((m) => m.endsWith("q_proj")));
});

test.run();

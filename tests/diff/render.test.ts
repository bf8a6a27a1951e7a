import Ajv2020 from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { diffPlans } from "../../compiler/diff/diff.js";
import { renderDiff, shouldColor } from "../../compiler/diff/render.js";
import type { PlanDiff } from "../../compiler/diff/types.js";
import { clone, embeddingTie, layeredAdapter, plan, withTotals } from "./plans.js";

const ESC = "\u001b[";

function rankChange(): PlanDiff {
  return diffPlans(plan([layeredAdapter({ r: 8 })]), plan([layeredAdapter({ r: 16 })]));
}

/** A diff with every kind of change, so the renderers and the schema see each one. */
function everyChange(): PlanDiff {
  const warning = { severity: "warning" as const, code: "tie-not-ensured", message: "lm_head <b>and</b> *embed* share a weight", adapter: "b" };
  const oldPlan = plan([layeredAdapter(), layeredAdapter({ name: "b" })], {}, [warning]);
  const changed = { ...layeredAdapter({ r: 16, layersToTransform: [0, 1, 2, 3, 5, 7, 8, 9], projections: ["q_proj", "v_proj", "gate_proj"] }) };
  changed.tie_groups = [embeddingTie("shared_adapter")];
  changed.modules_to_save = [{ module: "score", parameters: 8192, tie: null }];
  const newPlan = plan([withTotals(changed), layeredAdapter({ name: "c" })], { model_type: "mistral", fingerprint: "sha256:" + "f".repeat(64) });
  return diffPlans(oldPlan, newPlan);
}

/** A diff of settings outside the plan's fixed core: an adapter's `config` and the model's tie groups. */
function settingsChange(): PlanDiff {
  const oldPlan = plan([{ ...layeredAdapter(), config: { use_dora: false } }], { tie_groups: [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"] }] });
  const newPlan = plan([{ ...layeredAdapter(), config: { use_dora: true } }], { tie_groups: [] });
  return diffPlans(oldPlan, newPlan);
}

/** The embedding tie switched from independent adapters to one shared adapter. */
function tieChange(): PlanDiff {
  const oldPlan = plan([{ ...layeredAdapter(), tie_groups: [embeddingTie("untied")] }]);
  const newPlan = plan([{ ...layeredAdapter(), tie_groups: [embeddingTie("shared_adapter")] }]);
  return diffPlans(oldPlan, newPlan);
}

test("text starts with the summary line", () => {
  const diff = rankChange();
  const text = renderDiff(diff, "text");
  assert.is(text.split("\n")[0], "+0 targets · 44 changed · −0 removed · trainable +1.4M (+0.13%)");
  assert.match(text, "  ~ r 8→16 on 44 modules\n      model.layers.{0–21}.self_attn.q_proj  (22 modules)\n");
  assert.not.match(text, ESC);
});

test("text colour only when asked", () => {
  const text = renderDiff(everyChange(), "text", { color: true });
  assert.match(text, `${ESC}32m+${ESC}0m 8 targets added`);
  assert.match(text, `${ESC}31m−${ESC}0m 28 targets removed`);
  assert.match(text, `${ESC}33m~${ESC}0m r 8→16`);
  assert.not.match(renderDiff(everyChange(), "text", { color: false }), ESC);
  assert.not.match(renderDiff(everyChange(), "markdown"), ESC);
});

test("shouldColor follows TTY and NO_COLOR", () => {
  assert.is(shouldColor({ isTTY: true }, {}), true);
  assert.is(shouldColor({ isTTY: false }, {}), false);
  assert.is(shouldColor({}, {}), false);
  assert.is(shouldColor({ isTTY: true }, { NO_COLOR: "1" }), false);
  // no-color.org: only a non-empty value disables colour.
  assert.is(shouldColor({ isTTY: true }, { NO_COLOR: "" }), true);
});

// Old: two adapters of 44 targets at r=8, 1,441,792 each. New: 24 targets at r=16 (24 · 16 · 4096 =
// 1,572,864) plus an 8,192-parameter saved module, and adapter c with 1,441,792: +139,264 in all.
test("markdown has summary then details", () => {
  const markdown = renderDiff(everyChange(), "markdown");
  const lines = markdown.split("\n");
  assert.is(lines[0], "+52 targets · 16 changed · −72 removed · trainable +139.3K (+0.01%) · model changed · adapters +1 −1 · modules_to_save +1 −0 · 1 tie group changed · diagnostics +0 −1");
  assert.is(lines[1], "");
  assert.is(lines[2], "<details><summary>model changed</summary>");
  assert.is(markdown.match(/<details>/g)!.length, 5);
  assert.is(markdown.match(/<\/details>/g)!.length, 5);
  assert.match(markdown, "<details><summary>adapter <code>default</code>: trainable 1.4M → 1.6M (+139.3K, +0.01% of the model)</summary>");
  assert.match(markdown, "  - `model.layers.{0–3,5,7–9}.mlp.gate_proj` (8 modules)\n");
  assert.match(markdown, "- **+** tie group `model.embed_tokens.weight` created: `lm_head` now shares the adapter of `model.embed_tokens` (shared\\_adapter)");
});

test("markdown names tie members in code", () => {
  const markdown = renderDiff(tieChange(), "markdown");
  assert.match(markdown, "- **~** tie group `model.embed_tokens.weight`: mode untied → shared\\_adapter, so `lm_head` now shares the adapter of `model.embed_tokens`\n");
});

test("markdown escapes diagnostic text", () => {
  const markdown = renderDiff(everyChange(), "markdown");
  assert.match(markdown, "- **−** warning\\[tie-not-ensured\\]: lm\\_head \\<b\\>and\\</b\\> \\*embed\\* share a weight (adapter b)");
  assert.not.match(markdown, "<b>");
});

test("identical plans print one line", () => {
  const p = plan([layeredAdapter()]);
  const diff = diffPlans(p, clone(p));
  assert.is(renderDiff(diff, "text", { color: false }), "no changes\n");
  assert.is(renderDiff(diff, "markdown"), "no changes\n");
  const json = JSON.parse(renderDiff(diff, "json")) as PlanDiff;
  assert.is(json.identical, true);
  assert.is(json.summary_line, "no changes");
});

const schema = JSON.parse(readFileSync(new URL("../../schemas/diff.schema.json", import.meta.url), "utf8")) as object;
const validate = new Ajv2020.default({ strict: true, allErrors: true }).compile(schema);

test("json validates against the schema", () => {
  const p = plan([layeredAdapter()]);
  for (const diff of [rankChange(), everyChange(), settingsChange(), tieChange(), diffPlans(p, clone(p))]) {
    const json = JSON.parse(renderDiff(diff, "json")) as unknown;
    const ok = validate(json);
    assert.ok(ok, JSON.stringify(validate.errors));
    assert.equal(json, diff);
  }
});

test("schema rejects a malformed diff", () => {
  const json = JSON.parse(renderDiff(rankChange(), "json")) as { adapters: { status: string }[]; summary: { targets_added: number } };
  json.adapters[0]!.status = "renamed";
  assert.not.ok(validate(json));
  const negative = JSON.parse(renderDiff(rankChange(), "json")) as { summary: { targets_added: number } };
  negative.summary.targets_added = -1;
  assert.not.ok(validate(negative));
});

test.run();

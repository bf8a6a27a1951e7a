/** Weight tying on the real model metadata bundled in examples/, compiled from YAML specs. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileSpec } from "../../compiler/compile.js";
import { loadGraph } from "../../compiler/import/index.js";
import { parseSpec } from "../../compiler/spec/load.js";

const examples = new URL("../../examples/", import.meta.url).pathname;

function compileYaml(model: string, yaml: string) {
  return compileSpec(parseSpec(yaml, "spec.yaml"), loadGraph(examples + model + "/model"));
}

test("GPT-2: lm_head shares the adapter of transformer.wte, Conv1D layers keep fan_in_fan_out", () => {
  const result = compileYaml("gpt2", "target_modules: [c_attn, lm_head]\nr: 4\nensure_weight_tying: true\n");
  const a = result.plan.adapters[0]!;
  assert.equal(a.tie_groups, [{ id: "transformer.wte.weight", source: "transformer.wte", members: ["lm_head"], mode: "shared_adapter" }]);
  const wte = a.targets.find((t) => t.module === "transformer.wte")!;
  const head = a.targets.find((t) => t.module === "lm_head")!;
  // wte is Embedding 50257 x 768: r * (50257 + 768) at r=4.
  assert.is(wte.parameters, 4 * (50257 + 768));
  assert.equal(head.tie, { group: "transformer.wte.weight", role: "member", orientation: "transposed" });
  const cAttn = a.targets.filter((t) => t.module.endsWith("c_attn"));
  assert.is(cAttn.length, 12);
  assert.ok(cAttn.every((t) => t.kind === "conv1d_gpt2" && t.fan_in_fan_out));
  // c_attn is Conv1D 768 -> 2304: 4 * (768 + 2304) each.
  assert.is(a.trainable_parameters, 4 * (50257 + 768) + 12 * 4 * (768 + 2304));
});

test("Llama-3.2-3B: all-linear leaves lm_head out, so the tie is untouched", () => {
  const result = compileYaml("llama-3.2-3b", "target_modules: all-linear\nensure_weight_tying: true\n");
  const a = result.plan.adapters[0]!;
  assert.is(a.targets.length, 28 * 7);
  assert.equal(a.tie_groups, []);
  assert.ok(result.diagnostics.some((d) => d.code === "tie-nothing-to-tie"));
});

test("SmolLM2: embed_tokens in modules_to_save gives one shared copy", () => {
  const result = compileYaml("smollm2-135m", "target_modules: [q_proj]\nmodules_to_save: [embed_tokens]\nensure_weight_tying: true\n");
  const a = result.plan.adapters[0]!;
  assert.equal(a.modules_to_save.map((s) => [s.module, s.tie?.role, s.parameters]), [
    ["model.embed_tokens", "source", 49152 * 576],
    ["lm_head", "member", 0],
  ]);
});

test("T5: the four tied modules share one adapter hosted on shared", () => {
  const result = compileYaml("t5", "target_modules: [q, v, lm_head]\nensure_weight_tying: true\n");
  const a = result.plan.adapters[0]!;
  assert.equal(a.tie_groups[0]!.source, "shared");
  assert.equal(a.tie_groups[0]!.members, ["encoder.embed_tokens", "decoder.embed_tokens", "lm_head"]);
  const tied = a.targets.filter((t) => t.tie !== null);
  assert.equal(tied.map((t) => t.tie!.orientation), ["same", "same", "same", "transposed"]);
  assert.is(tied.filter((t) => t.parameters! > 0).length, 1, "the shared adapter is counted once");
});

test("T5: without ensure_weight_tying the group is untied", () => {
  const result = compileYaml("t5", "target_modules: [q, v, lm_head]\n");
  assert.equal(result.plan.adapters[0]!.tie_groups.map((g) => g.mode), ["untied"]);
  assert.ok(result.diagnostics.some((d) => d.code === "tie-not-ensured"));
});

test("GPT-NeoX: embed_in and embed_out are separate weights", () => {
  const result = compileYaml("pythia-12b", "target_modules: [query_key_value, embed_out]\nensure_weight_tying: true\n");
  assert.equal(result.plan.adapters[0]!.tie_groups, []);
  assert.ok(result.diagnostics.some((d) => d.code === "tie-no-tied-weights"));
  assert.is(result.plan.adapters[0]!.targets.find((t) => t.module === "embed_out")!.tie, null);
});

test("several adapters in one spec compile independently", () => {
  const yaml = ["r: 8", "adapters:", "  attn:", "    target_modules: [q_proj, v_proj]", "  mlp:", "    r: 4", "    target_modules: [down_proj]"].join("\n");
  const result = compileYaml("llama-3.2-3b", yaml);
  assert.equal(result.plan.adapters.map((a) => [a.name, a.targets.length, a.targets[0]!.r]), [
    ["attn", 56, 8],
    ["mlp", 28, 4],
  ]);
});

test.run();

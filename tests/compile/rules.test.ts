/**
 * One test per step of PEFT's target resolution, with expected values worked out by hand from
 * PEFT's rules and from its own matching table (tests/test_tuners_utils.py, REGEX_TEST_CASES).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PeftcError } from "../../compiler/errors.js";
import type { Graph, GraphModule } from "../../compiler/graph/types.js";
import { buildPlan } from "../../compiler/plan/build.js";
import { validatePlan } from "../../compiler/plan/validate.js";
import { resolveAdapter } from "../../compiler/resolve/targets.js";
import type { AdapterSpec } from "../../compiler/spec/types.js";
import { adapter, embedding, graphOf, linear, llamaGraph } from "./helpers.js";

const DEFAULTS: Record<string, string[]> = { llama: ["q_proj", "v_proj"], gpt2: ["c_attn"] };
const options = { specFile: "spec.yaml", defaultTargetModules: (t: string) => DEFAULTS[t] };

function compile(graph: Graph, spec: AdapterSpec) {
  const resolved = resolveAdapter(graph, spec, options);
  const built = buildPlan(graph, [resolved], "spec.yaml");
  validatePlan(built.plan);
  return { resolved, ...built };
}

function targetNames(graph: Graph, spec: AdapterSpec): string[] {
  return compile(graph, spec).plan.adapters[0]!.targets.map((t) => t.module);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof PeftcError) return err.diagnostic.code;
    throw err;
  }
  return "no error";
}

function codes(graph: Graph, spec: AdapterSpec): string[] {
  return compile(graph, spec).diagnostics.map((d) => d.code);
}

/** Whether `key` is targeted, in a graph where the key and all its prefixes are Linear modules. */
function isTargeted(key: string, targetModules: string[] | string, layers: number[] | null, pattern: string[] | null): boolean {
  const parts = key.split(".");
  const modules: GraphModule[] = parts.map((_, k) => linear(parts.slice(0, k + 1).join(".")));
  modules.push(linear("unrelated_module"));
  const graph = graphOf(modules);
  const spec = adapter({
    target_modules: typeof targetModules === "string" ? { kind: "regex", pattern: targetModules } : { kind: "list", entries: targetModules },
    layers_to_transform: layers,
    layers_pattern: pattern,
  });
  try {
    return resolveAdapter(graph, spec, options).targets.some((i) => graph.modules[i]!.name === key);
  } catch (err) {
    if (err instanceof PeftcError && err.diagnostic.code === "no-target-match") return false;
    throw err;
  }
}

// PEFT's REGEX_TEST_CASES: (key, target_modules, layers_to_transform, layers_pattern, expected).
const PEFT_MATCHING_CASES: Array<[string, string[] | string, number[] | null, string[] | null, boolean]> = [
  ["foo", ["foo"], null, null, true],
  ["foo", ["bar"], null, null, false],
  ["foo", ["foo", "bar"], null, null, true],
  ["foo", "foo", null, null, true],
  ["foo", ".*oo", null, null, true],
  ["foo", "fo.*", null, null, true],
  ["foo", ".*bar.*", null, null, false],
  ["foobar", ".*oba.*", null, null, true],
  ["foo.bar.1.baz", ["baz"], [1], ["bar"], true],
  ["foo.bar.1.baz", ["baz"], [0], ["bar"], false],
  ["foo.bar.1.baz", ["baz"], [2], ["bar"], false],
  ["foo.bar.10.baz", ["baz"], [0], ["bar"], false],
  ["foo.bar.10.baz", ["baz"], [1], ["bar"], false],
  ["foo.bar.1.baz", ["baz"], [0, 1, 2], ["bar"], true],
  ["foo.bar.1.baz", ["baz", "spam"], [1], ["bar"], true],
  ["foo.whatever.1.baz", ["baz"], [1], null, true],
  ["foo.whatever.1.baz", ["baz"], [0], null, false],
  ["transformer.h.1.attn.attention.q_proj", ["q_proj"], null, null, true],
  ["transformer.h.1.attn.attention.resid_dropout", ["q_proj", "v_proj"], null, null, false],
  ["transformer.h.1.attn.attention.q_proj", ["q_proj"], [1], ["h"], true],
  ["transformer.h.1.attn.attention.q_proj", ["q_proj"], [0], ["h"], false],
  ["transformer.h.1.attn.attention.q_proj", ["q_proj", "v_proj"], [0, 1, 2], ["h"], true],
  ["foo.bar.q_proj", ["q_proj"], null, null, true],
  ["foo.bar.1.baz", ["baz"], [1], ["foo"], false],
  ["foo.bar.1.baz", ["baz"], [1], ["baz"], false],
  ["bar.1.baz", ["baz"], [1], ["bar"], false],
  ["foo.bar.001.baz", ["baz"], [1], ["bar"], true],
  ["foo.bar.1.spam.2.baz", ["baz"], [1], ["bar"], true],
  ["foo.bar.2.spam.1.baz", ["baz"], [1], ["bar"], false],
  ["mlp.blocks.1.weight", ["weight"], [1], ["blocks"], true],
  ["mlp.blocks.1.bias", ["weight"], [1], ["blocks"], false],
];

test("PEFT matching table", () => {
  for (const [key, targets, layers, pattern, expected] of PEFT_MATCHING_CASES) {
    assert.is(isTargeted(key, targets, layers, pattern), expected, `${key} ${JSON.stringify(targets)} layers=${JSON.stringify(layers)} pattern=${JSON.stringify(pattern)}`);
  }
});

test("exclude_modules regex must match the whole name", () => {
  const g = llamaGraph(2);
  const spec = adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, exclude_modules: { kind: "regex", pattern: ".*layers\\.1\\..*" } });
  assert.equal(targetNames(g, spec), ["model.layers.0.self_attn.q_proj"]);
  const partial = adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, exclude_modules: { kind: "regex", pattern: "layers\\.1" } });
  assert.equal(targetNames(g, partial).length, 2, "a regex that matches only part of the name excludes nothing");
  assert.ok(codes(g, partial).includes("exclude-unused"));
});

test("exclude_modules list matches a name or a dotted suffix", () => {
  const g = llamaGraph(2);
  const spec = adapter({ target_modules: { kind: "list", entries: ["q_proj", "v_proj"] }, exclude_modules: { kind: "list", entries: ["1.self_attn.q_proj", "proj"] } });
  assert.equal(targetNames(g, spec), ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.v_proj"]);
});

test("a saved module and its children are never targeted", () => {
  const g = llamaGraph(1);
  const spec = adapter({ target_modules: { kind: "regex", pattern: ".*proj" }, modules_to_save: ["mlp"] });
  const names = targetNames(g, spec);
  assert.equal(names, ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj", "model.layers.0.self_attn.o_proj"]);
  const plan = compile(g, spec).plan;
  assert.equal(plan.adapters[0]!.modules_to_save.map((s) => s.module), ["model.layers.0.mlp"]);
});

test("all-linear takes every Linear but the output embedding", () => {
  const g = llamaGraph(2);
  const names = targetNames(g, adapter({ target_modules: { kind: "all-linear", written: "ALL-LINEAR" } }));
  assert.is(names.length, 14);
  assert.not.ok(names.includes("lm_head"));
  assert.not.ok(names.includes("model.embed_tokens"));
});

test("all-linear leaves out a SEQ_CLS score head", () => {
  const modules: GraphModule[] = [embedding("model.embed_tokens"), linear("model.layers.0.self_attn.q_proj"), linear("score", 4, 2)];
  const g = graphOf(modules, { input_embeddings: "model.embed_tokens", output_embeddings: null });
  const result = compile(g, adapter({ target_modules: { kind: "all-linear", written: "all-linear" }, task_type: "SEQ_CLS" }));
  assert.equal(result.plan.adapters[0]!.targets.map((t) => t.module), ["model.layers.0.self_attn.q_proj"]);
  assert.equal(result.plan.adapters[0]!.modules_to_save.map((s) => s.module), ["score"]);
});

test("a regex string must match the whole name", () => {
  const g = llamaGraph(2);
  assert.equal(targetNames(g, adapter({ target_modules: { kind: "regex", pattern: "model\\.layers\\.0\\..*_proj" } })).length, 7);
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "regex", pattern: "q_proj" } }))), "no-target-match");
});

test("an exact full name is not filtered by layer", () => {
  const g = llamaGraph(3);
  const spec = adapter({ target_modules: { kind: "list", entries: ["model.layers.2.self_attn.q_proj", "v_proj"] }, layers_to_transform: [0] });
  assert.equal(targetNames(g, spec), ["model.layers.0.self_attn.v_proj", "model.layers.2.self_attn.q_proj"]);
});

test("the layer index is the first numeric segment", () => {
  // Lazy: in layers.1.experts.0 the layer is 1, not the expert index 0.
  const g = graphOf([linear("model.layers.0.mlp.experts.1.w1"), linear("model.layers.1.mlp.experts.0.w1")]);
  const spec = adapter({ target_modules: { kind: "list", entries: ["w1"] }, layers_to_transform: [1] });
  assert.equal(targetNames(g, spec), ["model.layers.1.mlp.experts.0.w1"]);
});

test("layers_pattern entries are tried in order", () => {
  const g = graphOf([linear("enc.block.0.q"), linear("enc.block.1.q"), linear("dec.layer.1.q")]);
  const spec = adapter({ target_modules: { kind: "list", entries: ["q"] }, layers_to_transform: [1], layers_pattern: ["block", "layer"] });
  assert.equal(targetNames(g, spec), ["enc.block.1.q", "dec.layer.1.q"]);
});

test("layers_to_transform with a string target is an error", () => {
  const g = llamaGraph(1);
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "regex", pattern: ".*q_proj" }, layers_to_transform: [0] }))), "invalid-combination");
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, layers_pattern: ["layers"] }))), "invalid-combination");
});

test("absent target_modules uses PEFT's default for the model type", () => {
  const g = llamaGraph(2);
  assert.equal(targetNames(g, adapter()), [
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.self_attn.v_proj",
  ]);
  const unknown = { ...g, model_type: "my_custom_arch" };
  assert.is(codeOf(() => targetNames(unknown, adapter())), "unknown-model-type");
});

test("a container is not a LoRA target", () => {
  const g = llamaGraph(1);
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: ["self_attn"] } }))), "unsupported-module");
});

test("fan_in_fan_out follows the layer type", () => {
  const g = graphOf([{ name: "transformer.h.0.attn.c_attn", type: "Conv1D", in_features: 8, out_features: 24, bias: true }, linear("transformer.h.0.mlp.fc")], { model_type: "gpt2" });
  const result = compile(g, adapter({ target_modules: { kind: "list", entries: ["c_attn", "fc"] }, fan_in_fan_out: false }));
  const targets = result.plan.adapters[0]!.targets;
  assert.equal(targets.map((t) => [t.kind, t.fan_in_fan_out]), [["conv1d_gpt2", true], ["linear", false]]);
  assert.ok(result.diagnostics.some((d) => d.code === "fan-in-fan-out-mismatch"));
  const quiet = compile(g, adapter({ target_modules: { kind: "list", entries: ["c_attn", "fc"] } }));
  assert.not.ok(quiet.diagnostics.some((d) => d.code === "fan-in-fan-out-mismatch"), "no warning when the spec did not set it");
});

test("the first rank_pattern key in written order wins", () => {
  const g = llamaGraph(2);
  const spec = adapter({
    target_modules: { kind: "list", entries: ["q_proj", "v_proj"] },
    r: 8,
    lora_alpha: 16,
    rank_pattern: [["q_proj", 16], ["model.layers.0.self_attn.q_proj", 4]],
    alpha_pattern: [["layers\\.1\\.self_attn\\.v_proj", 64]],
  });
  const t = compile(g, spec).plan.adapters[0]!.targets;
  const byName = new Map(t.map((x) => [x.module, x]));
  assert.is(byName.get("model.layers.0.self_attn.q_proj")!.r, 16, "'q_proj' is written first, so it wins over the full name");
  assert.is(byName.get("model.layers.0.self_attn.v_proj")!.r, 8);
  assert.is(byName.get("model.layers.1.self_attn.v_proj")!.alpha, 64);
  assert.is(byName.get("model.layers.1.self_attn.v_proj")!.scaling, 8);
  assert.is(byName.get("model.layers.0.self_attn.q_proj")!.scaling, 1);
});

test("a pattern key must match from a dot boundary", () => {
  const g = llamaGraph(1);
  const spec = adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, rank_pattern: [["_proj", 2]] });
  const result = compile(g, spec);
  assert.is(result.plan.adapters[0]!.targets[0]!.r, 8, "'_proj' does not start after a dot");
  assert.ok(result.diagnostics.some((d) => d.code === "pattern-unused"));
});

test("rslora scales by alpha over sqrt(r)", () => {
  const g = llamaGraph(1);
  const t = compile(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, r: 16, lora_alpha: 32, use_rslora: true })).plan.adapters[0]!.targets[0]!;
  assert.is(t.scaling, 8);
  // LoRA parameters of an 8x8 Linear at r=16: A 16x8 + B 8x16.
  assert.is(t.parameters, 256);
});

test("modules_to_save matches the end of the name without a dot boundary", () => {
  const g = llamaGraph(1);
  const result = compile(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, modules_to_save: ["head"] }));
  assert.equal(result.plan.adapters[0]!.modules_to_save.map((s) => s.module), ["lm_head"]);
  // lm_head is Linear 8 -> 32 without bias.
  assert.is(result.plan.adapters[0]!.modules_to_save[0]!.parameters, 256);
  assert.ok(result.diagnostics.some((d) => d.code === "save-partial-name"));
});

test("task types add their heads", () => {
  const g = graphOf([embedding("model.embed_tokens"), linear("model.layers.0.self_attn.q_proj"), linear("score", 4, 2), linear("qa_outputs", 4, 2)]);
  const seq = compile(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, task_type: "SEQ_CLS" }));
  assert.equal(seq.plan.adapters[0]!.modules_to_save.map((s) => s.module), ["score"]);
  assert.not.ok(seq.diagnostics.some((d) => d.code === "save-unused"), "the absent 'classifier' head is not reported");
  const qa = compile(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, task_type: "QUESTION_ANS" }));
  assert.equal(qa.plan.adapters[0]!.modules_to_save.map((s) => s.module), ["qa_outputs"]);
});

test("the four no-target errors", () => {
  const g = llamaGraph(1);
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, exclude_modules: { kind: "regex", pattern: ".*" } }))), "all-excluded");
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: [] } }))), "no-targets");
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: ["qproj"] } }))), "no-target-match");
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, exclude_modules: { kind: "list", entries: ["q_proj"] } }))), "no-target-after-exclude");
});

test("no-target-match names the layer filter", () => {
  const g = llamaGraph(2);
  try {
    targetNames(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, layers_to_transform: [5] }));
    assert.unreachable("expected an error");
  } catch (err) {
    assert.instance(err, PeftcError);
    assert.match((err as PeftcError).message, "layers_to_transform [5]");
    assert.match((err as PeftcError).message, "2 modules match by name");
  }
});

test("exclude-unused only when something was targeted", () => {
  const g = llamaGraph(1);
  assert.ok(codes(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, exclude_modules: { kind: "list", entries: ["vision_tower"] } })).includes("exclude-unused"));
  assert.not.ok(codes(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, exclude_modules: { kind: "list", entries: ["v_proj"] } })).includes("exclude-unused"));
});

test("every selector reports its match count", () => {
  const g = llamaGraph(3);
  const result = compile(g, adapter({
    target_modules: { kind: "list", entries: ["q_proj", "self_attn.q_proj", "x_proj"] },
    exclude_modules: { kind: "list", entries: ["0.self_attn.q_proj"] },
    modules_to_save: ["lm_head", "nothing_here"],
    rank_pattern: [["q_proj", 4]],
  }));
  assert.equal(result.resolved.counts.target_modules, [
    { entry: "q_proj", matched: 3 },
    { entry: "self_attn.q_proj", matched: 3 },
    { entry: "x_proj", matched: 0 },
  ]);
  assert.equal(result.resolved.counts.exclude_modules, [{ entry: "0.self_attn.q_proj", matched: 1 }]);
  assert.equal(result.resolved.counts.modules_to_save, [{ entry: "lm_head", matched: 1 }, { entry: "nothing_here", matched: 0 }]);
  assert.equal(result.resolved.counts.rank_pattern, [{ entry: "q_proj", matched: 2 }]);
  const found = result.diagnostics.map((d) => d.code);
  assert.ok(found.includes("target-unused"));
  assert.ok(found.includes("save-unused"));
});

test("list entries with regex syntax are flagged", () => {
  const g = llamaGraph(1);
  const found = codes(g, adapter({ target_modules: { kind: "list", entries: ["q_proj", ".*v_proj"] } }));
  assert.ok(found.includes("entry-looks-like-regex"));
});

test("a lookahead keeps the vision tower out", () => {
  const g = graphOf([linear("model.vision_tower.layers.0.q_proj"), linear("model.language_model.layers.0.q_proj")]);
  assert.equal(targetNames(g, adapter({ target_modules: { kind: "regex", pattern: "^(?!.*vision).*q_proj" } })), ["model.language_model.layers.0.q_proj"]);
});

test("target_parameters is rejected until it is supported", () => {
  const g = llamaGraph(1);
  assert.is(codeOf(() => targetNames(g, adapter({ target_modules: { kind: "list", entries: ["q_proj"] }, target_parameters: ["mlp.experts.gate_up_proj"] }))), "unsupported-feature");
});

test("trainable parameters add up per target", () => {
  const g = llamaGraph(2);
  const plan = compile(g, adapter({ target_modules: { kind: "list", entries: ["q_proj", "down_proj"] }, r: 2 })).plan;
  // q_proj 8x8: 2*(8+8)=32; down_proj 16->8: 2*(16+8)=48; two layers.
  assert.is(plan.adapters[0]!.trainable_parameters, 2 * (32 + 48));
});

test.run();

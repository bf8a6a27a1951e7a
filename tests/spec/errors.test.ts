import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSpec } from "../../compiler/spec/load.js";
import { formatDiagnostic } from "../../compiler/errors.js";
import { assertDiagnostic, specErrors } from "./helpers.js";

test("yaml syntax error", () => {
  const [d] = specErrors("r: 8\ntarget_modules: [q_proj, v_proj\nlora_alpha: 16\n");
  assert.is(d!.code, "yaml-syntax");
  assert.is(d!.line, 3, "the yaml library reports where the flow sequence breaks");
  assert.is(d!.col, 1);
  assert.ok(d!.message.startsWith("invalid YAML: "));
});

test("syntax error in a .json spec is a JSON error", () => {
  // PEFT reads adapter_config.json with json.load, so a .json spec must be strict JSON.
  const [d] = specErrors('{\n  "peft_type": "LORA",\n  "r": 8,,\n}', "adapter_config.json");
  assert.is(d!.code, "invalid-json");
  assert.is(d!.file, "adapter_config.json");
  assert.is(d!.line, 3);
  assert.is(d!.col, 10);
});

test("YAML flow syntax in a .json spec is rejected", () => {
  const [d] = specErrors("{'r': 8, target_modules: [q_proj]}", "adapter_config.json");
  assert.is(d!.code, "invalid-json");
  assert.is(d!.col, 2);
});

test("not-a-spec: plan, graph, model config", () => {
  const plan = specErrors('{\n  "format": "peftc-plan/1",\n  "model": {}\n}\n', "lora.plan.json");
  assertDiagnostic(plan[0], "not-a-spec", 2, 3, "this is a peftc plan (peftc-plan/1), not a spec; pass the spec it was compiled from");
  const graph = specErrors('{"modules": [], "format": "peftc-graph/1"}', "graph.json");
  assertDiagnostic(graph[0], "not-a-spec", 1, 17, "pass it as --model graph.json");
  const config = specErrors('{\n  "architectures": ["LlamaForCausalLM"],\n  "model_type": "llama"\n}', "config.json");
  assertDiagnostic(config[0], "not-a-spec", 2, 3, "this is a model's config.json, not a spec");
  // A spec may still have an `architectures` field next to LoRA fields: that is an unknown field.
  const spec = specErrors("r: 8\narchitectures: [x]\n");
  assertDiagnostic(spec[0], "unknown-field", 2, 1, "architectures");
});

test("wrong type names field, expected and found", () => {
  const [d] = specErrors("target_modules: [q_proj]\nr: eight\n");
  assertDiagnostic(d, "invalid-type", 2, 4, "r:");
  assert.ok(d!.message.includes("expected an integer >= 1"), d!.message);
  assert.ok(d!.message.includes('found "eight"'), d!.message);
});

test("wrong type in list element", () => {
  const [d] = specErrors("target_modules:\n  - q_proj\n  - 7\n");
  assertDiagnostic(d, "invalid-type", 3, 5, "target_modules[1]");
  assert.ok(d!.message.includes("expected a string, found 7"), d!.message);
});

test("wrong type in rank_pattern value", () => {
  const [d] = specErrors("rank_pattern:\n  q_proj: 16\n  model.layers.0.k_proj: big\n");
  assertDiagnostic(d, "invalid-type", 3, 26, 'rank_pattern["model.layers.0.k_proj"]');
});

test("wrong type in PEFT file", () => {
  const text = '{\n  "peft_type": "LORA",\n  "lora_alpha": "16",\n  "r": 8\n}';
  const [d] = specErrors(text, "adapter_config.json");
  assertDiagnostic(d, "invalid-type", 3, 17, "lora_alpha");
  assert.ok(d!.message.includes('found "16" (a string)'), d!.message);
});

test("near miss is an error with suggestion", () => {
  const [d] = specErrors("r: 8\nlora_aplha: 16\n");
  assertDiagnostic(d, "unknown-field", 2, 1, "lora_aplha");
  assert.ok(d!.message.includes("did you mean `lora_alpha`?"), d!.message);
  assert.is(d!.severity, "error");
});

test("near misses of several kinds", () => {
  const cases: Array<[string, string]> = [
    ["target_module", "target_modules"],
    ["alpha", "lora_alpha"],
    ["Lora-Dropout", "lora_dropout"],
    ["modules_to_safe", "modules_to_save"],
    ["ensure_weight_tieing", "ensure_weight_tying"],
  ];
  for (const [written, meant] of cases) {
    const [d] = specErrors(`r: 8\n${written}: 1\n`);
    assertDiagnostic(d, "unknown-field", 2, 1, written);
    assert.ok(d!.message.includes(`did you mean \`${meant}\`?`), d!.message);
  }
});

test("other unknown key is an error", () => {
  const [d] = specErrors("r: 8\nlearning_rate: 0.001\n");
  assertDiagnostic(d, "unknown-field", 2, 1, "learning_rate");
  assert.not.ok(d!.message.includes("did you mean"), d!.message);
});

test("unknown key in PEFT file is a warning kept as metadata", () => {
  const text = '{"peft_type": "LORA", "r": 4,\n "future_option": {"x": 1},\n "lora_aplha": 3}';
  const spec = parseSpec(text, "adapter_config.json");
  assert.is(spec.diagnostics.length, 2);
  const [future, typo] = spec.diagnostics;
  assertDiagnostic(future, "unknown-field", 2, 2, "future_option");
  assert.is(future!.severity, "warning");
  assertDiagnostic(typo, "unknown-field", 3, 2, "lora_aplha");
  assert.is(typo!.severity, "warning");
  assert.ok(typo!.message.includes("did you mean `lora_alpha`?"), typo!.message);
  const adapter = spec.adapters[0]!;
  assert.equal({ ...(adapter.metadata.future_option as object) }, { x: 1 });
  assert.is(adapter.metadata.lora_aplha, 3);
  assert.is(adapter.lora_alpha, 8, "PEFT ignores the misspelt key, so the default applies");
});

test("unknown key inside glob target", () => {
  const [d] = specErrors("target_modules:\n  globs: model.*.q_proj\n");
  assertDiagnostic(d, "unknown-field", 2, 3, "globs");
  assert.ok(d!.message.includes("did you mean `glob`?"), d!.message);
});

test("glob target in PEFT file is an error", () => {
  const [d] = specErrors('{"peft_type": "LORA",\n "target_modules": {"glob": "a.*"}}', "adapter_config.json");
  assertDiagnostic(d, "invalid-type", 2, 20, "target_modules");
});

test("duplicate key reports both positions", () => {
  const [d] = specErrors("r: 8\nlora_alpha: 16\nr: 16\n");
  assertDiagnostic(d, "duplicate-key", 3, 1, "`r`");
  assert.ok(d!.message.includes("line 1, column 1"), d!.message);
});

test("duplicate key in JSON", () => {
  const [d] = specErrors('{"peft_type": "LORA",\n "r": 8,\n "r": 16}', "adapter_config.json");
  assertDiagnostic(d, "duplicate-key", 3, 2, "`r`");
  assert.ok(d!.message.includes("line 2, column 2"), d!.message);
});

test("duplicate key nested in rank_pattern", () => {
  const [d] = specErrors("rank_pattern:\n  q_proj: 4\n  q_proj: 8\n");
  assertDiagnostic(d, "duplicate-key", 3, 3, "`q_proj`");
});

test("rank must be a positive integer", () => {
  for (const [value, found] of [["0", "0"], ["-4", "-4"], ["8.5", "8.5"], [".nan", ".nan"], [".inf", ".inf"]] as const) {
    const [d] = specErrors(`r: ${value}\n`);
    assertDiagnostic(d, value === "0" || value === "-4" ? "invalid-value" : "invalid-type", 1, 4, "r:");
    assert.ok(d!.message.includes(`found ${found}`), d!.message);
  }
});

test("negative alpha", () => {
  const [d] = specErrors("lora_alpha: -16\n");
  assertDiagnostic(d, "invalid-value", 1, 13, "lora_alpha");
  assert.ok(d!.message.includes(">= 0"), d!.message);
});

test("alpha NaN and infinity", () => {
  const [nan] = specErrors("lora_alpha: .NaN\n");
  assertDiagnostic(nan, "invalid-type", 1, 13, "lora_alpha");
  const [inf] = specErrors("alpha_pattern: {q_proj: -.inf}\n");
  assertDiagnostic(inf, "invalid-type", 1, 25, "alpha_pattern.q_proj");
});

test("dropout outside [0, 1)", () => {
  const [high] = specErrors("lora_dropout: 1\n");
  assertDiagnostic(high, "invalid-value", 1, 15, "lora_dropout");
  assert.ok(high!.message.includes("< 1"), high!.message);
  const [low] = specErrors("lora_dropout: -0.1\n");
  assertDiagnostic(low, "invalid-value", 1, 15, "lora_dropout");
});

test("layer indices must be non-negative integers", () => {
  const errors = specErrors("target_modules: [q_proj]\nlayers_to_transform: [0, -1, 2.5]\n");
  assert.is(errors.length, 2);
  assertDiagnostic(errors[0], "invalid-value", 2, 26, "layers_to_transform[1]");
  assertDiagnostic(errors[1], "invalid-type", 2, 30, "layers_to_transform[2]");
  const [single] = specErrors("target_modules: [q_proj]\nlayers_to_transform: -3\n");
  assertDiagnostic(single, "invalid-value", 2, 22, "layers_to_transform");
});

test("bias and init_lora_weights values", () => {
  const [bias] = specErrors("bias: some\n");
  assertDiagnostic(bias, "invalid-value", 1, 7, "bias");
  assert.ok(bias!.message.includes('"lora_only"'), bias!.message);
  const [init] = specErrors("init_lora_weights: guassian\n");
  assertDiagnostic(init, "invalid-value", 1, 20, "init_lora_weights");
  assert.ok(init!.message.includes("gaussian"), init!.message);
});

test("peft_type other than LORA", () => {
  const [d] = specErrors('{"peft_type": "IA3", "r": 8}', "adapter_config.json");
  assertDiagnostic(d, "unsupported-peft-type", 1, 15, "peft_type");
});

test("layers_to_transform with regex targets", () => {
  const [d] = specErrors("target_modules: '.*q_proj'\nlayers_to_transform: [0]\n");
  assertDiagnostic(d, "field-conflict", 2, 1, "layers_to_transform");
});

test("layers_pattern without layers_to_transform", () => {
  const [d] = specErrors("target_modules: [q_proj]\nlayers_pattern: layers\n");
  assertDiagnostic(d, "field-conflict", 2, 1, "layers_pattern");
});

test("every error is collected", () => {
  const errors = specErrors("r: 0\nlora_aplha: 1\nbias: x\nr: 2\n");
  assert.equal(
    errors.map((d) => `${d.line}:${d.code}`),
    ["1:invalid-value", "2:unknown-field", "3:invalid-value", "4:duplicate-key"],
  );
});

test("formatted as one line", () => {
  const [d] = specErrors("r: 8\nlora_aplha: 16\n", "specs/a.yaml");
  assert.is(formatDiagnostic(d!), "specs/a.yaml:2:1: error[unknown-field]: unknown field `lora_aplha`; did you mean `lora_alpha`?");
});

test("adapter errors name the adapter", () => {
  const [d] = specErrors("adapters:\n  small:\n    r: 0\n");
  assertDiagnostic(d, "invalid-value", 3, 8, "r:");
  assert.is(d!.adapter, "small");
  assert.ok(formatDiagnostic(d!).endsWith("(adapter small)"));
});

test("model inside an adapter", () => {
  const [d] = specErrors("adapters:\n  a:\n    model: x.json\n");
  assertDiagnostic(d, "unknown-field", 3, 5, "`model`");
});

test("invalid adapter name", () => {
  const [d] = specErrors("adapters:\n  my.adapter: {r: 4}\n");
  assertDiagnostic(d, "invalid-adapter-name", 2, 3, "my.adapter");
});

test("adapters must be a non-empty mapping", () => {
  const [list] = specErrors("adapters: [a, b]\n");
  assertDiagnostic(list, "invalid-type", 1, 11, "adapters");
  const [empty] = specErrors("adapters: {}\n");
  assertDiagnostic(empty, "invalid-type", 1, 11, "adapters");
  const [scalar] = specErrors("adapters:\n  a: 5\n");
  assertDiagnostic(scalar, "invalid-type", 2, 6, "adapters.a");
});

test("model must be a string", () => {
  const [d] = specErrors("model: 5\n");
  assertDiagnostic(d, "invalid-type", 1, 8, "model");
});

test.run();

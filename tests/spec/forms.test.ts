import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSpec } from "../../compiler/spec/load.js";

test("defaults are PEFT's LoraConfig defaults", () => {
  // PEFT v0.20 LoraConfig: r=8, lora_alpha=8, lora_dropout=0.0, bias="none", init_lora_weights=True,
  // target_modules/exclude_modules/modules_to_save/layers_*/trainable_token_indices/target_parameters=None,
  // rank_pattern/alpha_pattern={}, every boolean flag False.
  const spec = parseSpec("{}\n", "empty-map.yaml");
  const a = spec.adapters[0]!;
  assert.is(spec.adapters.length, 1);
  assert.is(a.name, "default");
  assert.is(a.r, 8);
  assert.is(a.lora_alpha, 8);
  assert.is(a.lora_dropout, 0);
  assert.is(a.bias, "none");
  assert.is(a.init_lora_weights, true);
  assert.is(a.target_modules, null);
  assert.is(a.exclude_modules, null);
  assert.is(a.layers_to_transform, null);
  assert.is(a.layers_pattern, null);
  assert.equal(a.rank_pattern, []);
  assert.equal(a.alpha_pattern, []);
  assert.is(a.modules_to_save, null);
  assert.is(a.trainable_token_indices, null);
  assert.is(a.target_parameters, null);
  assert.is(a.use_rslora, false);
  assert.is(a.use_dora, false);
  assert.is(a.lora_bias, false);
  assert.is(a.ensure_weight_tying, false);
  assert.is(a.fan_in_fan_out, null);
  assert.is(a.task_type, null);
  assert.equal(Object.keys(a.metadata), []);
  assert.is(a.positionOf(["r"]), undefined, "a default has no position");
  assert.is(spec.model, null);
  assert.is(spec.peft_file, false);
});

test("flat spec with model", () => {
  const spec = parseSpec("model: ../models/llama.json\nr: 16\nlora_alpha: 32\ntarget_modules: [q_proj, v_proj]\n", "specs/lora.yaml");
  assert.is(spec.model, "models/llama.json", "resolved against the spec's directory");
  assert.is(spec.adapters[0]!.r, 16);
  assert.equal(spec.adapters[0]!.target_modules, { kind: "list", entries: ["q_proj", "v_proj"] });
  assert.is(parseSpec("model: /abs/graph.json\n", "a/b.yaml").model, "/abs/graph.json");
});

test("target_modules forms", () => {
  const targets = (yaml: string) => parseSpec(`target_modules: ${yaml}\n`, "t.yaml").adapters[0]!.target_modules;
  assert.equal(targets("all-linear"), { kind: "all-linear", written: "all-linear" });
  assert.equal(targets("ALL-Linear"), { kind: "all-linear", written: "ALL-Linear" });
  assert.equal(targets("'.*\\.(q|v)_proj'"), { kind: "regex", pattern: ".*\\.(q|v)_proj" });
  assert.equal(targets("[q_proj, q_proj, v_proj]"), { kind: "list", entries: ["q_proj", "q_proj", "v_proj"] });
  assert.equal(targets("[]"), { kind: "list", entries: [] });
  assert.is(targets("null"), null);
  assert.equal(targets('{glob: "model.layers.*.self_attn.{q,v}_proj"}'), { kind: "glob", patterns: ["model.layers.*.self_attn.{q,v}_proj"] });
  assert.equal(targets("{glob: [a.*, b.**]}"), { kind: "glob", patterns: ["a.*", "b.**"] });
});

test("exclude_modules forms", () => {
  const exclude = (yaml: string) => parseSpec(`exclude_modules: ${yaml}\n`, "t.yaml").adapters[0]!.exclude_modules;
  assert.equal(exclude("'.*vision.*'"), { kind: "regex", pattern: ".*vision.*" });
  assert.equal(exclude("[lm_head, vision_tower]"), { kind: "list", entries: ["lm_head", "vision_tower"] });
  assert.is(exclude("null"), null);
});

test("layers_to_transform and layers_pattern", () => {
  const load = (yaml: string) => parseSpec(`target_modules: [q_proj]\n${yaml}`, "t.yaml").adapters[0]!;
  assert.equal(load("layers_to_transform: 3\n").layers_to_transform, [3]);
  assert.equal(load("layers_to_transform: [0, 2, 2]\n").layers_to_transform, [0, 2, 2]);
  assert.is(load("layers_to_transform: []\n").layers_to_transform, null);
  assert.equal(load("layers_to_transform: 1\nlayers_pattern: layers\n").layers_pattern, ["layers"]);
  assert.equal(load("layers_to_transform: 1\nlayers_pattern: [h, layers]\n").layers_pattern, ["h", "layers"]);
  assert.is(load("layers_pattern: ''\n").layers_pattern, null);
  assert.is(load("layers_pattern: []\n").layers_pattern, null);
});

test("rank_pattern keeps written order", () => {
  // Integer-like keys would come first in a plain JS object; the order written must survive.
  const a = parseSpec("rank_pattern:\n  q_proj: 4\n  '12': 16\n  model.layers.0.k_proj: 32\nalpha_pattern: {v_proj: 8, '3': 2}\n", "t.yaml").adapters[0]!;
  assert.equal(a.rank_pattern, [["q_proj", 4], ["12", 16], ["model.layers.0.k_proj", 32]]);
  assert.equal(a.alpha_pattern, [["v_proj", 8], ["3", 2]]);
});

test("trainable_token_indices forms", () => {
  const tokens = (yaml: string) => parseSpec(`trainable_token_indices: ${yaml}\n`, "t.yaml").adapters[0]!.trainable_token_indices;
  assert.equal(tokens("[0, 5, 7]"), [0, 5, 7]);
  assert.equal({ ...(tokens("{embed_tokens: [1, 2]}") as object) }, { embed_tokens: [1, 2] });
});

test("metadata holds non-planning fields", () => {
  const a = parseSpec("r: 4\nbase_model_name_or_path: meta-llama/Llama-3.2-1B\nrevision: main\nloftq_config: {}\n", "t.yaml").adapters[0]!;
  assert.equal(Object.keys(a.metadata), ["base_model_name_or_path", "revision", "loftq_config"]);
  assert.is(a.metadata.revision, "main");
  assert.not.ok("r" in a.metadata);
});

test("named adapters inherit top-level defaults", () => {
  const text = [
    "model: graph.json",
    "lora_alpha: 32",
    "target_modules: [q_proj, v_proj]",
    "rank_pattern: {q_proj: 4}",
    "adapters:",
    "  small:",
    "    r: 4",
    "  big:",
    "    r: 64",
    "    target_modules: {glob: 'model.layers.*.mlp.*'}",
    "    rank_pattern: {down_proj: 32}",
    "  plain:",
    "",
  ].join("\n");
  const spec = parseSpec(text, "multi.yaml");
  assert.equal(spec.adapters.map((a) => a.name), ["small", "big", "plain"]);
  const [small, big, plain] = spec.adapters;
  assert.is(small!.r, 4);
  assert.is(small!.lora_alpha, 32);
  assert.equal(small!.target_modules, { kind: "list", entries: ["q_proj", "v_proj"] });
  assert.equal(small!.rank_pattern, [["q_proj", 4]]);
  assert.is(big!.r, 64);
  assert.is(big!.lora_alpha, 32);
  assert.equal(big!.target_modules, { kind: "glob", patterns: ["model.layers.*.mlp.*"] });
  assert.equal(big!.rank_pattern, [["down_proj", 32]], "an override replaces the whole mapping");
  assert.is(plain!.r, 8, "PEFT default when neither the adapter nor the top level sets r");
  assert.is(plain!.lora_alpha, 32);
  assert.not.ok("model" in small!.metadata);
  assert.not.ok("adapters" in small!.metadata);
  assert.is(spec.model, "graph.json");
  // Positions come from where each field is written: the adapter's own block, else the top level.
  assert.equal(small!.positionOf(["r"]), { line: 7, col: 5 });
  assert.equal(small!.positionOf(["lora_alpha"]), { line: 2, col: 1 });
  assert.equal(big!.positionOf(["rank_pattern", "down_proj"]), { line: 11, col: 20 });
  assert.equal(small!.positionOf(["rank_pattern", "q_proj"]), { line: 4, col: 16 });
});

test("positions of fields, elements and keys", () => {
  const text = "r: 16\ntarget_modules:\n  - q_proj\n  - v_proj\nrank_pattern:\n  'model.layers.0.q_proj': 8\nlayers_to_transform: [0, 1]\n";
  const a = parseSpec(text, "t.yaml").adapters[0]!;
  assert.equal(a.positionOf(["r"]), { line: 1, col: 1 });
  assert.equal(a.positionOf(["target_modules"]), { line: 2, col: 1 });
  assert.equal(a.positionOf(["target_modules", 0]), { line: 3, col: 5 });
  assert.equal(a.positionOf(["target_modules", 1]), { line: 4, col: 5 });
  assert.equal(a.positionOf(["rank_pattern", "model.layers.0.q_proj"]), { line: 6, col: 3 });
  assert.equal(a.positionOf(["layers_to_transform", 1]), { line: 7, col: 26 });
  assert.is(a.positionOf(["target_modules", 5]), undefined);
  assert.is(a.positionOf(["exclude_modules"]), undefined);
});

test("positions with CRLF line endings", () => {
  const a = parseSpec("r: 16\r\ntarget_modules:\r\n  - q_proj\r\n  - v_proj\r\n", "t.yaml").adapters[0]!;
  assert.equal(a.positionOf(["target_modules", 1]), { line: 4, col: 5 });
  assert.is(a.r, 16);
});

test("aliases expand and keep their own position", () => {
  const text = "target_modules: &targets [q_proj, v_proj]\nadapters:\n  a: {r: 4}\n  b:\n    target_modules: *targets\n";
  const [a, b] = parseSpec(text, "t.yaml").adapters;
  assert.equal(a!.target_modules, b!.target_modules);
  assert.equal(b!.positionOf(["target_modules"]), { line: 5, col: 5 });
});

test("JSON spec without peft_type is the YAML form", () => {
  const spec = parseSpec('{"r": 4, "target_modules": {"glob": "a.*"}}', "spec.json");
  assert.is(spec.peft_file, false);
  assert.equal(spec.adapters[0]!.target_modules, { kind: "glob", patterns: ["a.*"] });
});

test.run();

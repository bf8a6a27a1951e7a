/**
 * Weight tying on the cases PEFT's own
 * weight-tying tests use: a tied causal LM, an untied one, one tied in the architecture but with
 * tie_word_embeddings false, and an encoder-decoder with shared + encoder/decoder embed_tokens +
 * lm_head. Expected outcomes follow the tie table in the README.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PeftcError } from "../../compiler/errors.js";
import type { Graph } from "../../compiler/graph/types.js";
import { buildPlan } from "../../compiler/plan/build.js";
import { validatePlan } from "../../compiler/plan/validate.js";
import { resolveAdapter } from "../../compiler/resolve/targets.js";
import { tieGroupsOf } from "../../compiler/resolve/tie-groups.js";
import type { AdapterSpec, TargetSelector } from "../../compiler/spec/types.js";
import { adapter, embedding, graphOf, linear, llamaGraph } from "./helpers.js";

const options = { specFile: "spec.yaml", defaultTargetModules: () => undefined };

function compile(graph: Graph, spec: AdapterSpec) {
  const resolved = resolveAdapter(graph, spec, options);
  const built = buildPlan(graph, [resolved], "spec.yaml");
  validatePlan(built.plan);
  return built;
}

const list = (...entries: string[]): TargetSelector => ({ kind: "list", entries });
const regex = (pattern: string): TargetSelector => ({ kind: "regex", pattern });

/** T5-style encoder-decoder: shared, encoder/decoder embed_tokens and lm_head are one tensor. */
function t5Graph(tie = true): Graph {
  return graphOf(
    [
      embedding("shared", 32, 8),
      embedding("encoder.embed_tokens", 32, 8),
      linear("encoder.block.0.layer.0.SelfAttention.q", 8, 8),
      linear("encoder.block.0.layer.0.SelfAttention.v", 8, 8),
      embedding("decoder.embed_tokens", 32, 8),
      linear("decoder.block.0.layer.0.SelfAttention.q", 8, 8),
      linear("decoder.block.0.layer.0.SelfAttention.v", 8, 8),
      linear("lm_head", 8, 32),
    ],
    {
      model_type: "t5",
      config: { tie_word_embeddings: tie },
      tied_weights_keys: { "encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight", "lm_head.weight": "shared.weight" },
      input_embeddings: "shared",
      output_embeddings: "lm_head",
    },
  );
}

test("tie groups: tied causal LM", () => {
  assert.equal(tieGroupsOf(llamaGraph(1, { tied: true })), [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"] }]);
});

test("tie groups: tie_word_embeddings false removes the embedding tie", () => {
  assert.equal(tieGroupsOf(llamaGraph(1, { tied: false })), []);
});

test("tie groups: encoder-decoder embeddings form one group around shared", () => {
  assert.equal(tieGroupsOf(t5Graph()), [{ id: "shared.weight", source: "shared", members: ["encoder.embed_tokens", "decoder.embed_tokens", "lm_head"] }]);
});

test("tie groups: the transformers v4 list form ties to the input embedding", () => {
  const g = { ...llamaGraph(1, { tied: true }), tied_weights_keys: ["lm_head.weight"] };
  assert.equal(tieGroupsOf(g), [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"] }]);
});

test("tie groups: a submodule declaration is relative to the submodule", () => {
  const g = graphOf([embedding("model.shared"), embedding("model.decoder.embed_tokens"), linear("model.decoder.layers.0.q")], {
    module_tied_weights_keys: { model: { "decoder.embed_tokens.weight": "shared.weight" } },
    input_embeddings: "model.shared",
  });
  assert.equal(tieGroupsOf(g), [{ id: "model.shared.weight", source: "model.shared", members: ["model.decoder.embed_tokens"] }]);
});

test("tie groups: the source is found by identity, not by name", () => {
  const g = graphOf([embedding("transformer.wte"), linear("transformer.h.0.attn.c_attn"), linear("lm_head", 4, 10)], {
    model_type: "gpt2",
    config: {},
    tied_weights_keys: { "lm_head.weight": "transformer.wte.weight" },
    input_embeddings: "transformer.wte",
    output_embeddings: "lm_head",
  });
  assert.equal(tieGroupsOf(g)[0]!.source, "transformer.wte");
});

// Every way of naming only the output embedding, or only the input embedding, or both.
const TARGET_FORMS: Array<[string, TargetSelector]> = [
  ["lm_head list", list("q_proj", "lm_head")],
  ["embed_tokens list", list("q_proj", "embed_tokens")],
  ["both list", list("q_proj", "embed_tokens", "lm_head")],
  ["lm_head regex", regex(".*(q_proj|lm_head)$")],
  ["embed_tokens regex", regex(".*(q_proj|embed_tokens)$")],
  ["both regex", regex(".*(q_proj|embed_tokens|lm_head)$")],
  ["glob", { kind: "glob", patterns: ["**.q_proj", "lm_head"] }],
];

for (const [label, targets] of TARGET_FORMS) {
  test(`shared_adapter: ${label} shares one adapter hosted on the embedding`, () => {
    const plan = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: targets, ensure_weight_tying: true, r: 4 })).plan;
    const a = plan.adapters[0]!;
    assert.equal(a.tie_groups, [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"], mode: "shared_adapter" }]);
    const emb = a.targets.find((t) => t.module === "model.embed_tokens")!;
    const head = a.targets.find((t) => t.module === "lm_head")!;
    assert.equal(emb.tie, { group: "model.embed_tokens.weight", role: "source", orientation: "same" });
    assert.equal(head.tie, { group: "model.embed_tokens.weight", role: "member", orientation: "transposed" });
    // Embedding 32 x 8 at r=4: lora_embedding_A 4x32 + lora_embedding_B 8x4 = 160, counted once.
    assert.is(emb.parameters, 160);
    assert.is(head.parameters, 0);
    // q_proj 8x8 at r=4 = 64.
    assert.is(a.trainable_parameters, 160 + 64);
  });
}

test("shared_adapter: tied members take the source's rank (tie-pattern-conflict)", () => {
  const built = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("lm_head"), ensure_weight_tying: true, r: 4, rank_pattern: [["lm_head", 16]] }));
  const head = built.plan.adapters[0]!.targets.find((t) => t.module === "lm_head")!;
  assert.is(head.r, 4);
  assert.ok(built.diagnostics.some((d) => d.code === "tie-pattern-conflict"));
});

test("shared_adapter: an excluded member still shares (tie-overrides-exclude)", () => {
  const built = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("q_proj", "embed_tokens"), exclude_modules: { kind: "list", entries: ["lm_head"] }, ensure_weight_tying: true }));
  assert.ok(built.plan.adapters[0]!.targets.some((t) => t.module === "lm_head"));
  assert.ok(built.diagnostics.some((d) => d.code === "tie-overrides-exclude"));
});

test("all-linear leaves the output embedding out, so nothing is tied", () => {
  const built = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: { kind: "all-linear", written: "all-linear" }, ensure_weight_tying: true }));
  const a = built.plan.adapters[0]!;
  assert.not.ok(a.targets.some((t) => t.module === "lm_head" || t.module === "model.embed_tokens"));
  assert.equal(a.tie_groups, []);
  assert.ok(built.diagnostics.some((d) => d.code === "tie-nothing-to-tie"));
});

for (const save of [["embed_tokens"], ["lm_head"], ["embed_tokens", "lm_head"]]) {
  test(`shared_copy: modules_to_save ${JSON.stringify(save)} gives one copy on the source`, () => {
    const a = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("q_proj"), modules_to_save: save, ensure_weight_tying: true })).plan.adapters[0]!;
    assert.equal(a.tie_groups.map((g) => g.mode), ["shared_copy"]);
    assert.equal(a.modules_to_save.map((s) => [s.module, s.tie?.role, s.parameters]), [
      ["model.embed_tokens", "source", 32 * 8],
      ["lm_head", "member", 0],
    ]);
  });
}

test("shared_copy wins over the target path", () => {
  const a = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("q_proj", "embed_tokens"), modules_to_save: ["lm_head"], ensure_weight_tying: true })).plan.adapters[0]!;
  assert.equal(a.tie_groups.map((g) => g.mode), ["shared_copy"]);
  assert.not.ok(a.targets.some((t) => t.module === "model.embed_tokens"));
});

test("shared_tokens: trainable tokens train the source rows once", () => {
  const a = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("q_proj"), trainable_token_indices: [1, 2, 3], ensure_weight_tying: true })).plan.adapters[0]! as unknown as {
    tie_groups: Array<{ mode: string }>;
    trainable_tokens: Array<{ module: string; parameters: number }>;
  };
  assert.equal(a.tie_groups.map((g) => g.mode), ["shared_tokens"]);
  assert.equal(a.trainable_tokens.map((t) => [t.module, t.parameters]), [["model.embed_tokens", 24], ["lm_head", 0]]);
});

test("tie-token-conflict: two members with different token lists", () => {
  try {
    compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("q_proj"), trainable_token_indices: { embed_tokens: [1], lm_head: [2] }, ensure_weight_tying: true }));
    assert.unreachable("expected tie-token-conflict");
  } catch (err) {
    assert.instance(err, PeftcError);
    assert.is((err as PeftcError).diagnostic.code, "tie-token-conflict");
  }
});

test("without ensure_weight_tying the group is untied and warned", () => {
  const built = compile(llamaGraph(1, { tied: true }), adapter({ target_modules: list("q_proj", "lm_head") }));
  const a = built.plan.adapters[0]!;
  assert.equal(a.tie_groups.map((g) => g.mode), ["untied"]);
  assert.is(a.targets.find((t) => t.module === "lm_head")!.tie, null);
  assert.not.ok(a.targets.some((t) => t.module === "model.embed_tokens"));
  assert.ok(built.diagnostics.some((d) => d.code === "tie-not-ensured"));
});

test("tie-no-tied-weights: untied model, or tie_word_embeddings false", () => {
  const built = compile(llamaGraph(1, { tied: false }), adapter({ target_modules: list("q_proj", "lm_head"), ensure_weight_tying: true }));
  assert.ok(built.diagnostics.some((d) => d.code === "tie-no-tied-weights"));
  assert.equal(built.plan.adapters[0]!.tie_groups, []);
});

test("encoder-decoder: naming lm_head ties every embedding to shared", () => {
  const a = compile(t5Graph(), adapter({ target_modules: list("q", "v", "lm_head"), ensure_weight_tying: true })).plan.adapters[0]!;
  const tied = a.targets.filter((t) => t.tie !== null).map((t) => [t.module, t.tie!.role, t.tie!.orientation]);
  assert.equal(tied, [
    ["shared", "source", "same"],
    ["encoder.embed_tokens", "member", "same"],
    ["decoder.embed_tokens", "member", "same"],
    ["lm_head", "member", "transposed"],
  ]);
});

test("encoder-decoder: a nested embed_tokens regex involves the group", () => {
  const a = compile(t5Graph(), adapter({ target_modules: regex(".*decoder\\.embed_tokens$"), ensure_weight_tying: true })).plan.adapters[0]!;
  assert.equal(a.targets.map((t) => t.module), ["shared", "encoder.embed_tokens", "decoder.embed_tokens", "lm_head"]);
});

test.run();

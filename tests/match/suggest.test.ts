import { test } from "uvu";
import * as assert from "uvu/assert";

import { suggestKey, suggestNames } from "../../compiler/match/suggest.js";

const LLAMA: string[] = ["model.embed_tokens"];
for (let layer = 0; layer < 32; layer++) {
  for (const name of ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]) {
    LLAMA.push(`model.layers.${layer}.${name}`);
  }
}
LLAMA.push("model.norm", "lm_head");

test("last segment typo", () => {
  // Edit distances from "q_prj": q_proj 1; k_proj, v_proj, o_proj 2; up_proj 3 (over the limit of 2).
  assert.equal(suggestNames("q_prj", LLAMA), ["q_proj", "k_proj", "o_proj", "v_proj"]);
});

test("limit and max distance", () => {
  assert.equal(suggestNames("q_prj", LLAMA, { limit: 2 }), ["q_proj", "k_proj"]);
  assert.equal(suggestNames("q_prj", LLAMA, { maxDistance: 1 }), ["q_proj"]);
});

test("two-segment entry", () => {
  assert.equal(suggestNames("self_atn.v_proj", LLAMA, { limit: 1 }), ["self_attn.v_proj"]);
});

test("full name keeps the entry's layer index", () => {
  assert.equal(suggestNames("model.layers.7.self_attn.q_prj", LLAMA, { limit: 1 }), ["model.layers.7.self_attn.q_proj"]);
});

test("wrong layer index is suggested with an existing one", () => {
  // Layer 40 does not exist; the name with the same shape is offered.
  assert.equal(suggestNames("model.layers.40.self_attn.q_proj", LLAMA, { limit: 1 }), ["model.layers.0.self_attn.q_proj"]);
});

test("nothing close", () => {
  assert.equal(suggestNames("vision_tower", LLAMA), []);
});

test("exact name is not suggested", () => {
  assert.equal(suggestNames("lm_head", ["lm_head", "lm_heads"]), ["lm_heads"]);
});

test("a million names", () => {
  const names: string[] = [];
  for (let layer = 0; layer < 250_000; layer++) {
    for (const name of ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.down_proj"]) names.push(`model.layers.${layer}.${name}`);
  }
  assert.equal(suggestNames("down_prj", names), ["down_proj"]);
  assert.equal(suggestNames("model.layers.123456.mlp.down_prj", names, { limit: 1 }), ["model.layers.123456.mlp.down_proj"]);
});

const KEYS = ["r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "modules_to_save", "rank_pattern", "alpha_pattern"];

test("key did-you-mean", () => {
  assert.is(suggestKey("lora_aplha", KEYS), "lora_alpha");
  assert.is(suggestKey("target_module", KEYS), "target_modules");
  assert.is(suggestKey("lora_droput", KEYS), "lora_dropout");
  assert.is(suggestKey("rank_patern", KEYS), "rank_pattern");
});

test("key without a near miss", () => {
  assert.is(suggestKey("base_model_name_or_path", KEYS), undefined);
  assert.is(suggestKey("zz", KEYS), undefined);
});

test("key tie goes to the first in sort order", () => {
  // "ab" is one edit from both "aa" and "ac".
  assert.is(suggestKey("ab", ["ac", "aa"]), "aa");
});

test.run();

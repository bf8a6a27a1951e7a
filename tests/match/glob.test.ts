import { test } from "uvu";
import * as assert from "uvu/assert";

import { PeftcError } from "../../compiler/errors.js";
import { compileGlob } from "../../compiler/match/glob.js";

const NAMES = [
  "model.embed_tokens",
  "model.layers.0.self_attn.q_proj",
  "model.layers.0.self_attn.k_proj",
  "model.layers.0.self_attn.v_proj",
  "model.layers.0.mlp.down_proj",
  "model.layers.12.self_attn.q_proj",
  "model.layers.12.self_attn.v_proj",
  "model.layers.12.mlp.experts.3.down_proj",
  "model.vision_tower.encoder.layers.0.self_attn.q_proj",
  "lm_head",
];

function select(glob: string, names: readonly string[] = NAMES): string[] {
  return Array.from(compileGlob(glob).selectMatching(names), (i) => names[i]!);
}

function catchPeftcError(run: () => unknown): PeftcError {
  try {
    run();
  } catch (error) {
    if (error instanceof PeftcError) return error;
    throw error;
  }
  throw new Error("expected a PeftcError");
}

test("star stays within one segment", () => {
  assert.equal(select("model.layers.*.self_attn.{q,v}_proj"), [
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.12.self_attn.q_proj",
    "model.layers.12.self_attn.v_proj",
  ]);
  assert.equal(select("model.*.down_proj"), []);
  assert.equal(select("*"), ["lm_head"]);
  assert.equal(select("model.layers.0.*_proj"), []);
});

test("globstar crosses several segments", () => {
  assert.equal(select("model.**.down_proj"), ["model.layers.0.mlp.down_proj", "model.layers.12.mlp.experts.3.down_proj"]);
  assert.equal(select("**.q_proj"), [
    "model.layers.0.self_attn.q_proj",
    "model.layers.12.self_attn.q_proj",
    "model.vision_tower.encoder.layers.0.self_attn.q_proj",
  ]);
  // `**` also matches zero segments.
  assert.equal(select("**.lm_head"), ["lm_head"]);
  assert.equal(select("model.**"), NAMES.filter((n) => n.startsWith("model.")));
});

test("braces, ranges and classes", () => {
  assert.equal(select("model.layers.{0,12}.mlp.down_proj"), ["model.layers.0.mlp.down_proj"]);
  assert.equal(select("model.layers.[0-9].self_attn.q_proj"), ["model.layers.0.self_attn.q_proj"]);
  assert.equal(select("model.layers.{10..12}.self_attn.q_proj"), ["model.layers.12.self_attn.q_proj"]);
  assert.equal(select("model.layers.{0..12..6}.self_attn.v_proj"), ["model.layers.0.self_attn.v_proj", "model.layers.12.self_attn.v_proj"]);
  assert.equal(select("model.layers.{1..11}.self_attn.v_proj"), []);
  assert.equal(select("model.layers.*.self_attn.[!q]_proj"), ["model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj", "model.layers.12.self_attn.v_proj"]);
});

test("glob must cover the whole name", () => {
  assert.equal(select("self_attn.q_proj"), []);
  assert.equal(select("model.layers.0"), []);
});

test("slash in a module name is an ordinary character", () => {
  const names = ["blocks.a/b.proj", "blocks.a.b.proj"];
  assert.equal(select("blocks.*.proj", names), ["blocks.a/b.proj"]);
  assert.equal(select("blocks.a/b.proj", names), ["blocks.a/b.proj"]);
  assert.equal(select("blocks.a.b.proj", names), ["blocks.a.b.proj"]);
});

test("single-name test", () => {
  const glob = compileGlob("model.layers.*.self_attn.{q,v}_proj");
  assert.is(glob.test("model.layers.3.self_attn.v_proj"), true);
  assert.is(glob.test("model.layers.3.self_attn.k_proj"), false);
  assert.is(glob.test("model.layers.3.x.self_attn.v_proj"), false);
});

test("invalid globs name their offset", () => {
  const cases: Array<[string, number]> = [
    ["model.layers.[0-9.q_proj", 13],
    ["model.{q,v_proj", 6],
    ["model.@(q|v_proj", 7],
    ["model.q_proj}", 12],
    ["model.q_proj]", 12],
    ["model..q_proj", 5],
    [".q_proj", 0],
    ["q_proj.", 6],
    ["", 0],
  ];
  for (const [glob, offset] of cases) {
    const error = catchPeftcError(() => compileGlob(glob, { file: "s.yaml", line: 5, col: 14, field: "target_modules" }));
    assert.is(error.diagnostic.code, "glob-invalid", glob);
    assert.is(error.diagnostic.file, "s.yaml");
    assert.is(error.diagnostic.line, 5);
    assert.is(error.diagnostic.col, 14 + offset, glob);
    assert.ok(error.message.includes("target_modules"), error.message);
  }
});

test.run();

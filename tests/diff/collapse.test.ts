import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { collapseModules, expandCollapsed, writeIndexSet } from "../../compiler/diff/collapse.js";

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sorted = (names: Iterable<string>): string[] => [...new Set(names)].sort();

test("layers collapse into one range", () => {
  const names = range(0, 27).map((i) => `model.layers.${i}.self_attn.q_proj`);
  assert.equal(collapseModules(names), [{ pattern: "model.layers.{0–27}.self_attn.q_proj", count: 28 }]);
});

test("gaps become ranges and lists", () => {
  const names = [0, 1, 2, 3, 5, 7, 8, 9].map((i) => `model.layers.${i}.mlp.down_proj`);
  assert.equal(collapseModules(names), [{ pattern: "model.layers.{0–3,5,7–9}.mlp.down_proj", count: 8 }]);
  assert.is(writeIndexSet([4, 5]), "4,5");
  assert.is(writeIndexSet([4, 5, 6]), "4–6");
  assert.is(writeIndexSet([0, 2, 4]), "0,2,4");
});

test("single name stays as written", () => {
  assert.equal(collapseModules(["lm_head"]), [{ pattern: "lm_head", count: 1 }]);
  assert.equal(collapseModules(["model.layers.3.self_attn.q_proj"]), [{ pattern: "model.layers.3.self_attn.q_proj", count: 1 }]);
});

test("patterns keep first-seen order", () => {
  const names = ["model.embed_tokens", ...range(0, 3).flatMap((i) => [`model.layers.${i}.self_attn.q_proj`, `model.layers.${i}.self_attn.v_proj`]), "lm_head"];
  assert.equal(collapseModules(names), [
    { pattern: "model.embed_tokens", count: 1 },
    { pattern: "model.layers.{0–3}.self_attn.q_proj", count: 4 },
    { pattern: "model.layers.{0–3}.self_attn.v_proj", count: 4 },
    { pattern: "lm_head", count: 1 },
  ]);
});

test("full expert grid is one product", () => {
  const names = range(0, 3).flatMap((layer) => range(0, 7).map((expert) => `model.layers.${layer}.mlp.experts.${expert}.w1`));
  assert.equal(collapseModules(names), [{ pattern: "model.layers.{0–3}.mlp.experts.{0–7}.w1", count: 32 }]);
});

test("partial expert grid splits into products", () => {
  // Layers 0-2 target all eight experts, layer 3 only experts 0-3 (one 8-expert product would claim 4-7 there too).
  const names = [...range(0, 2).flatMap((layer) => range(0, 7).map((e) => `model.layers.${layer}.mlp.experts.${e}.w1`)), ...range(0, 3).map((e) => `model.layers.3.mlp.experts.${e}.w1`)];
  assert.equal(collapseModules(names), [
    { pattern: "model.layers.{0–2}.mlp.experts.{0–7}.w1", count: 24 },
    { pattern: "model.layers.3.mlp.experts.{0–3}.w1", count: 4 },
  ]);
  assert.equal(sorted(expandCollapsed(collapseModules(names))), sorted(names));
});

test("non-canonical indices stay literal", () => {
  const names = ["blocks.007.fc", "blocks.7.fc", "blocks.8.fc"];
  const collapsed = collapseModules(names);
  assert.equal(collapsed, [
    { pattern: "blocks.007.fc", count: 1 },
    { pattern: "blocks.{7,8}.fc", count: 2 },
  ]);
  assert.equal(sorted(expandCollapsed(collapsed)), sorted(names));
});

test("braces in names are escaped", () => {
  const names = ["heads.{a}.0", "heads.{a}.1", "heads.x\\y"];
  const collapsed = collapseModules(names);
  assert.equal(collapsed, [
    { pattern: "heads.\\{a\\}.{0,1}", count: 2 },
    { pattern: "heads.x\\\\y", count: 1 },
  ]);
  assert.equal(sorted(expandCollapsed(collapsed)), sorted(names));
});

test("duplicates counted once", () => {
  assert.equal(collapseModules(["a.0.b", "a.0.b", "a.1.b"]), [{ pattern: "a.{0,1}.b", count: 2 }]);
});

test("expand reads hyphens and rejects bad patterns", () => {
  assert.equal(expandCollapsed("l.{1-3}.q"), ["l.1.q", "l.2.q", "l.3.q"]);
  assert.equal(expandCollapsed({ pattern: "l.{1–2}.e.{0,5}", count: 4 }), ["l.1.e.0", "l.1.e.5", "l.2.e.0", "l.2.e.5"]);
  assert.throws(() => expandCollapsed("l.{1–3.q"), /not closed/);
  assert.throws(() => expandCollapsed("l.{3–1}.q"), /runs backwards/);
  assert.throws(() => expandCollapsed("l.{a}.q"), /not an index/);
  assert.throws(() => expandCollapsed("l.1}.q"), /no matching/);
  assert.throws(() => expandCollapsed("l.{0–9999}.e.{0–9999}"), /more than/);
});

// Module names over a few templates, with layer indices and expert indices nested inside layers.
// Small index ranges make repeated, overlapping and partly filled grids likely.
const index = fc.integer({ min: 0, max: 12 });
const moduleName = fc.oneof(
  fc.tuple(index, fc.constantFrom("q_proj", "k_proj", "v_proj")).map(([l, p]) => `model.layers.${l}.self_attn.${p}`),
  fc.tuple(index, fc.integer({ min: 0, max: 7 }), fc.constantFrom("w1", "w2")).map(([l, e, w]) => `model.layers.${l}.mlp.experts.${e}.${w}`),
  fc.tuple(index, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })).map(([a, b, c]) => `encoder.block.${a}.layer.${b}.sub.${c}`),
  fc.constantFrom("lm_head", "model.embed_tokens", "score", "blocks.01.fc", "heads.{0}.proj"),
);

test("expand inverts collapse on random sets", () => {
  fc.assert(
    fc.property(fc.array(moduleName, { maxLength: 300 }), (names) => {
      const collapsed = collapseModules(names);
      const expanded = expandCollapsed(collapsed);
      // The same set, and no name listed twice: the products are disjoint.
      assert.equal(sorted(expanded), sorted(names));
      assert.is(expanded.length, new Set(names).size);
      for (const group of collapsed) assert.is(expandCollapsed(group).length, group.count);
    }),
    { numRuns: 500 },
  );
});

test("dense expert grids collapse to one line per template", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 16 }), (layers, experts) => {
      const names = range(0, layers - 1).flatMap((l) => range(0, experts - 1).map((e) => `model.layers.${l}.mlp.experts.${e}.w1`));
      const collapsed = collapseModules(names);
      assert.is(collapsed.length, 1);
      assert.is(collapsed[0]!.count, layers * experts);
    }),
  );
});

test.run();

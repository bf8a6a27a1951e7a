/**
 * The compiler's shortcuts for large graphs must give exactly what the plain algorithm gives:
 * each glob of a target list run over every module name.
 */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileGlob } from "../../compiler/match/glob.js";
import { selectGlobMatches } from "../../compiler/resolve/glob.js";

const SEGMENTS = ["model", "layers", "0", "1", "10", "mlp", "q_proj", "k_proj", "proj", "experts", "w1", "a-b", "x"];

const nameArbitrary = fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 5 }).map((parts) => parts.join("."));

// Glob segments: literals, wildcards, partial wildcards, braces (some containing a dot), classes.
const globSegmentArbitrary = fc.constantFrom(
  ...SEGMENTS,
  "*",
  "**",
  "*_proj",
  "q*",
  "{q,k}_proj",
  "{0,1}",
  "{layers.0,mlp}",
  "?",
  "[0-9]",
  "w[12]",
  "@(mlp|x)",
  "!(mlp)",
);

const globArbitrary = fc.array(globSegmentArbitrary, { minLength: 1, maxLength: 5 }).map((parts) => parts.join("."));

function plainScan(globs: readonly string[], names: readonly string[]): number[][] {
  return globs.map((g) => Array.from(compileGlob(g).selectMatching(names)));
}

function batched(globs: readonly string[], names: readonly string[]): number[][] {
  return selectGlobMatches(globs, names, () => ({ file: "spec.yaml", pos: undefined, field: "target_modules.glob" })).map((hits) => Array.from(hits));
}

test("glob batch equals per-glob scan", () => {
  fc.assert(
    fc.property(fc.array(nameArbitrary, { minLength: 1, maxLength: 60 }), fc.array(globArbitrary, { minLength: 1, maxLength: 8 }), (names, globs) => {
      assert.equal(batched(globs, names), plainScan(globs, names));
    }),
    { numRuns: 400 },
  );
});

test("glob batch on literal and globstar ends", () => {
  const names = ["model", "model.layers", "model.layers.0", "model.layers.0.q_proj", "q_proj", "model.layers.10.q_proj", "model.layers.0.q_proj.x"];
  const globs = ["model.**", "**.q_proj", "model.layers.0.q_proj", "model.layers.*.q_proj", "model.layers.1*.q_proj", "q_proj", "!model"];
  assert.equal(batched(globs, names), plainScan(globs, names));
  // Hand-checked: `model.**` also matches `model` itself, and `**.q_proj` matches a bare `q_proj`.
  assert.equal(batched(globs, names)[0], [0, 1, 2, 3, 5, 6]);
  assert.equal(batched(globs, names)[1], [3, 4, 5]);
});

test("glob batch raises the first glob error", () => {
  assert.throws(() => batched(["model.*", "model.{a", "["], ["model.a"]), /model\.\{a/);
});

test.run();

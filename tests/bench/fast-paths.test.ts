/**
 * The compiler's shortcuts for large graphs must give exactly what the plain algorithm gives:
 * each glob of a target list run over every module name.
 */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { fingerprintLine, fingerprintModules } from "../../compiler/graph/fingerprint.js";
import { normalizeModules } from "../../compiler/graph/normalize.js";
import type { GraphModule } from "../../compiler/graph/types.js";
import { isNamedModulesOrder } from "../../compiler/import/preorder.js";
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

test("glob batch: globstar then literals", () => {
  const names = ["model.mlp.up_proj", "mlp.up_proj", "model.xmlp.up_proj", "model.mlp.up_proj.x", "up_proj", "a.b.mlp.up_proj"];
  const globs = ["**.mlp.up_proj", "**.up_proj"];
  assert.equal(batched(globs, names), plainScan(globs, names));
  // Hand-checked: the segments must match whole, and `**` may stand for no segment at all.
  assert.equal(batched(globs, names)[0], [0, 1, 5]);
  assert.equal(batched(globs, names)[1], [0, 1, 2, 4, 5]);
});

test("glob batch raises the first glob error", () => {
  assert.throws(() => batched(["model.*", "model.{a", "["], ["model.a"]), /model\.\{a/);
});

// Module lists with short names, so that duplicates, missing parents and out-of-order children
// all come up often; a few names are invalid (empty segments).
const moduleListArbitrary = fc
  .array(fc.array(fc.constantFrom("a", "b", "0", "1", ""), { minLength: 1, maxLength: 3 }), { maxLength: 12 })
  .map((names) => names.map((parts): GraphModule => ({ name: parts.join("."), type: "Linear" })));

function normalizeOrError(modules: GraphModule[]): GraphModule[] | string {
  try {
    return normalizeModules(modules);
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

test("named_modules order check agrees with normalize", () => {
  fc.assert(
    fc.property(moduleListArbitrary, (modules) => {
      const normalized = normalizeOrError(modules);
      if (isNamedModulesOrder(modules)) {
        // The check may only pass a list that normalizing returns unchanged, same objects in order.
        assert.ok(Array.isArray(normalized));
        assert.is((normalized as GraphModule[]).length, modules.length);
        (normalized as GraphModule[]).forEach((m, i) => assert.ok(m === modules[i]));
      }
      // Every normalized list must pass the check, or the shortcut would never be taken.
      if (Array.isArray(normalized)) assert.ok(isNamedModulesOrder(normalized));
    }),
    { numRuns: 2000 },
  );
});

test("named_modules order check rejects bad lists", () => {
  const list = (...names: string[]): GraphModule[] => names.map((name) => ({ name, type: "Module" }));
  assert.ok(isNamedModulesOrder(list("a", "a.b", "a.b.c", "a.d", "e")));
  assert.not.ok(isNamedModulesOrder(list("a.b")), "missing parent");
  assert.not.ok(isNamedModulesOrder(list("a", "a.b", "c", "a.d")), "parent closed before a child");
  assert.not.ok(isNamedModulesOrder(list("a", "a.b", "a.b")), "duplicate");
  assert.not.ok(isNamedModulesOrder(list("a", "b", "a")), "duplicate at the root");
  assert.not.ok(isNamedModulesOrder(list("a", "a..b")), "empty segment");
  const many = Array.from({ length: 40 }, (_, i) => `a.${i}`);
  assert.ok(isNamedModulesOrder(list("a", ...many)));
  assert.not.ok(isNamedModulesOrder(list("a", ...many, "a.7")), "duplicate among many siblings");
});

// The fingerprint as the product spec defines it: one line per adaptable module, the lines
// sorted and joined with newlines, then SHA-256.
function plainFingerprint(modules: readonly GraphModule[]): string {
  const lines = modules.map(fingerprintLine).filter((line): line is string => line !== null);
  return "sha256:" + createHash("sha256").update(lines.sort().join("\n")).digest("hex");
}

// Names where one is a prefix of another, followed by characters just below, at and above the
// space that ends a name in its line, plus repeated names and names with spaces.
const fingerprintNameArbitrary = fc
  .array(fc.constantFrom("a", "b", "a b", "a\tb", "a!", "\u0001", " ", "x y", "é"), { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join(""));

const fingerprintModuleArbitrary = fc.record({
  name: fingerprintNameArbitrary,
  type: fc.constantFrom("Linear", "Embedding", "Conv2d", "Conv1D", "MultiheadAttention", "LayerNorm"),
  in_features: fc.option(fc.integer({ min: 1, max: 9 })),
  out_features: fc.option(fc.integer({ min: 1, max: 9 })),
  num_embeddings: fc.option(fc.integer({ min: 1, max: 9 })),
  embedding_dim: fc.option(fc.integer({ min: 1, max: 9 })),
  in_channels: fc.option(fc.integer({ min: 1, max: 9 })),
  out_channels: fc.option(fc.integer({ min: 1, max: 9 })),
  kernel_size: fc.option(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 })),
  embed_dim: fc.option(fc.integer({ min: 1, max: 9 })),
}) as fc.Arbitrary<GraphModule>;

test("fingerprint equals hashing the sorted lines", () => {
  fc.assert(
    fc.property(fc.array(fingerprintModuleArbitrary, { maxLength: 30 }), (modules) => {
      assert.is(fingerprintModules(modules), plainFingerprint(modules));
    }),
    { numRuns: 2000 },
  );
});

test("fingerprint of more lines than one hash batch", () => {
  const modules: GraphModule[] = [];
  for (let layer = 0; layer < 3000; layer++) {
    modules.push({ name: `model.layers.${layer}.q_proj`, type: "Linear", in_features: 8, out_features: 8 });
    modules.push({ name: `model.layers.${layer}.q_proj lora`, type: "Linear", in_features: 4, out_features: 8 });
  }
  assert.is(fingerprintModules(modules), plainFingerprint(modules));
  assert.is(fingerprintModules(modules.filter((m) => !m.name.endsWith(" lora"))), plainFingerprint(modules.filter((m) => !m.name.endsWith(" lora"))));
});

test.run();

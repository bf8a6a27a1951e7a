import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PeftcError } from "../../compiler/errors.js";
import { loadSpec, parseSpec } from "../../compiler/spec/load.js";
import { MAX_SPEC_BYTES } from "../../compiler/spec/yaml-tree.js";
import { assertDiagnostic, specErrors } from "./helpers.js";

function loadError(path: string, cwd: string): PeftcError {
  try {
    loadSpec(path, { cwd });
  } catch (err) {
    if (err instanceof PeftcError) return err;
    throw err;
  }
  assert.unreachable(`expected ${path} to fail`);
  throw new Error("unreachable");
}

const dir = mkdtempSync(join(tmpdir(), "peftc-spec-"));

test("prototype keys are data, not prototypes", () => {
  const text = '{"peft_type": "LORA",\n "__proto__": {"polluted": true},\n "constructor": {"prototype": {"polluted": true}},\n "trainable_token_indices": {"__proto__": [1]}}';
  const spec = parseSpec(text, "adapter_config.json");
  const a = spec.adapters[0]!;
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted"), false);
  assert.ok(Object.prototype.hasOwnProperty.call(a.metadata, "__proto__"), "kept as an ordinary key");
  assert.is(Object.getPrototypeOf(a.metadata), null);
  const tokens = a.trainable_token_indices as Record<string, number[]>;
  assert.ok(Object.prototype.hasOwnProperty.call(tokens, "__proto__"));
  assert.equal(tokens["__proto__"], [1]);
  assert.equal(spec.diagnostics.map((d) => d.code), ["unknown-field", "unknown-field"]);
});

test("prototype keys in YAML form are unknown fields", () => {
  const errors = specErrors("__proto__: {r: 1}\nprototype: 2\n");
  assertDiagnostic(errors[0], "unknown-field", 1, 1, "__proto__");
  assertDiagnostic(errors[1], "unknown-field", 2, 1, "prototype");
  assert.is(({} as Record<string, unknown>).r, undefined);
});

test("prototype keys in rank_pattern", () => {
  const a = parseSpec("rank_pattern: {__proto__: 4, constructor: 2}\n", "t.yaml").adapters[0]!;
  assert.equal(a.rank_pattern, [["__proto__", 4], ["constructor", 2]]);
  assert.is(({} as Record<string, unknown>).constructor, Object);
});

test("alias bomb", () => {
  const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (const [name, prev] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"], ["f", "e"], ["g", "f"]]) {
    lines.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
  }
  const started = Date.now();
  const [d] = specErrors(lines.join("\n") + "\n");
  assert.is(d!.code, "yaml-alias-limit");
  assert.type(d!.line, "number");
  assert.ok(d!.line! >= 2, "reported at an alias, not at the anchor on line 1");
  assert.ok(Date.now() - started < 2000, "stops early instead of expanding 10^7 values");
});

test("deep flow nesting", () => {
  const [d] = specErrors("target_modules: " + "[".repeat(100_000) + "]".repeat(100_000) + "\n");
  assert.is(d!.code, "spec-too-deep");
  assert.is(d!.line, 1);
  assert.is(d!.col, 17 + 64, "at the first bracket past the limit of 64");
});

test("deep block nesting", () => {
  let text = "";
  for (let i = 0; i < 70; i++) text += `${"  ".repeat(i)}k${i}:\n`;
  const [d] = specErrors(text);
  assert.is(d!.code, "spec-too-deep");
});

test("oversized file", () => {
  const path = join(dir, "big.yaml");
  writeFileSync(path, "target_modules:\n" + "  - q_proj\n".repeat(Math.ceil(MAX_SPEC_BYTES / 11) + 1));
  const err = loadError("big.yaml", dir);
  assert.is(err.diagnostic.code, "spec-too-large");
  assert.is(err.diagnostic.file, "big.yaml");
  assert.ok(err.diagnostic.message.includes(String(MAX_SPEC_BYTES)), err.diagnostic.message);
});

test("oversized text", () => {
  const [d] = specErrors("r: 8\n#" + "x".repeat(MAX_SPEC_BYTES) + "\n");
  assert.is(d!.code, "spec-too-large");
});

test("missing file", () => {
  const err = loadError("nope.yaml", dir);
  assert.is(err.diagnostic.code, "spec-not-found");
  assert.ok(err.diagnostic.message.includes("nope.yaml: file not found"), err.diagnostic.message);
});

test("directory", () => {
  mkdirSync(join(dir, "adapter"), { recursive: true });
  const err = loadError("adapter", dir);
  assert.is(err.diagnostic.code, "spec-not-file");
  assert.ok(err.diagnostic.message.includes("adapter_config.json"), err.diagnostic.message);
});

test("empty file and comment-only file", () => {
  for (const text of ["", "\n\n", "# only a comment\n"]) {
    const [d] = specErrors(text);
    assertDiagnostic(d, "spec-empty", 1, 1, "empty");
  }
});

test("top-level list or scalar", () => {
  const [list] = specErrors("- r: 8\n- r: 16\n");
  assertDiagnostic(list, "spec-not-mapping", 1, 1, "found a list");
  const [scalar] = specErrors("\n  just text\n");
  assertDiagnostic(scalar, "spec-not-mapping", 2, 3, '"just text"');
  const [number] = specErrors("42\n");
  assertDiagnostic(number, "spec-not-mapping", 1, 1, "42");
});

test("several documents", () => {
  const [d] = specErrors("r: 8\n---\nr: 16\n");
  assert.is(d!.code, "yaml-syntax");
  assert.is(d!.line, 2);
});

test("complex mapping key", () => {
  const [d] = specErrors("? [a, b]\n: 1\n");
  assertDiagnostic(d, "invalid-key", 1, 3, "keys");
});

test("byte order mark", () => {
  assert.is(parseSpec("\uFEFFr: 4\n", "bom.yaml").adapters[0]!.r, 4);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

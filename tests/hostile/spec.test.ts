/**
 * Hostile specs through `peftc plan`. Each is rejected in one line that names the spec, the line
 * and column of the bad value, and the field. No plan or temp file is written.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loraFields } from "../../compiler/spec/fields.js";
import { runCli } from "../cli/run.js";
import { assertNothingWritten, assertOneLineError, scratch, writeSmallGraph } from "./helpers.js";

interface BadSpec {
  label: string;
  text: string;
  code: string;
  line?: number;
  col?: number;
  message?: string;
}

// Positions are counted by hand in `text`. The column is where the bad value starts.
const BAD_SPECS: BadSpec[] = [
  { label: "r NaN", text: "target_modules: [q_proj]\nr: .nan\n", code: "invalid-type", line: 2, col: 4, message: "r: expected an integer >= 1" },
  { label: "r infinity", text: "target_modules: [q_proj]\nr: .inf\n", code: "invalid-type", line: 2, col: 4, message: "infinity" },
  { label: "r overflowing to infinity", text: "target_modules: [q_proj]\nr: 1e400\n", code: "invalid-type", line: 2, col: 4, message: "r:" },
  { label: "r zero", text: "target_modules: [q_proj]\nr: 0\n", code: "invalid-value", line: 2, col: 4, message: "found 0" },
  { label: "r negative", text: "target_modules: [q_proj]\nr: -4\n", code: "invalid-value", line: 2, col: 4, message: "found -4" },
  { label: "r fractional", text: "target_modules: [q_proj]\nr: 2.5\n", code: "invalid-type", line: 2, col: 4, message: "found 2.5" },
  { label: "r as a date", text: "target_modules: [q_proj]\nr: 2001-12-14\n", code: "invalid-type", line: 2, col: 4, message: "r:" },
  { label: "lora_alpha NaN", text: "target_modules: [q_proj]\nlora_alpha: .nan\n", code: "invalid-type", line: 2, col: 13, message: "lora_alpha:" },
  { label: "lora_alpha -infinity", text: "target_modules: [q_proj]\nlora_alpha: -.inf\n", code: "invalid-type", line: 2, col: 13, message: "lora_alpha:" },
  { label: "lora_alpha negative", text: "target_modules: [q_proj]\nlora_alpha: -3\n", code: "invalid-value", line: 2, col: 13, message: "found -3" },
  { label: "dropout of 1.5", text: "target_modules: [q_proj]\nlora_dropout: 1.5\n", code: "invalid-value", line: 2, col: 15, message: "< 1" },
  { label: "layer index fractional", text: "target_modules: [q_proj]\nlayers_to_transform: [0, 0.5]\n", code: "invalid-type", line: 2, col: 26, message: "layers_to_transform[1]" },
  { label: "layer index negative", text: "target_modules: [q_proj]\nlayers_to_transform: -1\n", code: "invalid-value", line: 2, col: 22, message: "layers_to_transform" },
  { label: "layer index as a string", text: "target_modules: [q_proj]\nlayers_to_transform: \"0\"\n", code: "invalid-type", line: 2, col: 22, message: "a string" },
  { label: "rank_pattern value zero", text: "target_modules: [q_proj]\nrank_pattern:\n  q_proj: 0\n", code: "invalid-value", line: 3, col: 11, message: "rank_pattern.q_proj" },
  { label: "alpha_pattern value infinite", text: "target_modules: [q_proj]\nalpha_pattern: {q_proj: .inf}\n", code: "invalid-type", line: 2, col: 25, message: "alpha_pattern.q_proj" },
  { label: "token index fractional", text: "target_modules: [q_proj]\ntrainable_token_indices: [1.5]\n", code: "invalid-type", line: 2, col: 27, message: "trainable_token_indices[0]" },
  { label: "duplicate key", text: "target_modules: [q_proj]\nr: 8\nr: 16\n", code: "duplicate-key", line: 3, col: 1, message: "first defined at line 2, column 1" },
  { label: "duplicate key in JSON", text: '{"peft_type": "LORA", "target_modules": ["q_proj"], "r": 8, "r": 16}', code: "duplicate-key", line: 1, col: 61, message: "duplicate key `r`" },
  { label: "__proto__ at the top", text: "__proto__: {r: 4}\ntarget_modules: [q_proj]\n", code: "unknown-field", line: 1, col: 1, message: "`__proto__`" },
  { label: "constructor at the top", text: "target_modules: [q_proj]\nconstructor: {prototype: {r: 4}}\n", code: "unknown-field", line: 2, col: 1, message: "`constructor`" },
  { label: "prototype at the top", text: "target_modules: [q_proj]\nprototype: 1\n", code: "unknown-field", line: 2, col: 1, message: "`prototype`" },
  { label: "__proto__ as a token target", text: "target_modules: [q_proj]\ntrainable_token_indices: {__proto__: [1]}\n", code: "token-target-missing", line: 2, col: 27, message: "'__proto__'" },
  { label: "unclosed flow list", text: "target_modules: [q_proj\nr: 8\n", code: "yaml-syntax", line: 2 },
  { label: "tab indentation", text: "target_modules:\n\t- q_proj\n", code: "yaml-syntax", line: 2 },
  { label: "control characters", text: "\u0000\u0001\u0002", code: "spec-not-mapping", line: 1, col: 1 },
  { label: "glob quoted in a list", text: 'target_modules:\n  glob:\n    - "model..layers"\n    - "x"\n', code: "glob-invalid", line: 3, col: 13, message: "offset 5" },
  { label: "glob as one string", text: 'target_modules:\n  glob: "model..layers"\n', code: "glob-invalid", line: 2, col: 15, message: "offset 5" },
  { label: "glob as a one-entry list", text: "target_modules:\n  glob:\n    - model..layers\n", code: "glob-invalid", line: 3, col: 12, message: "offset 5" },
  { label: "glob with an unclosed brace", text: 'target_modules: {glob: [model.x, "model.layers.*.self_attn.{q,v_proj"]}\n', code: "glob-invalid", line: 1, col: 60, message: 'missing "}"' },
  { label: "glob with a number", text: "target_modules: {glob: 5}\n", code: "invalid-type", line: 1, col: 24, message: "target_modules.glob" },
  { label: "empty glob", text: "target_modules: {glob: \"\"}\n", code: "glob-invalid", line: 1, message: "empty glob" },
  { label: "nested target list", text: "target_modules: [[q_proj]]\n", code: "invalid-type", line: 1, col: 18, message: "target_modules[0]" },
  { label: "binary tag", text: "target_modules: !!binary aGVsbG8=\n", code: "invalid-type", line: 1, col: 26, message: "!!binary value is not a string" },
  { label: "timestamp tag in a list", text: "target_modules: [q_proj, !!timestamp 2001-12-14]\n", code: "invalid-type", line: 1, col: 38, message: "!!timestamp value" },
  { label: "adapters as a list", text: "adapters: [1, 2]\n", code: "invalid-type", line: 1, col: 11, message: "adapters:" },
];

for (const bad of BAD_SPECS) {
  test(`spec: ${bad.label}`, async () => {
    const dir = scratch("spec");
    const spec = join(dir, bad.text.startsWith("{") ? "adapter_config.json" : "spec.yaml");
    writeFileSync(spec, bad.text);
    const out = join(dir, "plan.json");
    const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out]);
    assertOneLineError(run, { file: spec, code: bad.code, line: bad.line, col: bad.col, message: bad.message });
    assertNothingWritten(dir, out);
  });
}

// -7.5 and NaN fit no field: every field takes a string, a boolean, an integer, a list, a mapping
// or a non-negative number. The error sits at the value, after "<field>: ".
for (const value of ["-7.5", ".nan"]) {
  test(`spec: ${value} in every field`, async () => {
    const dir = scratch("fields");
    const graph = writeSmallGraph(dir);
    for (const field of loraFields()) {
      const spec = join(dir, `${field}.yaml`);
      const first = field === "target_modules" ? "r: 8" : "target_modules: [q_proj]";
      writeFileSync(spec, `${first}\n${field}: ${value}\n`);
      const out = join(dir, `${field}.plan.json`);
      const run = await runCli(["plan", spec, "--model", graph, "-o", out]);
      const codes = ["invalid-type", "invalid-value", "unsupported-peft-type"];
      const code = codes.find((c) => run.stderr.includes(`error[${c}]`)) ?? "invalid-type";
      assertOneLineError(run, { file: spec, code, line: 2, col: field.length + 3, message: `${field}:` });
      assertNothingWritten(dir, out);
    }
  });
}

test("spec: alias bomb", async () => {
  const dir = scratch("bomb");
  const lines = ["a0: &a0 [q_proj, q_proj, q_proj, q_proj, q_proj, q_proj, q_proj, q_proj, q_proj]"];
  for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]`);
  lines.push("target_modules: *a11");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, lines.join("\n") + "\n");
  const out = join(dir, "plan.json");
  const started = Date.now();
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out]);
  assert.ok(Date.now() - started < 5000, "an alias bomb is refused quickly");
  assertOneLineError(run, { file: spec, code: "yaml-alias-limit" });
  assertNothingWritten(dir, out);
});

test("spec: deep nesting", async () => {
  const dir = scratch("deep");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, `target_modules: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`);
  const out = join(dir, "plan.json");
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out]);
  assertOneLineError(run, { file: spec, code: "spec-too-deep", line: 1, col: 17 + 64 });
  assertNothingWritten(dir, out);
});

test("spec: very large file", async () => {
  const dir = scratch("large");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, `target_modules: [q_proj]\n# ${"x".repeat(12_000_000)}\n`);
  const out = join(dir, "plan.json");
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out]);
  assertOneLineError(run, { file: spec, code: "spec-too-large", message: "bytes" });
  assertNothingWritten(dir, out);
});

test("spec: prototype-named adapters stay data", async () => {
  const dir = scratch("proto");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "adapters:\n  __proto__:\n    target_modules: [q_proj]\n  constructor:\n    target_modules: [v_proj]\n    r: 4\n");
  const out = join(dir, "plan.json");
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out, "-q"]);
  assert.is(run.code, 0, run.stderr);
  const plan = JSON.parse((await import("node:fs")).readFileSync(out, "utf8")) as { adapters: Array<{ name: string; targets: Array<{ module: string; r: number }> }> };
  assert.equal(plan.adapters.map((a) => a.name), ["__proto__", "constructor"]);
  assert.equal(plan.adapters[1]!.targets.map((t) => t.r), [4, 4]);
  assert.is(({} as Record<string, unknown>)["target_modules"], undefined, "Object.prototype is untouched");
  assert.is(({} as Record<string, unknown>)["r"], undefined);
});

test.run();

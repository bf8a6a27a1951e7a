import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PeftcError } from "../../compiler/errors.js";
import { loadPlan, validatePlan } from "../../compiler/plan/validate.js";

/** Builds the example plan of the product spec's "Plan" section, with a full-length fingerprint. */
function examplePlan(): Record<string, any> {
  return {
    format: "peftc-plan/1",
    model: { fingerprint: `sha256:${"0".repeat(64)}`, model_type: "llama", parameters: 1235814400 },
    adapters: [
      {
        name: "default",
        method: "lora",
        targets: [
          {
            module: "model.layers.0.self_attn.q_proj",
            kind: "linear",
            in_features: 2048,
            out_features: 2048,
            r: 16,
            alpha: 32,
            scaling: 2,
            dropout: 0.05,
            fan_in_fan_out: false,
            parameters: 65536,
            tie: null,
          },
        ],
        modules_to_save: [{ module: "score", parameters: 8192, tie: null }],
        tie_groups: [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"], mode: "shared_adapter" }],
        trainable_parameters: 5636096,
      },
    ],
    diagnostics: [{ severity: "warning", code: "tie-not-ensured", message: "…" }],
  };
}

function planError(plan: unknown, file?: string): PeftcError {
  try {
    validatePlan(plan, file);
  } catch (err) {
    if (err instanceof PeftcError) return err;
    throw err;
  }
  assert.unreachable("expected the plan to be invalid");
  throw new Error("unreachable");
}

const dir = mkdtempSync(join(tmpdir(), "peftc-plan-"));

test("example plan is valid", () => {
  validatePlan(examplePlan());
});

test("extra fields are allowed", () => {
  const plan = examplePlan();
  plan.generator = "peftc 0.1.0";
  plan.adapters[0].selectors = { target_modules: [] };
  plan.adapters[0].targets[0].rule = "suffix";
  validatePlan(plan);
});

test("tie reference on a target", () => {
  const plan = examplePlan();
  plan.adapters[0].targets[0].tie = { group: "model.embed_tokens.weight", role: "member", orientation: "transposed" };
  validatePlan(plan);
  const broken = examplePlan();
  broken.adapters[0].targets[0].tie = { group: "g", role: "owner", orientation: "same" };
  const err = planError(broken);
  assert.ok(err.diagnostic.message.includes("/adapters/0/targets/0/tie/role"), err.diagnostic.message);
});

test("wrong format names the pointer", () => {
  const plan = examplePlan();
  plan.format = "peftc-plan/2";
  const err = planError(plan, "plan.json");
  assert.is(err.diagnostic.code, "plan-invalid");
  assert.is(err.diagnostic.file, "plan.json");
  assert.is(err.diagnostic.message, 'invalid plan at /format: expected "peftc-plan/1", found "peftc-plan/2" (a string)');
});

test("missing core field", () => {
  const plan = examplePlan();
  delete plan.adapters[0].targets[0].scaling;
  const err = planError(plan);
  assert.is(err.diagnostic.message, "invalid plan at /adapters/0/targets/0: missing required field `scaling`");
});

test("bad values", () => {
  const cases: Array<[(p: Record<string, any>) => void, string]> = [
    [(p) => (p.adapters[0].targets[0].r = 0), "/adapters/0/targets/0/r"],
    [(p) => (p.adapters[0].targets[0].kind = "lstm"), "/adapters/0/targets/0/kind"],
    [(p) => (p.adapters[0].method = "ia3"), "/adapters/0/method"],
    [(p) => (p.model.fingerprint = "md5:abc"), "/model/fingerprint"],
    [(p) => (p.adapters[0].tie_groups[0].mode = "tied"), "/adapters/0/tie_groups/0/mode"],
    [(p) => (p.diagnostics[0].severity = "info"), "/diagnostics/0/severity"],
    [(p) => (p.adapters[0].trainable_parameters = -1), "/adapters/0/trainable_parameters"],
  ];
  for (const [mutate, pointer] of cases) {
    const plan = examplePlan();
    mutate(plan);
    const err = planError(plan);
    assert.is(err.diagnostic.code, "plan-invalid");
    assert.ok(err.diagnostic.message.startsWith(`invalid plan at ${pointer}: `), err.diagnostic.message);
  }
});

/** Builds the example plan with the adapter settings that derived numbers depend on. */
function planWithConfig(config: { use_rslora: boolean; use_dora: boolean; lora_bias: boolean }): Record<string, any> {
  const plan = examplePlan();
  plan.adapters[0].config = config;
  return plan;
}

const PLAIN = { use_rslora: false, use_dora: false, lora_bias: false };

test("derived numbers: a hand-edited r with a stale scaling", () => {
  const plan = examplePlan();
  // r 16 -> 8 with parameters updated (8 x (2048 + 2048) = 32768), scaling left at 32 / 16 = 2.
  plan.adapters[0].targets[0].r = 8;
  plan.adapters[0].targets[0].parameters = 32768;
  const err = planError(plan);
  assert.is(err.diagnostic.code, "plan-invalid");
  assert.ok(err.diagnostic.message.startsWith("invalid plan at /adapters/0/targets/0/scaling: scaling 2 does not match alpha 32 / r 8 = 4, "), err.diagnostic.message);
  plan.adapters[0].targets[0].scaling = 4;
  validatePlan(plan);
});

test("derived numbers: use_rslora scales by alpha / sqrt(r)", () => {
  const plan = planWithConfig({ ...PLAIN, use_rslora: true });
  // 32 / sqrt(16) = 8.
  assert.match(planError(plan).diagnostic.message, "scaling 2 does not match alpha 32 / sqrt(r 16) = 8");
  plan.adapters[0].targets[0].scaling = 8;
  validatePlan(plan);
  // Without a config, either form is accepted.
  const bare = examplePlan();
  bare.adapters[0].targets[0].scaling = 8;
  validatePlan(bare);
});

test("derived numbers: parameter counts", () => {
  const plan = planWithConfig(PLAIN);
  validatePlan(plan);
  plan.adapters[0].targets[0].parameters = 65535;
  // A is 16 x 2048 and B is 2048 x 16: 65,536.
  assert.match(planError(plan).diagnostic.message, "/adapters/0/targets/0/parameters: parameters 65535 does not match the 65536 that r 16");

  // DoRA adds a magnitude per output feature: 65,536 + 2,048.
  const dora = planWithConfig({ ...PLAIN, use_dora: true });
  assert.match(planError(dora).diagnostic.message, "does not match the 67584");
  dora.adapters[0].targets[0].parameters = 67584;
  validatePlan(dora);

  // A tie member uses its source's tensors and adds none.
  const member = planWithConfig(PLAIN);
  member.adapters[0].targets[0].tie = { group: "model.embed_tokens.weight", role: "member", orientation: "transposed" };
  assert.match(planError(member).diagnostic.message, "does not match the 0 that r 16");
  member.adapters[0].targets[0].parameters = 0;
  validatePlan(member);
});

test("non-object plan", () => {
  assert.is(planError([]).diagnostic.message, "invalid plan: expected a mapping, found a list");
});

test("loadPlan reads a valid plan", () => {
  writeFileSync(join(dir, "ok.json"), JSON.stringify(examplePlan(), null, 2));
  const plan = loadPlan("ok.json", { cwd: dir });
  assert.is(plan.adapters[0]!.targets[0]!.module, "model.layers.0.self_attn.q_proj");
});

test("loadPlan locates a schema error", () => {
  const plan = examplePlan();
  plan.adapters[0].targets[0].r = 0;
  writeFileSync(join(dir, "bad.json"), JSON.stringify(plan, null, 2));
  try {
    loadPlan("bad.json", { cwd: dir });
    assert.unreachable("expected plan-invalid");
  } catch (err) {
    const d = (err as PeftcError).diagnostic;
    assert.is(d.code, "plan-invalid");
    // JSON.stringify with 2-space indent puts targets[0].r on line 18, indented by 10 spaces: `"r": 0`.
    assert.is(d.line, 18);
    assert.is(d.col, 16);
  }
});

test("loadPlan reports bad JSON with position", () => {
  writeFileSync(join(dir, "syntax.json"), '{\n  "format": "peftc-plan/1",\n  "model": {,}\n}');
  try {
    loadPlan("syntax.json", { cwd: dir });
    assert.unreachable("expected json-syntax");
  } catch (err) {
    const d = (err as PeftcError).diagnostic;
    assert.is(d.code, "json-syntax");
    assert.is(d.file, "syntax.json");
    assert.is(d.line, 3);
    assert.is(d.col, 13);
  }
});

test("loadPlan reports a truncated file at its end", () => {
  writeFileSync(join(dir, "cut.json"), '{\n  "format": "peftc-plan/1",\n');
  try {
    loadPlan("cut.json", { cwd: dir });
    assert.unreachable("expected json-syntax");
  } catch (err) {
    const d = (err as PeftcError).diagnostic;
    assert.is(d.code, "json-syntax");
    assert.is(d.line, 3);
    assert.is(d.col, 1);
  }
});

test("loadPlan on a missing file", () => {
  try {
    loadPlan("none.json", { cwd: dir });
    assert.unreachable("expected plan-not-found");
  } catch (err) {
    assert.is((err as PeftcError).diagnostic.code, "plan-not-found");
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

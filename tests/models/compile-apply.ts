/** Helpers shared by the suites that compile a spec with the real compiler and apply the plan. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { compileSpecFile } from "../../compiler/compile.js";
import type { Plan } from "../../compiler/plan/types.js";
import { applyPlan } from "../../runtime/apply.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { loadModel } from "../../runtime/models/index.js";

/** Compiles the YAML text `spec` against the model directory `model`, from a temporary spec file. */
export function compileText(spec: string, model: string): Plan {
  const dir = mkdtempSync(join(tmpdir(), "peftc-compile-apply-"));
  const path = join(dir, "spec.yaml");
  writeFileSync(path, spec);
  try {
    return compileSpecFile(path, { model }).plan;
  } finally {
    rmSync(dir, { recursive: true });
  }
}

/** Applies `plan` to a fresh model from `modelDir`, expects a RuntimeInputError, and checks the model was left unchanged. */
export function rejection(plan: Plan, modelDir: string): RuntimeInputError {
  const { model } = loadModel(modelDir);
  const before = model.namedModules().map(([, m]) => m);
  let error: unknown;
  try {
    applyPlan(model, plan, { seed: 1 });
  } catch (err) {
    error = err;
  }
  assert.instance(error, RuntimeInputError);
  assert.equal(model.namedModules().map(([, m]) => m), before, "no module was replaced");
  return error as RuntimeInputError;
}

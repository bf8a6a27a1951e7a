/** The compiler's entry points: a spec and a model in, a validated plan out. */
import { PeftcError, type Diagnostic } from "./errors.js";
import type { Graph } from "./graph/types.js";
import { defaultTargetModules } from "./import/architectures.js";
import { loadGraph } from "./import/index.js";
import { suggestNames } from "./match/suggest.js";
import { buildPlan } from "./plan/build.js";
import type { Plan } from "./plan/types.js";
import { resolveAdapter, type ResolvedAdapter } from "./resolve/targets.js";
import { loadSpec } from "./spec/load.js";
import type { Spec } from "./spec/types.js";
import type { TieGroup } from "./resolve/tie-groups.js";

export interface CompileResult {
  plan: Plan;
  /** Load and compile warnings with their spec positions (the plan keeps them without positions). */
  diagnostics: Diagnostic[];
  spec: Spec;
  graph: Graph;
  resolved: ResolvedAdapter[];
  tieGroups: TieGroup[];
}

/**
 * Compiles a loaded spec against a loaded graph. The plan is not checked against
 * schemas/plan.schema.json here, because the builder produces only valid plans (the tests check
 * every compiled example and generated specs) and on a million-module model the check costs about
 * a tenth of the compile. Plans read back from files are checked by loadPlan.
 */
export function compileSpec(spec: Spec, graph: Graph): CompileResult {
  const resolved = spec.adapters.map((adapter) =>
    resolveAdapter(graph, adapter, { specFile: spec.file, defaultTargetModules, suggestNames }),
  );
  const built = buildPlan(graph, resolved, spec.file, spec.diagnostics);
  return { plan: built.plan, diagnostics: built.diagnostics, spec, graph, resolved, tieGroups: built.groups };
}

/**
 * Finds the model for a spec: `--model` wins, then the spec's `model:` (relative to the spec file).
 */
export function modelPathFor(spec: Spec, modelOption: string | undefined): string {
  if (modelOption !== undefined) return modelOption;
  if (spec.model !== null) return spec.model;
  throw new PeftcError("model-missing", "no model given: pass --model PATH (a Hugging Face model directory, a .safetensors file or a peftc graph JSON) or set `model:` in the spec", {
    file: spec.file,
  });
}

/**
 * Loads the model a spec is compiled against (see modelPathFor). When the path came from the
 * spec's `model:` field, a wrong path is reported at that field.
 */
export function loadModelFor(spec: Spec, modelOption: string | undefined): Graph {
  const modelPath = modelPathFor(spec, modelOption);
  try {
    return loadGraph(modelPath);
  } catch (err) {
    // The user may not have seen the path in the spec, so the error points at the spec's `model:`.
    if (modelOption !== undefined || !(err instanceof PeftcError) || !MODEL_PATH_ERRORS.has(err.diagnostic.code)) throw err;
    const where = err.diagnostic.file ?? modelPath;
    throw new PeftcError(err.diagnostic.code, `${err.message} (\`model:\` is relative to the spec's folder and gives ${where}; fix it or pass --model)`, {
      file: spec.file,
      ...(spec.modelPos !== undefined ? { line: spec.modelPos.line, col: spec.modelPos.col } : {}),
    });
  }
}

/** Loads a spec and its model and compiles them. */
export function compileSpecFile(specPath: string, options: { model?: string } = {}): CompileResult {
  const spec = loadSpec(specPath);
  return compileSpec(spec, loadModelFor(spec, options.model));
}

/** Errors that mean the model path itself is wrong rather than the files in it. */
const MODEL_PATH_ERRORS = new Set(["model-not-found", "not-a-model", "file-not-found"]);


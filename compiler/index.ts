/** The compiler's public API: load specs and models, compile plans, diff them. */
export { compileSpec, compileSpecFile, modelPathFor, type CompileResult } from "./compile.js";
export { formatDiagnostic, PeftcError, type Diagnostic } from "./errors.js";
export { fingerprintModules } from "./graph/fingerprint.js";
export type { Graph, GraphModule, TiedWeightsKeys } from "./graph/types.js";
export { defaultTargetModules, loadGraph, loadGraphWithStats } from "./import/index.js";
export { canonicalJson } from "./plan/canonical.js";
export type { Plan, PlanAdapter, PlanSavedModule, PlanTarget, PlanTieGroup, TieRef } from "./plan/types.js";
export { loadPlan, validatePlan } from "./plan/validate.js";
export { loadSpec, parseSpec } from "./spec/load.js";
export type { AdapterSpec, Spec } from "./spec/types.js";
export * from "./diff/index.js";

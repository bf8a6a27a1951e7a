/** Assembles a peftc-plan/1 document from resolved adapters and tie outcomes. */
import type { Diagnostic } from "../errors.js";
import { graphFingerprint } from "../graph/fingerprint.js";
import { countGraphParameters, ownParameters } from "../graph/params.js";
import type { Graph } from "../graph/types.js";
import { applyTies, type TieOutcome } from "../resolve/ties.js";
import { tieGroupsOf, type TieGroup } from "../resolve/tie-groups.js";
import { patternValue, type ResolvedAdapter } from "../resolve/targets.js";
import type { AdapterSpec } from "../spec/types.js";
import { featureSizes, loraParameters, targetKind } from "./lora-params.js";
import { PLAN_FORMAT, type Plan, type PlanAdapter, type PlanDiagnostic, type PlanSavedModule, type PlanTarget, type TieRef } from "./types.js";

/** Parameters of each module including its descendants, by module index; null where any is unknown. */
export function subtreeParameters(graph: Graph): Array<number | null> {
  const modules = graph.modules;
  const totals = modules.map((m) => ownParameters(m));
  // named_modules() order lists a module before its descendants, so walking backwards adds each
  // module's total to its parent after all of its children were added to it.
  const indexOf = new Map<string, number>();
  modules.forEach((m, i) => indexOf.set(m.name, i));
  for (let i = modules.length - 1; i >= 0; i--) {
    const name = modules[i]!.name;
    const dot = name.lastIndexOf(".");
    if (dot < 0) continue;
    const parent = indexOf.get(name.slice(0, dot));
    if (parent === undefined) continue;
    const a = totals[parent]!;
    const b = totals[i]!;
    totals[parent] = a === null || b === null ? null : a + b;
  }
  return totals;
}


function sum(values: Array<number | null>): number | null {
  let total = 0;
  for (const v of values) {
    if (v === null) return null;
    total += v;
  }
  return total;
}


function scalingOf(adapter: AdapterSpec, r: number, alpha: number): number {
  return adapter.use_rslora ? alpha / Math.sqrt(r) : alpha / r;
}

function buildAdapter(graph: Graph, resolved: ResolvedAdapter, ties: TieOutcome, subtree: () => Array<number | null>, file: string): { adapter: PlanAdapter; diagnostics: Diagnostic[] } {
  const spec = resolved.adapter;
  const modules = graph.modules;
  const diagnostics: Diagnostic[] = [...resolved.diagnostics, ...ties.diagnostics];
  const options = { dora: spec.use_dora, loraBias: spec.lora_bias };

  let ordered: number[];
  if (ties.droppedTargets.size === 0 && ties.tiedTargets.size === 0) {
    // resolved.targets is already in module order, without repeats.
    ordered = resolved.targets;
  } else {
    const targetIndices = new Set(resolved.targets.filter((i) => !ties.droppedTargets.has(i)));
    for (const i of ties.tiedTargets.keys()) targetIndices.add(i);
    ordered = [...targetIndices].sort((a, b) => a - b);
  }

  const own = (i: number) => {
    const v = resolved.rank.get(i);
    if (v !== undefined) return { r: v.r, alpha: v.alpha };
    // The pattern pass covered every resolved target, so one without an entry matched no key. A
    // module that a tie adds was not in that pass, so its keys are looked up here.
    if (ties.tiedTargets.get(i)?.addedByTie !== true) return { r: spec.r, alpha: spec.lora_alpha };
    const name = modules[i]!.name;
    return { r: patternValue(spec, file, "rank_pattern", name, spec.r), alpha: patternValue(spec, file, "alpha_pattern", name, spec.lora_alpha) };
  };

  let fanInFanOutConflict = 0;
  const targets: PlanTarget[] = ordered.map((i) => {
    const m = modules[i]!;
    const tied = ties.tiedTargets.get(i);
    let { r, alpha } = own(i);
    if (tied && tied.tie.role === "member") {
      const src = own(tied.sourceIndex);
      if (src.r !== r || src.alpha !== alpha) {
        diagnostics.push({
          severity: "warning",
          code: "tie-pattern-conflict",
          message: `rank_pattern/alpha_pattern give '${m.name}' r=${r}, alpha=${alpha}, but it shares the adapter of '${modules[tied.sourceIndex]!.name}' and uses its r=${src.r}, alpha=${src.alpha}`,
          file,
          adapter: spec.name,
        });
      }
      r = src.r;
      alpha = src.alpha;
    }
    const fanInFanOut = m.type === "Conv1D";
    if (spec.fan_in_fan_out !== null && (m.type === "Conv1D" || m.type === "Linear") && spec.fan_in_fan_out !== fanInFanOut) fanInFanOutConflict++;
    const sizes = featureSizes(m);
    const shared = tied !== undefined && tied.tie.role === "member";
    return {
      module: m.name,
      kind: targetKind(m.type),
      in_features: sizes.in,
      out_features: sizes.out,
      r,
      alpha,
      scaling: scalingOf(spec, r, alpha),
      dropout: spec.lora_dropout,
      fan_in_fan_out: fanInFanOut,
      parameters: shared ? 0 : loraParameters(m, r, options),
      tie: tied ? tied.tie : null,
    };
  });
  if (fanInFanOutConflict > 0) {
    const pos = spec.positionOf(["fan_in_fan_out"]);
    diagnostics.push({
      severity: "warning",
      code: "fan-in-fan-out-mismatch",
      message: `fan_in_fan_out is ${spec.fan_in_fan_out} but ${fanInFanOutConflict} targeted modules need the opposite (true for Conv1D, false for Linear); PEFT overrides it per module, and so does the plan`,
      file,
      ...(pos ? { line: pos.line, col: pos.col } : {}),
      adapter: spec.name,
    });
  }

  const savedIndices = new Set(resolved.saved);
  for (const i of ties.savedTies.keys()) savedIndices.add(i);
  const modulesToSave: PlanSavedModule[] = [...savedIndices]
    .sort((a, b) => a - b)
    .map((i) => {
      const tie: TieRef | null = ties.savedTies.get(i) ?? null;
      return { module: modules[i]!.name, parameters: tie && tie.role === "member" ? 0 : subtree()[i]!, tie };
    });

  const tokens = ties.tokens.map((t) => {
    const m = modules[t.index]!;
    const dim = m.type === "Embedding" ? (m.embedding_dim ?? null) : (m.in_features ?? null);
    let parameters: number | null = dim === null ? null : dim * t.indices.length;
    // A tied member reads the rows its source trains, so they count once, on the source.
    if (t.tie !== null && t.tie.role === "member") parameters = 0;
    return { module: m.name, indices: t.indices, parameters, tie: t.tie };
  });

  const trainable = sum([...targets.map((t) => t.parameters), ...modulesToSave.map((s) => s.parameters), ...tokens.map((t) => t.parameters)]);
  const adapter: PlanAdapter = {
    name: spec.name,
    method: "lora",
    targets,
    modules_to_save: modulesToSave,
    tie_groups: ties.groups,
    trainable_parameters: trainable,
    trainable_tokens: tokens,
    config: adapterConfig(spec, resolved),
    selectors: resolved.counts,
  };
  return { adapter, diagnostics };
}

/** Returns target_modules as the spec wrote it, or PEFT's default list when it wrote none. */
function writtenTargets(spec: AdapterSpec, resolved: ResolvedAdapter): unknown {
  const t = spec.target_modules;
  if (t === null) return resolved.defaultTargets;
  switch (t.kind) {
    case "list":
      return t.entries;
    case "regex":
      return t.pattern;
    case "glob":
      return { glob: t.patterns };
    default:
      return t.written;
  }
}

/** Collects the spec's settings that shape the adapter, as PEFT would record them. */
function adapterConfig(spec: AdapterSpec, resolved: ResolvedAdapter): Record<string, unknown> {
  const targetModules = writtenTargets(spec, resolved);
  let excludeModules: string | string[] | null = null;
  if (spec.exclude_modules !== null) excludeModules = spec.exclude_modules.kind === "list" ? spec.exclude_modules.entries : spec.exclude_modules.pattern;
  return {
    r: spec.r,
    lora_alpha: spec.lora_alpha,
    lora_dropout: spec.lora_dropout,
    target_modules: targetModules,
    exclude_modules: excludeModules,
    layers_to_transform: spec.layers_to_transform,
    layers_pattern: spec.layers_pattern,
    // [key, value] pairs in the order written, because the first matching key wins.
    rank_pattern: spec.rank_pattern,
    alpha_pattern: spec.alpha_pattern,
    modules_to_save: spec.modules_to_save,
    use_rslora: spec.use_rslora,
    use_dora: spec.use_dora,
    bias: spec.bias,
    lora_bias: spec.lora_bias,
    init_lora_weights: spec.init_lora_weights,
    ensure_weight_tying: spec.ensure_weight_tying,
    task_type: spec.task_type,
  };
}

export interface BuiltPlan {
  plan: Plan;
  diagnostics: Diagnostic[];
  groups: TieGroup[];
}

/**
 * Builds the plan for resolved adapters of one spec against one graph. `loadDiagnostics` are the
 * spec's own warnings, listed first in the plan.
 */
export function buildPlan(graph: Graph, resolved: ResolvedAdapter[], file: string, loadDiagnostics: Diagnostic[] = []): BuiltPlan {
  const groups = tieGroupsOf(graph);
  // Subtree totals are needed only for saved modules, and cost a full name index to compute.
  let subtreeTotals: Array<number | null> | null = null;
  const subtree = (): Array<number | null> => (subtreeTotals ??= subtreeParameters(graph));

  const adapters: PlanAdapter[] = [];
  const diagnostics: Diagnostic[] = [...loadDiagnostics];
  for (const r of resolved) {
    const ties = applyTies(graph, groups, r, file);
    const built = buildAdapter(graph, r, ties, subtree, file);
    adapters.push(built.adapter);
    diagnostics.push(...built.diagnostics);
  }

  const plan: Plan = {
    format: PLAN_FORMAT,
    model: {
      fingerprint: graphFingerprint(graph),
      model_type: graph.model_type,
      parameters: typeof graph.parameters === "number" ? graph.parameters : countGraphParameters(graph),
      architectures: graph.architectures,
      input_embeddings: graph.input_embeddings ?? null,
      output_embeddings: graph.output_embeddings ?? null,
      tie_groups: groups.map((g) => ({ id: g.id, source: g.source, members: g.members })),
    },
    adapters,
    diagnostics: diagnostics.map(toPlanDiagnostic),
  };
  return { plan, diagnostics, groups };
}

function toPlanDiagnostic(d: Diagnostic): PlanDiagnostic {
  const out: PlanDiagnostic = { severity: d.severity, code: d.code, message: d.message };
  if (d.adapter !== undefined) out.adapter = d.adapter;
  return out;
}

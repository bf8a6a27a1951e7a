import type * as tf from "@tensorflow/tfjs-core";
import { PLAN_FORMAT, type Plan, type PlanAdapter, type PlanModel, type PlanTarget, type PlanTieGroup } from "../compiler/plan/types.js";
import { collectedError, RuntimeInputError } from "./errors.js";
import { diffModules, fingerprintModel, toGraph, type RuntimeGraph } from "./graph.js";
import { LoraLayer, initFactors, type AdaptedBase, type LoraFactors } from "./lora/layers.js";
import { LoraModel } from "./lora/model.js";
import { SavedModule, cloneModule } from "./lora/saved.js";
import { Conv1D, Embedding, Linear } from "./nn/layers.js";
import { initMethod, isGaussian, isRecord, sameScaling, settingValues } from "./plan-settings.js";
import type { Module } from "./nn/module.js";
import { Rng } from "./random.js";

export interface ApplyOptions {
  /** Seed for adapter initialisation and dropout masks; unseeded when absent. */
  seed?: number;
  /**
   * The graph the plan was compiled from. When the fingerprint does not match, the error then
   * lists every differing module; without it, only the plan's targets can be compared.
   */
  graph?: { modules: Iterable<{ name: string; type: string }> };
  /** Path of the plan file, named in error messages when given. */
  planFile?: string;
}

const KIND_CLASS = { linear: "Linear", embedding: "Embedding", conv1d_gpt2: "Conv1D" } as const;
type SupportedKind = keyof typeof KIND_CLASS;

const unset = (v: unknown): boolean => v === undefined || v === null;
const emptyOrUnset = (v: unknown): boolean => unset(v) || (Array.isArray(v) ? v.length === 0 : isRecord(v) && Object.keys(v).length === 0);

/**
 * Adapter settings that change the computation, with the values the runtime implements and the
 * reason any other value is rejected. Settings not listed here (r, lora_alpha, lora_dropout,
 * use_rslora, target_modules, ensure_weight_tying, task_type) are applied through each target's
 * own r, scaling and dropout, or through the tie groups.
 */
const SUPPORTED_SETTINGS: Record<string, { supports: (v: unknown) => boolean; reason: string }> = {
  use_dora: { supports: (v) => unset(v) || v === false, reason: "the runtime does not implement DoRA" },
  lora_bias: { supports: (v) => unset(v) || v === false, reason: "the runtime does not implement a bias on lora_B" },
  bias: { supports: (v) => unset(v) || v === "none", reason: "the runtime does not train the base model's biases; only \"none\" is supported" },
  init_lora_weights: {
    supports: (v) => unset(v) || v === true || isGaussian(v),
    reason: "the runtime implements only true (PEFT's default) and \"gaussian\"",
  },
  target_parameters: { supports: emptyOrUnset, reason: "the runtime does not adapt parameters directly (target_parameters)" },
  trainable_token_indices: { supports: emptyOrUnset, reason: "the runtime does not implement trainable tokens" },
};

/**
 * Applies a `peftc-plan/1` plan to a module tree: wraps every target with a LoRA layer and every
 * saved module with a trainable copy, wiring tie groups as the plan specifies. Everything is checked
 * before the model is touched (format, fingerprint, each target's type and shape, weight ties,
 * features the runtime lacks), and all problems are reported in one RuntimeInputError.
 */
export function applyPlan(model: Module, plan: Plan, options: ApplyOptions = {}): LoraModel {
  try {
    checkFormat(plan);
    checkFingerprint(model, plan, options);
    checkAdapter(model, plan.adapters[0]!, plan.model);
  } catch (err) {
    if (err instanceof RuntimeInputError && options.planFile !== undefined) err.diagnostic.file = options.planFile;
    throw err;
  }
  return inject(model, plan.adapters[0]!, new Rng(options.seed));
}

function checkFormat(plan: Plan): void {
  if (plan === null || typeof plan !== "object" || plan.format !== PLAN_FORMAT) {
    const found = plan !== null && typeof plan === "object" ? JSON.stringify(plan.format) : typeof plan;
    throw new RuntimeInputError("plan-format", `not a ${PLAN_FORMAT} plan (format is ${found})`);
  }
  if (!Array.isArray(plan.adapters) || plan.adapters.length === 0) {
    throw new RuntimeInputError("plan-no-adapter", "the plan has no adapter to apply");
  }
  if (plan.adapters.length > 1) {
    const names = plan.adapters.map((a) => a.name).join(", ");
    throw new RuntimeInputError("runtime-unsupported", `the runtime applies one adapter per plan, this plan has ${plan.adapters.length} (${names}); compile one adapter per plan`);
  }
}

function checkFingerprint(model: Module, plan: Plan, options: ApplyOptions): void {
  const actual = fingerprintModel(model);
  if (plan.model?.fingerprint === actual) return;
  const current = toGraph(model).modules;
  const problems = options.graph !== undefined ? diffModules(options.graph.modules, current) : targetProblems(model, plan.adapters[0]!);
  if (problems.length === 0) {
    problems.push(`model fingerprint is ${actual}; the plan's targets all match, so the difference is in another module (pass the plan's graph to list it)`);
  }
  const summary = `the plan was compiled for another model (plan fingerprint ${plan.model?.fingerprint}, model ${actual}); recompile it against this model with \`peftc plan SPEC --model DIR\`. Differences`;
  throw collectedError("fingerprint-mismatch", summary, problems);
}

/** Checks that each target and saved module exists with the plan's type and shape. */
function targetProblems(model: Module, adapter: PlanAdapter): string[] {
  const problems: string[] = [];
  for (const target of adapter.targets ?? []) {
    const module = model.findModule(target.module);
    if (module === undefined || target.module === "") {
      problems.push(`missing module ${target.module}`);
      continue;
    }
    const expectedClass = KIND_CLASS[target.kind as SupportedKind];
    if (expectedClass === undefined) continue;
    if (module.typeName !== expectedClass) {
      problems.push(`${target.module} is ${module.typeName}, the plan expects ${expectedClass} (kind ${target.kind})`);
      continue;
    }
    if (module instanceof LoraLayer || module instanceof SavedModule) {
      problems.push(`${target.module} is already adapted; unload the applied plan before applying another`);
      continue;
    }
    if (!(module instanceof Linear || module instanceof Embedding || module instanceof Conv1D)) {
      problems.push(`${target.module} is a custom ${module.typeName} module; the runtime adapts only its own Linear, Embedding and Conv1D classes`);
      continue;
    }
    const [inFeatures, outFeatures] = featuresOf(module);
    if (target.in_features !== inFeatures || target.out_features !== outFeatures) {
      problems.push(`${target.module} has shape ${inFeatures}x${outFeatures}, the plan expects ${target.in_features}x${target.out_features}`);
    }
  }
  for (const saved of adapter.modules_to_save ?? []) {
    const module = saved.module === "" ? undefined : model.findModule(saved.module);
    if (module === undefined) problems.push(`missing module ${saved.module} (modules_to_save)`);
    else if (module instanceof SavedModule || module instanceof LoraLayer) problems.push(`${saved.module} is already adapted; unload the applied plan before applying another`);
  }
  return problems;
}

/** Tells whether a target's scaling is PEFT's alpha / r or, under use_rslora, alpha / sqrt(r). */
function scalingFits(target: PlanTarget): boolean {
  const { r, alpha, scaling } = target;
  return sameScaling(scaling, alpha / r) || sameScaling(scaling, alpha / Math.sqrt(r));
}

/** PEFT's in/out features: Embedding gives (num_embeddings, embedding_dim). */
function featuresOf(module: AdaptedBase): [number, number] {
  return module instanceof Embedding ? [module.numEmbeddings, module.embeddingDim] : [module.inFeatures, module.outFeatures];
}

function checkAdapter(model: Module, adapter: PlanAdapter, planModel: PlanModel | undefined): void {
  const problems = targetProblems(model, adapter);
  problems.push(...tieProblemsOfModel(model, adapter, planModel));
  problems.push(...settingProblems(adapter));
  if (adapter.method !== "lora") problems.push(`method ${JSON.stringify(adapter.method)} is not supported; only lora is`);
  const groups = new Map((adapter.tie_groups ?? []).map((g) => [g.id, g]));
  for (const group of groups.values()) {
    if (group.mode === "shared_tokens") problems.push(`tie group ${group.id}: mode shared_tokens (trainable_token_indices) is not supported by the runtime`);
  }
  const targets = new Map((adapter.targets ?? []).map((t) => [t.module, t]));
  for (const target of targets.values()) {
    if (!(target.kind in KIND_CLASS)) {
      problems.push(`${target.module}: kind ${target.kind} is not supported; the runtime adapts linear, embedding and conv1d_gpt2`);
    }
    if (!Number.isInteger(target.r) || target.r <= 0) problems.push(`${target.module}: r must be a positive integer, got ${target.r}`);
    if (!Number.isFinite(target.scaling)) problems.push(`${target.module}: scaling must be a finite number, got ${target.scaling}`);
    else if (target.r > 0 && !scalingFits(target)) {
      const { r, alpha, scaling } = target;
      problems.push(`${target.module}: scaling ${scaling} is neither alpha / r (${alpha / r}) nor alpha / sqrt(r) (${alpha / Math.sqrt(r)}) for r ${r} and alpha ${alpha}; regenerate the plan with peftc plan`);
    }
    if (!(target.dropout >= 0 && target.dropout < 1)) problems.push(`${target.module}: dropout must be in [0, 1), got ${target.dropout}`);
    if (target.tie !== null && target.tie !== undefined) problems.push(...tieProblems(target, groups, targets));
  }
  const savedNames = new Set((adapter.modules_to_save ?? []).map((m) => m.module));
  for (const saved of adapter.modules_to_save ?? []) {
    if (saved.tie?.role !== "member") continue;
    const group = groups.get(saved.tie.group);
    if (group === undefined) {
      problems.push(`${saved.module}: tie group ${saved.tie.group} is not in the plan's tie_groups`);
      continue;
    }
    if (group.mode !== "shared_copy") continue;
    if (!savedNames.has(group.source)) {
      problems.push(`${saved.module}: its tie source ${group.source} is not in modules_to_save, so there is no copy to share`);
      continue;
    }
    const sourceWeight = weightOf(model.findModule(group.source));
    const memberWeight = weightOf(model.findModule(saved.module));
    if (sourceWeight === undefined || memberWeight === undefined || sourceWeight.shape.join("x") !== memberWeight.shape.join("x")) {
      problems.push(`${saved.module}: cannot share a saved copy with ${group.source}, their weights differ in shape or are missing`);
    }
  }
  if (problems.length > 0) throw collectedError("plan-not-applicable", `cannot apply adapter '${adapter.name}'`, problems);
}

const SHARING_MODES = new Set(["shared_adapter", "shared_copy", "shared_tokens"]);

/**
 * Checks the plan's weight ties against the model, which the fingerprint cannot do because a tied
 * and an untied model have the same module names and shapes. Every pair a sharing tie group or
 * `plan.model.tie_groups` lists must be one weight variable in the model. When the plan lists the
 * model's ties (`plan.model.tie_groups`, written by the compiler), every weight the model shares
 * must be listed there too.
 */
function tieProblemsOfModel(model: Module, adapter: PlanAdapter, planModel: PlanModel | undefined): string[] {
  const recompile = "recompile the plan against this model (peftc plan SPEC --model DIR)";
  const problems: string[] = [];
  const checked = new Set<string>();
  const planGroups: Array<{ source: string; members: string[] }> = [];
  for (const group of adapter.tie_groups ?? []) if (SHARING_MODES.has(group.mode)) planGroups.push(group);
  const modelGroups = Array.isArray(planModel?.["tie_groups"]) ? (planModel["tie_groups"] as Array<{ source: string; members: string[] }>) : undefined;
  planGroups.push(...(modelGroups ?? []));

  for (const group of planGroups) {
    const sourceWeight = weightOf(model.findModule(group.source));
    for (const member of group.members ?? []) {
      const pair = `${group.source}\n${member}`;
      if (checked.has(pair)) continue;
      checked.add(pair);
      const memberWeight = weightOf(model.findModule(member));
      // A missing module or weight is reported by the target checks or the fingerprint.
      if (sourceWeight === undefined || memberWeight === undefined || sourceWeight === memberWeight) continue;
      problems.push(`the plan ties ${member} to ${group.source}, but in this model they are separate weights; ${recompile}`);
    }
  }
  if (modelGroups === undefined) return problems;

  const tiedInPlan = (a: string, b: string): boolean => modelGroups.some((g) => [g.source, ...(g.members ?? [])].includes(a) && [g.source, ...(g.members ?? [])].includes(b));
  for (const [key, owner] of Object.entries(toGraph(model).tied_weights_keys ?? {})) {
    const member = moduleOfParameter(key);
    const source = moduleOfParameter(owner);
    if (!tiedInPlan(member, source)) problems.push(`in this model ${member} shares its weight with ${source}, but the plan was compiled for a model where they are separate; ${recompile}`);
  }
  return problems;
}

/** Returns the module that owns a fully-qualified parameter name: `lm_head.weight` → `lm_head`. */
function moduleOfParameter(parameter: string): string {
  const dot = parameter.lastIndexOf(".");
  return dot < 0 ? "" : parameter.slice(0, dot);
}

/** Lists the settings and trainable tokens the plan requests that the runtime does not implement. */
function settingProblems(adapter: PlanAdapter): string[] {
  const problems: string[] = [];
  const config = adapter["config"];
  if (config !== undefined && config !== null && !isRecord(config)) problems.push(`config must be an object, got ${JSON.stringify(config)}`);
  for (const [key, { supports, reason }] of Object.entries(SUPPORTED_SETTINGS)) {
    for (const { path, value } of settingValues(adapter, key)) {
      if (!supports(value)) problems.push(`${path} is ${JSON.stringify(value)}, but ${reason}`);
    }
  }
  const tokens = adapter["trainable_tokens"];
  if (Array.isArray(tokens)) {
    for (const entry of tokens as Array<{ module?: unknown; indices?: unknown }>) {
      const indices = Array.isArray(entry?.indices) ? ` (indices ${entry.indices.join(", ")})` : "";
      problems.push(`trainable_tokens lists ${String(entry?.module)}${indices}, but the runtime does not implement trainable tokens`);
    }
  } else if (tokens !== undefined && tokens !== null) {
    problems.push(`trainable_tokens must be an array, got ${JSON.stringify(tokens)}`);
  }
  return problems;
}

function tieProblems(target: PlanTarget, groups: Map<string, PlanTieGroup>, targets: Map<string, PlanTarget>): string[] {
  const tie = target.tie!;
  const group = groups.get(tie.group);
  if (group === undefined) return [`${target.module}: tie group ${tie.group} is not in the plan's tie_groups`];
  if (group.mode === "untied" || tie.role === "source") return [];
  if (group.mode !== "shared_adapter") return [`${target.module}: a target in a ${group.mode} tie group is not supported`];
  const source = targets.get(group.source);
  if (source === undefined) return [`${target.module}: its tie source ${group.source} is not a target`];
  const transposed = source.kind === "embedding" && target.kind !== "embedding";
  const problems: string[] = [];
  if (source.kind !== "embedding" && target.kind === "embedding") {
    problems.push(`${target.module}: an Embedding member of a ${source.kind} source is not supported`);
  } else if (transposed && target.kind !== "linear") {
    problems.push(`${target.module}: only a Linear member can use an Embedding source's adapter transposed, this one is ${target.kind}`);
  } else if (tie.orientation !== (transposed ? "transposed" : "same")) {
    problems.push(`${target.module}: orientation ${tie.orientation} does not fit a ${target.kind} member of a ${source.kind} source`);
  }
  const [sin, sout] = [source.in_features, source.out_features];
  const expected = transposed ? [sout, sin] : [sin, sout];
  if (target.in_features !== expected[0] || target.out_features !== expected[1]) {
    problems.push(`${target.module}: shape ${target.in_features}x${target.out_features} cannot share ${group.source}'s adapter (${sin}x${sout})`);
  }
  if (target.r !== source.r) problems.push(`${target.module}: r ${target.r} differs from its tie source's r ${source.r}`);
  return problems;
}

/** Replaces targets and saved modules; runs only after every check passed. */
function inject(model: Module, adapter: PlanAdapter, rng: Rng): LoraModel {
  const groups = new Map((adapter.tie_groups ?? []).map((g) => [g.id, g]));
  const layers = loraLayers(model, adapter, groups, rng);
  const savedCopies = savedModules(model, adapter, groups);

  for (const [name, layer] of layers) replaceModule(model, name, layer);
  for (const [name, saved] of savedCopies) replaceModule(model, name, saved);
  return new LoraModel(model, adapter, layers, savedCopies);
}

function loraLayers(model: Module, adapter: PlanAdapter, groups: Map<string, PlanTieGroup>, rng: Rng): Map<string, LoraLayer> {
  const init = initMethod(adapter);
  const layers = new Map<string, LoraLayer>();
  // Sources first, so members find their source's factors whatever the plan's order.
  const ordered = [...adapter.targets].sort((a, b) => Number(isSharedMember(a, groups)) - Number(isSharedMember(b, groups)));
  for (const target of ordered) {
    const base = model.findModule(target.module) as Linear | Conv1D | Embedding;
    let factors: LoraFactors;
    let settings = { r: target.r, alpha: target.alpha, scaling: target.scaling, dropout: target.dropout };
    if (isSharedMember(target, groups)) {
      // A member computes with its source's tensors, so with the source's r, alpha and scaling too.
      const source = layers.get(groups.get(target.tie!.group)!.source)!;
      factors = source.factors;
      settings = { ...source.settings, dropout: target.dropout };
    } else {
      factors = initFactors(base, target.r, rng, init);
    }
    layers.set(target.module, new LoraLayer(base, factors, settings, rng));
  }
  // Back to plan order, which is module order.
  return new Map(adapter.targets.map((t) => [t.module, layers.get(t.module)!]));
}

function savedModules(model: Module, adapter: PlanAdapter, groups: Map<string, PlanTieGroup>): Map<string, SavedModule> {
  const savedCopies = new Map<string, SavedModule>();
  const copyMemo = new Map<string, Map<unknown, unknown>>();
  const ordered = [...(adapter.modules_to_save ?? [])].sort((a, b) => Number(a.tie?.role === "member") - Number(b.tie?.role === "member"));
  for (const saved of ordered) {
    const original = model.findModule(saved.module)!;
    const group = saved.tie ? groups.get(saved.tie.group) : undefined;
    let memo = new Map<unknown, unknown>();
    if (group !== undefined && group.mode === "shared_copy") {
      memo = copyMemo.get(group.id) ?? memo;
      copyMemo.set(group.id, memo);
      if (saved.tie!.role === "member") {
        // The member's copy reuses the source copy's weight, even when the base model has two tensors.
        const sourceCopy = savedCopies.get(group.source)!.copy;
        memo.set(weightOf(original), weightOf(sourceCopy));
      }
    }
    const copy = cloneModule(original, memo);
    for (const [, module] of copy.namedModules()) if (module instanceof Embedding) module.trainsWeight = true;
    savedCopies.set(saved.module, new SavedModule(original, copy));
  }
  return new Map((adapter.modules_to_save ?? []).map((m) => [m.module, savedCopies.get(m.module)!]));
}

function weightOf(module: Module | undefined): tf.Variable | undefined {
  return module?.variables().find(([name]) => name === "weight")?.[1];
}

function isSharedMember(target: PlanTarget, groups: Map<string, PlanTieGroup>): boolean {
  return target.tie?.role === "member" && groups.get(target.tie.group)?.mode === "shared_adapter";
}

export function replaceModule(model: Module, path: string, replacement: Module): void {
  const where = model.parentOf(path);
  if (where === undefined) throw new Error(`no parent for module ${path}`);
  where.parent.replaceChild(where.name, replacement);
}

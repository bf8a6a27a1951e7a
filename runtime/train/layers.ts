import { fingerprintModules } from "../../compiler/graph/fingerprint.js";
import type { Plan } from "../../compiler/plan/types.js";
import { fingerprintModel, toGraph } from "../graph.js";
import type { CausalLM } from "../models/causal-lm.js";
import type { ModuleDescription } from "../nn/module.js";

/**
 * The module list of the model at its configured depth, when it was built with fewer layers:
 * layer 0's modules are repeated for every dropped layer index. Every layer of the GPT-2 and
 * Llama families has the same modules and shapes, so this is the graph of the full model.
 */
export function fullDepthModules(model: CausalLM, fullLayers: number): ModuleDescription[] {
  const modules = toGraph(model).modules;
  const firstLayer = `${model.layersPath}.0`;
  const kept = model.findModule(model.layersPath)!.children().length;
  const extra: ModuleDescription[] = [];
  for (let index = kept; index < fullLayers; index++) {
    for (const m of modules) {
      if (m.name === firstLayer || m.name.startsWith(`${firstLayer}.`)) {
        extra.push({ ...m, name: `${model.layersPath}.${index}${m.name.slice(firstLayer.length)}` });
      }
    }
  }
  return [...modules, ...extra];
}

/**
 * Fits a plan compiled for the full-depth model to a model built with only its first layers.
 * The plan's fingerprint must be the full model's (checked here), and then every target, saved
 * module and tie member inside a dropped layer is removed and the fingerprint becomes the
 * reduced model's. A plan that does not match the full model is returned unchanged, so that
 * applyPlan reports the mismatch.
 */
export function planForKeptLayers(plan: Plan, model: CausalLM, fullLayers: number): Plan {
  if (plan.model?.fingerprint === fingerprintModel(model)) return plan;
  if (plan.model?.fingerprint !== fingerprintModules(fullDepthModules(model, fullLayers))) return plan;
  const kept = model.findModule(model.layersPath)!.children().length;
  const dropped = (name: string): boolean => {
    if (!name.startsWith(`${model.layersPath}.`)) return false;
    const index = Number(name.slice(model.layersPath.length + 1).split(".")[0]);
    return index >= kept;
  };
  const adapters = plan.adapters.map((adapter) => {
    const targets = adapter.targets.filter((t) => !dropped(t.module));
    const saved = adapter.modules_to_save.filter((m) => !dropped(m.module));
    const groups = adapter.tie_groups
      .filter((g) => !dropped(g.source))
      .map((g) => ({ ...g, members: g.members.filter((m) => !dropped(m)) }));
    const counts = [...targets, ...saved].map((t) => t.parameters);
    const trainable = counts.every((c) => typeof c === "number") ? counts.reduce<number>((a, b) => a + (b as number), 0) : null;
    return { ...adapter, targets, modules_to_save: saved, tie_groups: groups, trainable_parameters: trainable };
  });
  return { ...plan, model: { ...plan.model, fingerprint: fingerprintModel(model) }, adapters };
}

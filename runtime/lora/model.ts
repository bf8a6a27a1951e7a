import * as tf from "@tensorflow/tfjs-core";
import type { PlanAdapter } from "../../compiler/plan/types.js";
import type { Module } from "../nn/module.js";
import type { LoraLayer } from "./layers.js";
import type { SavedModule } from "./saved.js";

/**
 * The handle `applyPlan` returns: the adapted model plus controls over its adapter. The model
 * itself is changed in place; calling it runs the adapters.
 */
export class LoraModel {
  /** Base weights split by `merge()` because two adapters changed one shared tensor: layer → shared variable. */
  private readonly splitWeights = new Map<LoraLayer, tf.Variable>();
  private unloaded = false;

  constructor(
    readonly model: Module,
    /** The plan's adapter entry this model was built from. */
    readonly adapter: PlanAdapter,
    /** LoRA layers by fully-qualified module name, in plan order. */
    readonly layers: ReadonlyMap<string, LoraLayer>,
    /** `modules_to_save` wrappers by module name. */
    readonly savedModules: ReadonlyMap<string, SavedModule>,
  ) {}

  get merged(): boolean {
    return [...this.layers.values()].some((l) => l.merged);
  }

  enableAdapters(): void {
    this.setEnabled(true);
  }

  /**
   * Runs the model as the base model: adapters are skipped and saved modules use their
   * originals. Merged adapters are unmerged first, as PEFT does.
   */
  disableAdapters(): void {
    if (this.merged) this.unmerge();
    this.setEnabled(false);
  }

  private setEnabled(enabled: boolean): void {
    this.assertLoaded();
    for (const layer of this.layers.values()) layer.enabled = enabled;
    for (const saved of this.savedModules.values()) saved.enabled = enabled;
  }

  /**
   * Lists the variables to train: every LoRA factor and every saved copy's variable, each once
   * even when a tie group shares it.
   */
  trainableVariables(): tf.Variable[] {
    const out = new Set<tf.Variable>();
    for (const layer of this.layers.values()) {
      out.add(layer.factors.A);
      out.add(layer.factors.B);
    }
    for (const saved of this.savedModules.values()) {
      for (const [, variable] of saved.copy.namedVariables()) out.add(variable);
    }
    return [...out];
  }

  /**
   * Adds each adapter's delta into its base weight, after which forward skips the adapters.
   * Layers of a `shared_adapter` group whose base weight is one tied tensor add their common
   * delta once. A tied tensor may also be read by a module with another adapter or with none,
   * as in an `untied` group or when a tied module is not a target. Merging then splits it, so
   * each adapter's layers get their own copy, and `unmerge()` ties them again.
   */
  merge(): void {
    this.assertLoaded();
    const pending = [...this.layers.values()].filter((l) => !l.merged);
    this.splitSharedWeights(pending);
    const done = new Set<tf.Variable>();
    for (const layer of pending) {
      const weight = layer.base.weight;
      if (!done.has(weight)) tf.tidy(() => weight.assign(tf.add(weight, layer.deltaWeight())));
      done.add(weight);
      layer.merged = true;
    }
  }

  private splitSharedWeights(pending: LoraLayer[]): void {
    const readers = new Map<tf.Variable, Set<string>>();
    for (const [, module] of this.model.namedModules()) {
      for (const [, variable] of module.variables()) {
        const set = readers.get(variable) ?? new Set<string>();
        set.add(this.adapterKey(module));
        readers.set(variable, set);
      }
    }
    const copies = new Map<string, tf.Variable>();
    for (const layer of pending) {
      const weight = layer.base.weight;
      if ((readers.get(weight)?.size ?? 1) <= 1) continue;
      const key = `${this.adapterKey(layer)}|${weight.id}`;
      let own = copies.get(key);
      if (own === undefined) {
        own = tf.variable(weight.clone(), weight.trainable);
        copies.set(key, own);
      }
      this.splitWeights.set(layer, weight);
      layer.base.replaceVariable("weight", own);
    }
  }

  /** Identifies the computation a module adds to its base weight: its factors and scaling, or none. */
  private adapterKey(module: Module): string {
    const layer = [...this.layers.values()].find((l) => l === module);
    if (layer === undefined) return "none";
    const factorIds = `${layer.factors.A.id}/${layer.factors.B.id}`;
    return `${factorIds}@${layer.settings.scaling}`;
  }

  /** Subtracts the deltas `merge()` added, restoring the base weights within float rounding. */
  unmerge(): void {
    this.assertLoaded();
    const done = new Set<tf.Variable>();
    for (const layer of this.layers.values()) {
      if (!layer.merged) continue;
      layer.merged = false;
      const shared = this.splitWeights.get(layer);
      if (shared !== undefined) {
        if (!layer.base.weight.isDisposed) layer.base.weight.dispose();
        layer.base.replaceVariable("weight", shared);
        this.splitWeights.delete(layer);
        continue;
      }
      if (done.has(layer.base.weight)) continue;
      done.add(layer.base.weight);
      tf.tidy(() => layer.base.weight.assign(tf.sub(layer.base.weight, layer.deltaWeight())));
    }
  }

  /**
   * Removes the adapters and returns the base model: targets and saved modules get their
   * original modules back (unmerged first), and the adapter variables are disposed.
   */
  unload(): Module {
    this.unmerge();
    return this.removeWrappers(false);
  }

  /**
   * Merges the adapters into the base weights, then removes them. Saved modules keep their
   * trained copies, as PEFT's `merge_and_unload` does.
   */
  mergeAndUnload(): Module {
    this.merge();
    return this.removeWrappers(true);
  }

  private removeWrappers(keepSavedCopies: boolean): Module {
    const disposed = new Set<tf.Variable>();
    for (const [name, layer] of this.layers) {
      this.replace(name, layer.base);
      for (const v of [layer.factors.A, layer.factors.B]) disposed.add(v);
    }
    for (const [name, saved] of this.savedModules) {
      this.replace(name, keepSavedCopies ? saved.copy : saved.original);
      if (!keepSavedCopies) for (const [, v] of saved.copy.namedVariables()) if (!saved.original.namedVariables().some(([, o]) => o === v)) disposed.add(v);
    }
    for (const v of disposed) v.dispose();
    this.unloaded = true;
    return this.model;
  }

  private replace(path: string, module: Module): void {
    const where = this.model.parentOf(path);
    if (where === undefined) throw new Error(`no parent for module ${path}`);
    where.parent.replaceChild(where.name, module);
  }

  private assertLoaded(): void {
    if (this.unloaded) throw new Error("the adapters were unloaded; apply the plan again to use them");
  }
}

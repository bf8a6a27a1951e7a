import * as tf from "@tensorflow/tfjs-core";
import { Module, type ModuleDescription } from "../nn/module.js";

/**
 * A module from `modules_to_save`: forward runs a trainable copy while adapters are enabled and
 * the frozen original otherwise (PEFT's ModulesToSaveWrapper). The tree below it keeps the
 * original's names, so graphs and fingerprints do not change.
 */
export class SavedModule extends Module {
  readonly typeName: string;
  enabled = true;

  constructor(readonly original: Module, readonly copy: Module) {
    super();
    this.typeName = original.typeName;
  }

  override children(): Array<[string, Module]> {
    return this.original.children();
  }

  override variables(): Array<[string, tf.Variable]> {
    return this.original.variables();
  }

  override describe(): Omit<ModuleDescription, "name"> {
    return this.original.describe();
  }

  override train(mode = true): this {
    super.train(mode);
    this.copy.train(mode);
    return this;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return (this.enabled ? this.copy : this.original).forward(x);
  }
}

/**
 * Deep-copies a module tree: every tf.Variable reached from the module's own fields and child
 * modules gets a fresh variable with the same values, and anything else is shared. `memo` maps
 * originals to their copies, so a variable or module reached twice is copied once. Entries put
 * in it beforehand are used as they are, which is how a tied member's copy reuses its source's
 * copied weight.
 */
export function cloneModule<M extends Module>(module: M, memo: Map<unknown, unknown> = new Map()): M {
  return cloneValue(module, memo) as M;
}

function cloneValue(value: unknown, memo: Map<unknown, unknown>): unknown {
  if (memo.has(value)) return memo.get(value);
  if (value instanceof tf.Variable) {
    const copy = tf.variable(value.clone(), true);
    memo.set(value, copy);
    return copy;
  }
  if (value instanceof Map) {
    const copy = new Map();
    memo.set(value, copy);
    for (const [k, v] of value) copy.set(k, cloneValue(v, memo));
    return copy;
  }
  if (value instanceof Module) {
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
    memo.set(value, copy);
    for (const key of Object.keys(value)) copy[key] = cloneValue((value as unknown as Record<string, unknown>)[key], memo);
    return copy;
  }
  return value;
}

import type { GraphModule } from "../graph/types.js";

/** Names of the children seen so far under one open module; a Set only once there are many. */
class SiblingNames {
  private names: string[] = [];
  private set: Set<string> | null = null;

  /** Adds `name`; returns false when it was already there. */
  add(name: string): boolean {
    if (this.set !== null) {
      if (this.set.has(name)) return false;
      this.set.add(name);
      return true;
    }
    if (this.names.includes(name)) return false;
    this.names.push(name);
    if (this.names.length > 16) this.set = new Set(this.names);
    return true;
  }
}

/**
 * Checks whether `modules` is already what normalizeModules would return: valid dotted names,
 * none listed twice, every dotted prefix listed, and each module right after its parent's
 * earlier descendants (a pre-order walk, as `named_modules()` lists them). Graphs exported from
 * a live model are in that form, and checking it takes one pass with no index of all names.
 */
export function isNamedModulesOrder(modules: readonly GraphModule[]): boolean {
  // The open ancestors of the current module, outermost first, with the children seen under each.
  const open: string[] = [];
  // Created on the first child, because most modules are leaves.
  const siblings: Array<SiblingNames | null> = [null];
  for (const m of modules) {
    const name = m.name;
    if (name === "" || name.startsWith(".") || name.endsWith(".") || name.includes("..")) return false;
    const dot = name.lastIndexOf(".");
    // Close ancestors until the innermost open one is the parent (name up to the last dot).
    while (open.length > 0) {
      const top = open[open.length - 1]!;
      if (dot >= 0 && top.length === dot && name.startsWith(top)) break;
      open.pop();
      siblings.pop();
    }
    if (dot >= 0 && open.length === 0) return false;
    const level = siblings.length - 1;
    const seen = (siblings[level] ??= new SiblingNames());
    if (!seen.add(name)) return false;
    open.push(name);
    siblings.push(null);
  }
  return true;
}

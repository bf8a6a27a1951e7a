import { PeftcError } from "../errors.js";
import type { Graph, GraphModule } from "./types.js";

/** Source file of a module list, named in error messages. */
export interface NormalizeSource {
  file?: string;
}

interface TrieNode {
  name: string;
  module: GraphModule | null;
  /** Children in first-appearance order, and the same nodes by segment for lookup. */
  children: TrieNode[];
  bySegment: Map<string, TrieNode> | null;
}

/**
 * Orders `modules` the way PyTorch's `named_modules()` lists them: a pre-order walk in which every
 * module comes right before its descendants and siblings keep the order of their first appearance.
 * Each missing dotted prefix is inserted as a container of type `Module` (or the type
 * `impliedType` returns). Runs in time linear in the total length of the names.
 *
 * Throws `duplicate-module` when a name is listed twice and `invalid-module-name` for an empty name
 * or an empty dotted segment.
 */
export function normalizeModules(
  modules: readonly GraphModule[],
  source: NormalizeSource = {},
  impliedType: (name: string, childNames: string[]) => string = () => "Module",
): GraphModule[] {
  const root: TrieNode = { name: "", module: null, children: [], bySegment: null };
  for (const m of modules) {
    if (m.name === "" || m.name.startsWith(".") || m.name.endsWith(".") || m.name.includes("..")) {
      throw new PeftcError(
        "invalid-module-name",
        `module name '${m.name}' is not a dotted path of non-empty names; the root module is implied and must not be listed`,
        source,
      );
    }
    let node = root;
    let start = 0;
    while (start <= m.name.length) {
      let end = m.name.indexOf(".", start);
      if (end < 0) end = m.name.length;
      const segment = m.name.slice(start, end);
      if (node.bySegment === null) node.bySegment = new Map();
      let child = node.bySegment.get(segment);
      if (child === undefined) {
        child = { name: m.name.slice(0, end), module: null, children: [], bySegment: null };
        node.bySegment.set(segment, child);
        node.children.push(child);
      }
      node = child;
      start = end + 1;
    }
    if (node.module !== null) {
      throw new PeftcError("duplicate-module", `module '${m.name}' is listed twice; keep one entry per module`, source);
    }
    node.module = m;
  }

  const out: GraphModule[] = [];
  // Iterative pre-order walk: models can nest deeper than the call stack allows for recursion.
  const stack: TrieNode[] = [];
  for (let i = root.children.length - 1; i >= 0; i--) stack.push(root.children[i]!);
  while (stack.length > 0) {
    const node = stack.pop()!;
    out.push(node.module ?? { name: node.name, type: impliedType(node.name, node.bySegment === null ? [] : [...node.bySegment.keys()]) });
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return out;
}

/** Returns `graph` with its modules normalized by `normalizeModules` (a new object; the input is unchanged). */
export function normalizeGraph(graph: Graph, source: NormalizeSource = {}): Graph {
  return { ...graph, modules: normalizeModules(graph.modules, source) };
}

/** Implied-container type for imported checkpoints: a prefix whose children are all numbered is a ModuleList. */
export function moduleListWhenNumbered(_name: string, childNames: string[]): string {
  return childNames.length > 0 && childNames.every((c) => /^\d+$/.test(c)) ? "ModuleList" : "Module";
}

import { PeftcError } from "../errors.js";
import type { Graph, GraphModule } from "./types.js";

/** Where a module list came from, for error messages. */
export interface NormalizeSource {
  file?: string;
}

interface TrieNode {
  module: GraphModule | null;
  children: Map<string, TrieNode>;
}

/**
 * Orders `modules` the way PyTorch's `named_modules()` lists them: a pre-order walk in which every
 * module comes right before its descendants and siblings keep the order of their first appearance.
 * Each missing dotted prefix is inserted as a container of type `Module` (ModuleList when
 * `impliedType` says so). Runs in time linear in the total length of the names.
 *
 * Throws `duplicate-module` when a name is listed twice and `invalid-module-name` for an empty name
 * or an empty dotted segment.
 */
export function normalizeModules(
  modules: readonly GraphModule[],
  source: NormalizeSource = {},
  impliedType: (name: string, childNames: string[]) => string = () => "Module",
): GraphModule[] {
  const root: TrieNode = { module: null, children: new Map() };
  for (const m of modules) {
    if (m.name === "" || m.name.startsWith(".") || m.name.endsWith(".") || m.name.includes("..")) {
      throw new PeftcError(
        "invalid-module-name",
        `module name '${m.name}' is not a dotted path of non-empty names; the root module is implied and must not be listed`,
        source,
      );
    }
    let node = root;
    for (const segment of m.name.split(".")) {
      let child = node.children.get(segment);
      if (child === undefined) {
        child = { module: null, children: new Map() };
        node.children.set(segment, child);
      }
      node = child;
    }
    if (node.module !== null) {
      throw new PeftcError("duplicate-module", `module '${m.name}' is listed twice; keep one entry per module`, source);
    }
    node.module = m;
  }

  const out: GraphModule[] = [];
  // Iterative pre-order walk: models can nest deeper than the call stack allows for recursion.
  const stack: Array<[string, TrieNode]> = [];
  const pushChildren = (prefix: string, node: TrieNode): void => {
    const entries = [...node.children.entries()];
    for (let i = entries.length - 1; i >= 0; i--) {
      const [segment, child] = entries[i]!;
      stack.push([prefix === "" ? segment : `${prefix}.${segment}`, child]);
    }
  };
  pushChildren("", root);
  while (stack.length > 0) {
    const [name, node] = stack.pop()!;
    out.push(node.module ?? { name, type: impliedType(name, [...node.children.keys()]) });
    pushChildren(name, node);
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

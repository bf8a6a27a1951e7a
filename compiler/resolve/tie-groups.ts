/**
 * Tie groups of a model: sets of modules whose weights are one tensor, read from the graph's
 * tied-weight declarations and resolved to fully-qualified module names.
 */
import type { Graph, TiedWeightsKeys } from "../graph/types.js";
import { indicesOfNames } from "./names.js";

export interface TieGroup {
  /** The shared parameter's fully-qualified name, e.g. `model.embed_tokens.weight`. */
  id: string;
  /** The module that owns the shared tensor: the input embedding when it is in the group. */
  source: string;
  /** The other modules of the group, in module order. */
  members: string[];
}

const WEIGHT_SUFFIX = ".weight";

function moduleOfParameter(param: string): string {
  return param.endsWith(WEIGHT_SUFFIX) ? param.slice(0, -WEIGHT_SUFFIX.length) : param;
}

/** Tied parameter pairs (target -> source), fully qualified, from the root and submodule declarations. */
function declaredEdges(graph: Graph): Array<[string, string]> {
  const inputWeight = graph.input_embeddings ? graph.input_embeddings + WEIGHT_SUFFIX : null;
  const edges: Array<[string, string]> = [];
  const add = (prefix: string, keys: TiedWeightsKeys | null | undefined) => {
    if (!keys) return;
    if (Array.isArray(keys)) {
      // transformers v4 lists only the tied targets; their source is the input embedding.
      if (inputWeight === null) return;
      for (const target of keys) edges.push([prefix + target, inputWeight]);
    } else {
      for (const [target, source] of Object.entries(keys)) edges.push([prefix + target, prefix + source]);
    }
  };
  add("", graph.tied_weights_keys);
  for (const [submodule, keys] of Object.entries(graph.module_tied_weights_keys ?? {})) add(submodule === "" ? "" : submodule + ".", keys);
  return edges;
}

/**
 * Builds the tie groups. With `config.tie_word_embeddings: false`, every tie that involves the
 * input or output embedding is dropped.
 */
export function tieGroupsOf(graph: Graph): TieGroup[] {
  const edges = declaredEdges(graph);
  // Module order of the tied modules only: a handful of names, looked up in one pass.
  const order = indicesOfNames(graph.modules, edges.flatMap(([target, source]) => [moduleOfParameter(target), moduleOfParameter(source)]));
  const embeddingTiesOff = graph.config["tie_word_embeddings"] === false;
  const embeddings = new Set([graph.input_embeddings, graph.output_embeddings].filter((x): x is string => typeof x === "string"));

  // Union-find over parameter names; the root of a chain target -> source -> ... is the shared tensor.
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    return root;
  };
  for (const [target, source] of edges) {
    const targetModule = moduleOfParameter(target);
    const sourceModule = moduleOfParameter(source);
    if (!order.has(targetModule) || !order.has(sourceModule) || targetModule === sourceModule) continue;
    if (embeddingTiesOff && (embeddings.has(targetModule) || embeddings.has(sourceModule))) continue;
    const a = find(target);
    const b = find(source);
    if (a !== b) parent.set(a, b);
    if (!parent.has(b)) parent.set(b, b);
  }

  const byRoot = new Map<string, Set<string>>();
  for (const param of parent.keys()) {
    const root = find(param);
    let set = byRoot.get(root);
    if (!set) byRoot.set(root, (set = new Set()));
    set.add(moduleOfParameter(param));
  }

  const groups: TieGroup[] = [];
  for (const [root, moduleSet] of byRoot) {
    if (moduleSet.size < 2) continue;
    const inGroup = [...moduleSet].sort((a, b) => order.get(a)! - order.get(b)!);
    const input = graph.input_embeddings;
    const source = input && moduleSet.has(input) ? input : moduleOfParameter(root);
    groups.push({ id: source + WEIGHT_SUFFIX, source, members: inGroup.filter((m) => m !== source) });
  }
  return groups.sort((a, b) => order.get(a.source)! - order.get(b.source)!);
}

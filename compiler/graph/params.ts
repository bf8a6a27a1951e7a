import type { Graph, GraphModule, TiedWeightsKeys } from "./types.js";

/** Container classes that own no parameters unless the graph gives a count. */
const CONTAINER_TYPES = new Set(["Module", "ModuleList", "ModuleDict", "Sequential"]);

const known = (v: number | null | undefined): v is number => typeof v === "number";

/** Size of the module's `weight` tensor, or null when the type or a size is unknown. */
export function weightSize(m: GraphModule): number | null {
  switch (m.type) {
    case "Linear":
    case "Conv1D":
      return known(m.in_features) && known(m.out_features) ? m.in_features * m.out_features : null;
    case "Embedding":
      return known(m.num_embeddings) && known(m.embedding_dim) ? m.num_embeddings * m.embedding_dim : null;
    case "Conv1d":
    case "Conv2d":
    case "Conv3d": {
      if (!known(m.in_channels) || !known(m.out_channels) || !m.kernel_size) return null;
      const groups = m.groups ?? 1;
      return m.out_channels * (m.in_channels / groups) * m.kernel_size.reduce((a, b) => a * b, 1);
    }
    case "MultiheadAttention":
      // in_proj_weight (3E x E) and out_proj (a Linear child listed on its own).
      return known(m.embed_dim) ? 3 * m.embed_dim * m.embed_dim : null;
    default:
      return null;
  }
}

/** Size of the module's `bias` tensor (0 without bias), or null when unknown. */
export function biasSize(m: GraphModule): number | null {
  if (m.bias === false) return 0;
  if (m.bias !== true) return null;
  switch (m.type) {
    case "Linear":
    case "Conv1D":
      return known(m.out_features) ? m.out_features : null;
    case "Conv1d":
    case "Conv2d":
    case "Conv3d":
      return known(m.out_channels) ? m.out_channels : null;
    case "MultiheadAttention":
      return known(m.embed_dim) ? 3 * m.embed_dim : null;
    default:
      return null;
  }
}

/**
 * Parameters the module owns directly, children excluded: the weight and bias of a Linear, Conv1D,
 * Embedding or Conv layer. Any other type (norms, modules with loose parameters) uses the
 * `parameters` field of the module. A container without that field owns 0, and any other module
 * without it is unknown (null).
 */
export function ownParameters(m: GraphModule): number | null {
  const weight = weightSize(m);
  if (weight !== null) {
    if (m.type === "Embedding") return weight;
    const bias = biasSize(m);
    return bias === null ? null : weight + bias;
  }
  if (known(m.parameters)) return m.parameters;
  if (CONTAINER_TYPES.has(m.type) && m.parameters === undefined) return 0;
  return null;
}

/** Size of a parameter named `module.weight` or `module.bias`; null when not a known module tensor. */
function parameterSize(byName: Map<string, GraphModule>, parameter: string): number | null {
  const dot = parameter.lastIndexOf(".");
  if (dot < 0) return null;
  const m = byName.get(parameter.slice(0, dot));
  if (m === undefined) return null;
  const leaf = parameter.slice(dot + 1);
  if (leaf === "weight") return weightSize(m);
  if (leaf === "bias") return biasSize(m);
  return null;
}

/** Tied target parameters with their sources (null for the list form, which names no source). */
function* tiedPairs(keys: TiedWeightsKeys | null | undefined, prefix: string): Generator<[string, string | null]> {
  if (keys === null || keys === undefined) return;
  const qualify = (n: string): string => (prefix === "" ? n : `${prefix}.${n}`);
  if (Array.isArray(keys)) {
    for (const target of keys) yield [qualify(target), null];
  } else {
    for (const [target, source] of Object.entries(keys)) yield [qualify(target), qualify(source)];
  }
}

/**
 * Total parameters of the model, as `sum(p.numel() for p in model.parameters())` counts them: a
 * tied tensor once. Ties follow the graph's declarations unless `config.tie_word_embeddings` is
 * false. Returns null when any module's own count is unknown.
 */
export function countGraphParameters(graph: Graph): number | null {
  let total = 0;
  for (const m of graph.modules) {
    const own = ownParameters(m);
    if (own === null) return null;
    total += own;
  }
  if (graph.config?.["tie_word_embeddings"] === false) return total;

  const pairs: Array<[string, string | null]> = [...tiedPairs(graph.tied_weights_keys, "")];
  for (const [prefix, keys] of Object.entries(graph.module_tied_weights_keys ?? {})) pairs.push(...tiedPairs(keys, prefix));
  if (pairs.length === 0) return total;

  // Only the modules named by a tie are looked up, so large graphs build no full name index.
  const owner = (parameter: string): string => parameter.slice(0, Math.max(0, parameter.lastIndexOf(".")));
  const wanted = new Set<string>();
  for (const [target, source] of pairs) {
    wanted.add(owner(target));
    if (source !== null) wanted.add(owner(source));
  }
  const byName = new Map<string, GraphModule>();
  for (const m of graph.modules) if (wanted.has(m.name)) byName.set(m.name, m);

  const counted = new Set<string>();
  for (const [target, source] of pairs) {
    if (counted.has(target) || target === source) continue;
    const size = parameterSize(byName, target);
    // A declared tie whose target or source the graph does not hold removes nothing.
    if (size === null) continue;
    if (source !== null && !byName.has(owner(source))) continue;
    total -= size;
    counted.add(target);
  }
  return total;
}

/** Sets `parameters` on every module of `graph` (in place) and returns the graph with its total. */
export function withParameterCounts(graph: Graph): Graph {
  for (const m of graph.modules) m.parameters = ownParameters(m);
  return { ...graph, parameters: countGraphParameters(graph) };
}

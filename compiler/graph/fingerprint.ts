import { createHash } from "node:crypto";
import { ADAPTABLE_TYPES, type Graph, type GraphModule } from "./types.js";

/**
 * One line per adaptable module: its name, type and shape. Containers, norms and other
 * non-adaptable modules are left out, so the same model imported from a checkpoint index,
 * a graph JSON export or a runtime module tree gets the same fingerprint. Unknown sizes
 * are written as `?`.
 */
export function fingerprintLine(m: GraphModule): string | null {
  if (!ADAPTABLE_TYPES.has(m.type)) return null;
  const size = (v: number | null | undefined): string => (typeof v === "number" ? String(v) : "?");
  switch (m.type) {
    case "Linear":
    case "Conv1D":
      return `${m.name} ${m.type} ${size(m.in_features)}x${size(m.out_features)}`;
    case "Embedding":
      return `${m.name} ${m.type} ${size(m.num_embeddings)}x${size(m.embedding_dim)}`;
    case "MultiheadAttention":
      return `${m.name} ${m.type} ${size(m.embed_dim)}`;
    default: {
      const kernel = m.kernel_size ? m.kernel_size.join("x") : "?";
      return `${m.name} ${m.type} ${size(m.in_channels)}x${size(m.out_channels)}k${kernel}`;
    }
  }
}

/** `sha256:<hex>` over the sorted fingerprint lines of the adaptable modules. */
export function fingerprintModules(modules: Iterable<GraphModule>): string {
  const lines: string[] = [];
  for (const m of modules) {
    const line = fingerprintLine(m);
    if (line !== null) lines.push(line);
  }
  lines.sort();
  return "sha256:" + createHash("sha256").update(lines.join("\n")).digest("hex");
}

const fingerprints = new WeakMap<readonly GraphModule[], string>();

/**
 * Returns the fingerprint of a loaded graph, computed once per module list: `peftc plan --write`
 * compiles many specs against one import, and a graph is not changed after it is loaded.
 */
export function graphFingerprint(graph: Graph): string {
  let fingerprint = fingerprints.get(graph.modules);
  if (fingerprint === undefined) {
    fingerprint = fingerprintModules(graph.modules);
    fingerprints.set(graph.modules, fingerprint);
  }
  return fingerprint;
}

import { createHash } from "node:crypto";
import { ADAPTABLE_TYPES, type Graph, type GraphModule } from "./types.js";

/**
 * One line per adaptable module: its name, type and shape. Containers, norms and other
 * non-adaptable modules are left out, so the same model imported from a checkpoint index,
 * a graph JSON export or a runtime module tree gets the same fingerprint. Unknown sizes
 * are written as `?`.
 */
export function fingerprintLine(m: GraphModule): string | null {
  return ADAPTABLE_TYPES.has(m.type) ? adaptableLine(m) : null;
}

function size(v: number | null | undefined): string {
  return typeof v === "number" ? String(v) : "?";
}

/** Builds the fingerprint line of a module whose type is in ADAPTABLE_TYPES. */
function adaptableLine(m: GraphModule): string {
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

/** Lines per hash update, because one call per line is slow and one string of all lines is large. */
const HASH_BATCH = 4096;

/**
 * Hashes the fingerprint lines of the adaptable modules, sorted and joined with newlines, and
 * returns `sha256:<hex>`.
 *
 * Each line starts with the module's name, so sorting the modules by name puts their lines in
 * sorted order too, and the lines are built once, already in order. The one exception: a name
 * that is a prefix of the next one, followed there by a character at or below the space that
 * ends a name in its line (or two equal names). Then the lines are sorted as they are.
 */
export function fingerprintModules(modules: Iterable<GraphModule>): string {
  const adaptable: GraphModule[] = [];
  for (const m of modules) if (ADAPTABLE_TYPES.has(m.type)) adaptable.push(m);
  adaptable.sort(compareNames);
  const hash = createHash("sha256");
  if (namesOrderLines(adaptable)) {
    // Lines are built a batch at a time, so only one batch of them is alive at once.
    const batch: string[] = [];
    for (let start = 0; start < adaptable.length; start += HASH_BATCH) {
      const end = Math.min(start + HASH_BATCH, adaptable.length);
      batch.length = 0;
      for (let i = start; i < end; i++) batch.push(adaptableLine(adaptable[i]!));
      hash.update((start > 0 ? "\n" : "") + batch.join("\n"));
    }
  } else {
    hash.update(adaptable.map(adaptableLine).sort().join("\n"));
  }
  return "sha256:" + hash.digest("hex");
}

/** Orders modules by name in UTF-16 code units, the order Array.prototype.sort gives strings. */
function compareNames(a: GraphModule, b: GraphModule): number {
  if (a.name < b.name) return -1;
  if (a.name > b.name) return 1;
  return 0;
}

/** Checks that modules sorted by name also have their fingerprint lines in sorted order. */
function namesOrderLines(sorted: readonly GraphModule[]): boolean {
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1]!.name;
    const name = sorted[i]!.name;
    if (name === before) return false;
    if (name.length > before.length && name.charCodeAt(before.length) <= 32 && name.startsWith(before)) return false;
  }
  return true;
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

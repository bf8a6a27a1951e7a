import { fingerprintLine, fingerprintModules } from "../compiler/graph/fingerprint.js";
import type { Module, ModuleDescription } from "./nn/module.js";

/** A `peftc-graph/1` document describing a runtime module tree (the compiler's Graph shape). */
export interface RuntimeGraph {
  format: "peftc-graph/1";
  model_type: string | null;
  architectures: string[];
  config: Record<string, unknown>;
  modules: ModuleDescription[];
  tied_weights_keys?: Record<string, string>;
  input_embeddings?: string | null;
  output_embeddings?: string | null;
  parameters: number;
}

export interface GraphOptions {
  modelType?: string | null;
  architectures?: string[];
  config?: Record<string, unknown>;
  inputEmbeddings?: string | null;
  outputEmbeddings?: string | null;
}

/**
 * Describes a module tree as a `peftc-graph/1` graph: every named module except the root, in
 * `namedModules()` order. Weights shared between modules (the same tf.Variable) become
 * `tied_weights_keys` entries, target → first owner, as transformers v5 declares them.
 */
export function toGraph(model: Module, options: GraphOptions = {}): RuntimeGraph {
  const modules: ModuleDescription[] = [];
  for (const [name, module] of model.namedModules()) {
    if (name === "") continue;
    modules.push({ name, ...module.describe() });
  }
  const owners = new Map<unknown, string>();
  const tied: Record<string, string> = {};
  let parameters = 0;
  for (const [name, module] of model.namedModules()) {
    for (const [local, variable] of module.variables()) {
      const key = name === "" ? local : `${name}.${local}`;
      const owner = owners.get(variable);
      if (owner === undefined) {
        owners.set(variable, key);
        parameters += variable.size;
      } else {
        tied[key] = owner;
      }
    }
  }
  const graph: RuntimeGraph = {
    format: "peftc-graph/1",
    model_type: options.modelType ?? null,
    architectures: options.architectures ?? [],
    config: options.config ?? {},
    modules,
    parameters,
  };
  if (Object.keys(tied).length > 0) graph.tied_weights_keys = tied;
  if (options.inputEmbeddings !== undefined) graph.input_embeddings = options.inputEmbeddings;
  if (options.outputEmbeddings !== undefined) graph.output_embeddings = options.outputEmbeddings;
  return graph;
}

/** Computes a module tree's plan fingerprint: the compiler's algorithm over `toGraph(model).modules`. */
export function fingerprintModel(model: Module): string {
  return fingerprintModules(toGraph(model).modules);
}

/**
 * Lists how two module lists differ in the fields the fingerprint covers: modules missing from
 * `actual`, extra ones, and ones whose type or shape differs.
 */
export function diffModules(expected: Iterable<ModuleDescription>, actual: Iterable<ModuleDescription>): string[] {
  const linesByName = (modules: Iterable<ModuleDescription>): Map<string, string> => {
    const out = new Map<string, string>();
    for (const m of modules) {
      const line = fingerprintLine(m);
      if (line !== null) out.set(m.name, line);
    }
    return out;
  };
  const want = linesByName(expected);
  const have = linesByName(actual);
  const problems: string[] = [];
  for (const [name, line] of want) {
    const got = have.get(name);
    if (got === undefined) problems.push(`missing module ${line}`);
    else if (got !== line) problems.push(`module differs: expected ${line}, found ${got}`);
  }
  for (const [name, line] of have) {
    if (!want.has(name)) problems.push(`extra module ${line}`);
  }
  return problems;
}

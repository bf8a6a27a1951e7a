/**
 * Importer for Hugging Face model directories: config.json plus a weight listing
 * (`model.safetensors.index.json`, `pytorch_model.bin.index.json`) and/or `*.safetensors` files.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { PeftcError } from "../errors.js";
import { moduleListWhenNumbered, normalizeModules } from "../graph/normalize.js";
import { withParameterCounts } from "../graph/params.js";
import { GRAPH_FORMAT, type Graph, type GraphModule } from "../graph/types.js";
import { architectureInfo, classTies, type ArchitectureInfo } from "./architectures.js";
import { fsError, readJsonFile } from "./json-file.js";
import { readSafetensorsHeader, type TensorInfo } from "./safetensors.js";
import { headKind, MissingConfigField, moduleTemplate, type ModelConfig } from "./templates.js";
import { collectParameters, moduleFromKeys, ShapeMismatch, type ModuleParameters } from "./weights.js";

/** Counters an import reports (the benchmark prints them). */
export interface ImportStats {
  /** Bytes read from safetensors files: length prefixes and JSON headers only. */
  headerBytesRead: number;
  /** Safetensors headers read. */
  headersRead: number;
}

const INDEX_FILES = ["model.safetensors.index.json", "pytorch_model.bin.index.json"];

interface WeightListing {
  /** Every tensor name, with its shard file when an index names one. */
  keys: string[];
  shapes: Map<string, TensorInfo>;
  files: string[];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return false;
    throw fsError(err, path, "file");
  }
}

function readIndex(path: string): Map<string, string> {
  const index = readJsonFile(path, "checkpoint index") as { weight_map?: unknown } | null;
  const map = index?.weight_map;
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new PeftcError("invalid-index", "checkpoint index has no 'weight_map' object; re-save the checkpoint or remove the index", {
      file: path,
    });
  }
  const out = new Map<string, string>();
  for (const [key, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== "string") {
      throw new PeftcError("invalid-index", `weight_map entry '${key}' is not a file name`, { file: path });
    }
    // Specs and models may come from strangers (peftc diff in CI), so an index must not make
    // peftc read files outside the model directory.
    if (shard === "" || isAbsolute(shard) || shard.split(/[\\/]/).includes("..")) {
      throw new PeftcError(
        "invalid-index",
        `weight_map entry '${key}' names shard ${JSON.stringify(shard)}, which is not a file inside the model directory; shard names must be relative paths without '..'`,
        { file: path },
      );
    }
    out.set(key, shard);
  }
  return out;
}

/**
 * Collects tensor names, and shapes where a safetensors header gives them. With an index, the
 * headers of its shards are read when any shard is present. A shard that the index names but the
 * directory lacks is an error only when shapes must come from headers (`needShapes`).
 */
function listWeights(dir: string, needShapes: boolean, stats: ImportStats): WeightListing | null {
  const shapes = new Map<string, TensorInfo>();
  const readHeader = (file: string): string[] => {
    const header = readSafetensorsHeader(join(dir, file));
    stats.headerBytesRead += header.bytesRead;
    stats.headersRead++;
    for (const [name, info] of header.tensors) shapes.set(name, info);
    return [...header.tensors.keys()];
  };

  for (const indexName of INDEX_FILES) {
    const indexPath = join(dir, indexName);
    if (!isFile(indexPath)) continue;
    const map = readIndex(indexPath);
    const shards = [...new Set(map.values())];
    const present = indexName.startsWith("model.safetensors") ? shards.filter((s) => isFile(join(dir, s))) : [];
    if (present.length > 0) {
      const missing = shards.filter((s) => !present.includes(s));
      if (missing.length > 0 && needShapes) {
        throw new PeftcError(
          "missing-shard",
          `index names shard '${missing[0]}', which is not in the directory; download every shard or remove the partial ones`,
          { file: indexPath },
        );
      }
      for (const shard of present) readHeader(shard);
    }
    return { keys: [...map.keys()], shapes, files: [indexName, ...present] };
  }

  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw fsError(err, dir, "model directory");
  }
  const files = entries.filter((e) => e.endsWith(".safetensors") && isFile(join(dir, e))).sort();
  if (files.length === 0) return null;
  const keys: string[] = [];
  for (const file of files) keys.push(...readHeader(file));
  return { keys, shapes, files };
}

/** Applies the architecture's checkpoint key renames and adds a missing base-model prefix. */
function renameKeys(keys: string[], shapes: Map<string, TensorInfo>, info: ArchitectureInfo | undefined, bare: boolean): [string[], Map<string, TensorInfo>] {
  if (info === undefined) return [keys, shapes];
  const renames = info.keyRenames ?? [];
  // A checkpoint of the bare base model (BLOOM's are saved that way) has no base prefix; the
  // model class adds it on load. Keys of the head (lm_head) stay at the root.
  const prefix = `${info.basePrefix}.`;
  const addPrefix = !bare && info.basePrefix !== "" && renames.length === 0 && keys.length > 0 && !keys.some((k) => k.startsWith(prefix));
  const headRoot = info.lmHead === null ? null : `${info.lmHead}.`;
  const rename = (key: string): string => {
    for (const [from, to] of renames) if (key.startsWith(from)) return to + key.slice(from.length);
    if (addPrefix && !(headRoot !== null && key.startsWith(headRoot))) return prefix + key;
    return key;
  };
  if (renames.length === 0 && !addPrefix) return [keys, shapes];
  const renamedShapes = new Map<string, TensorInfo>();
  for (const [k, v] of shapes) renamedShapes.set(rename(k), v);
  return [keys.map(rename), renamedShapes];
}

/** Reads `tie_word_embeddings`, looked up at the top level and then in `text_config`. */
function readTieWordEmbeddings(config: ModelConfig): boolean | undefined {
  if (typeof config["tie_word_embeddings"] === "boolean") return config["tie_word_embeddings"] as boolean;
  const text = config["text_config"];
  if (text !== null && typeof text === "object" && typeof (text as ModelConfig)["tie_word_embeddings"] === "boolean") {
    return (text as ModelConfig)["tie_word_embeddings"] as boolean;
  }
  return undefined;
}

/** Natural order of dotted names: numbered segments compare as numbers, so layer 10 follows layer 9. */
export function naturalSort(names: string[]): string[] {
  const keyed = names.map((name) => ({ name, parts: name.split(".") }));
  keyed.sort((a, b) => {
    const n = Math.min(a.parts.length, b.parts.length);
    for (let i = 0; i < n; i++) {
      const x = a.parts[i]!;
      const y = b.parts[i]!;
      if (x === y) continue;
      const xn = /^\d+$/.test(x);
      const yn = /^\d+$/.test(y);
      if (xn && yn) return Number(x) - Number(y);
      if (xn !== yn) return xn ? -1 : 1;
      return x < y ? -1 : 1;
    }
    return a.parts.length - b.parts.length;
  });
  return keyed.map((k) => k.name);
}

/** Reads a Hugging Face model directory into a normalized graph. */
export function importHfDirectory(dir: string, stats: ImportStats): Graph {
  const configPath = join(dir, "config.json");
  const hasConfig = isFile(configPath);
  const config: ModelConfig = hasConfig ? ((readJsonFile(configPath, "config.json") ?? {}) as ModelConfig) : {};
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new PeftcError("invalid-config", "config.json is not a JSON object", { file: configPath });
  }
  const modelType = typeof config["model_type"] === "string" ? (config["model_type"] as string) : null;
  const architectures = Array.isArray(config["architectures"]) ? (config["architectures"] as unknown[]).filter((a): a is string => typeof a === "string") : [];
  const className = architectures[0];
  const info = architectureInfo(modelType);

  let template: GraphModule[] | null = null;
  let templateProblem: string | null = null;
  if (modelType !== null) {
    try {
      template = moduleTemplate(modelType, className, config);
    } catch (err) {
      if (!(err instanceof MissingConfigField)) throw err;
      templateProblem = err.message;
    }
  }

  const listing = listWeights(dir, template === null, stats);
  if (listing === null && template === null) {
    const why = !hasConfig
      ? "it has no config.json and no weight files (model.safetensors.index.json, pytorch_model.bin.index.json or *.safetensors)"
      : templateProblem !== null
        ? `it has no weight listing, and the module layout of model_type '${modelType}' cannot be built because ${templateProblem}`
        : `it has no weight listing (model.safetensors.index.json, pytorch_model.bin.index.json or *.safetensors) and model_type ${modelType === null ? "is missing" : `'${modelType}' is not a known architecture`}`;
    throw new PeftcError("not-a-model", `not a model directory: ${why}; pass a Hugging Face model directory, a .safetensors file or a peftc-graph/1 JSON file`, {
      file: dir,
    });
  }

  const bare = headKind(className) === "base";
  const ties = modelType !== null && info !== undefined ? classTies(modelType, info, className) : null;
  const templateByName = new Map<string, GraphModule>();
  for (const m of template ?? []) templateByName.set(m.name, m);

  let modules: GraphModule[];
  const graphInferred: string[] = [];
  if (listing === null) {
    // Config-only directory of a known architecture: the template is the whole graph.
    modules = template!.map((m) => ({ ...m, inferred: [...(m.inferred ?? []), "name"] }));
    graphInferred.push("modules");
  } else {
    const [keys, shapes] = renameKeys(listing.keys, listing.shapes, info, bare);
    const params = collectParameters(keys);
    try {
      modules = modulesFromParameters(params, shapes, templateByName, info?.conv1d ?? []);
    } catch (err) {
      if (!(err instanceof ShapeMismatch)) throw err;
      throw new PeftcError("shape-mismatch", `${err.message}; fix config.json or re-download the checkpoint`, { file: configPath });
    }
    // Tied targets the checkpoint leaves out (lm_head, encoder.embed_tokens) still exist in the model.
    const present = new Set(modules.map((m) => m.name));
    for (const target of tiedTargetModules(ties)) {
      const m = templateByName.get(target);
      if (m !== undefined && !present.has(target)) {
        modules.push({ ...m, inferred: [...(m.inferred ?? []), "name"] });
        present.add(target);
      }
    }
    modules = orderModules(modules, template);
  }

  const tieRead = readTieWordEmbeddings(config);
  const tie = tieRead ?? info?.defaultTieWordEmbeddings ?? true;
  if (tieRead === undefined) graphInferred.push("config.tie_word_embeddings");

  const names = new Set(modules.map((m) => m.name));
  let inputEmbeddings = ties?.inputEmbeddings ?? null;
  let outputEmbeddings = ties?.outputEmbeddings ?? null;
  if (ties === null) {
    inputEmbeddings = guessInputEmbeddings(modules);
    outputEmbeddings = names.has("lm_head") ? "lm_head" : null;
    graphInferred.push("input_embeddings", "output_embeddings");
  } else {
    if (inputEmbeddings !== null && !names.has(inputEmbeddings)) inputEmbeddings = null;
    if (outputEmbeddings !== null && !names.has(outputEmbeddings)) outputEmbeddings = null;
    graphInferred.push("input_embeddings", "output_embeddings", "tied_weights_keys");
  }

  const graph: Graph = {
    format: GRAPH_FORMAT,
    model_type: modelType,
    architectures,
    config: { tie_word_embeddings: tie },
    modules: normalizeModules(modules, { file: dir }, moduleListWhenNumbered),
    tied_weights_keys: ties?.tiedWeightsKeys ?? null,
    input_embeddings: inputEmbeddings,
    output_embeddings: outputEmbeddings,
    inferred: graphInferred.sort(),
    source: { kind: "hf-directory", files: [...(hasConfig ? ["config.json"] : []), ...(listing?.files ?? [])] },
  };
  if (ties !== null && Object.keys(ties.moduleTiedWeightsKeys).length > 0) graph.module_tied_weights_keys = ties.moduleTiedWeightsKeys;
  for (const m of graph.modules) if (m.inferred !== undefined && m.inferred.length === 0) delete m.inferred;
  return withParameterCounts(graph);
}

function* tiedTargetModules(ties: ReturnType<typeof classTies> | null): Generator<string> {
  if (ties === null) return;
  const strip = (p: string): string => p.slice(0, p.lastIndexOf("."));
  if (ties.tiedWeightsKeys !== null && !Array.isArray(ties.tiedWeightsKeys)) {
    for (const target of Object.keys(ties.tiedWeightsKeys)) yield strip(target);
  }
  for (const [prefix, keys] of Object.entries(ties.moduleTiedWeightsKeys)) {
    if (Array.isArray(keys)) continue;
    for (const target of Object.keys(keys)) yield strip(`${prefix}.${target}`);
  }
}

function guessInputEmbeddings(modules: GraphModule[]): string | null {
  const m = modules.find((x) => x.type === "Embedding" && /(^|\.)(embed_tokens|wte|word_embeddings|embed_in|shared)$/.test(x.name));
  return m?.name ?? null;
}

/** Module list in template order first, then the checkpoint-only modules in natural order. */
function orderModules(modules: GraphModule[], template: GraphModule[] | null): GraphModule[] {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const out: GraphModule[] = [];
  for (const t of template ?? []) {
    const m = byName.get(t.name);
    if (m !== undefined) {
      out.push(m);
      byName.delete(t.name);
    }
  }
  for (const name of naturalSort([...byName.keys()])) out.push(byName.get(name)!);
  return out;
}

function modulesFromParameters(
  params: Map<string, ModuleParameters>,
  shapes: Map<string, TensorInfo>,
  templateByName: Map<string, GraphModule>,
  conv1dNames: string[],
): GraphModule[] {
  const modules: GraphModule[] = [];
  for (const [name, p] of params) {
    modules.push(moduleFromKeys(name, p, shapes, templateByName.get(name), conv1dNames));
  }
  return modules;
}

/** True when `dir` looks like a model directory rather than something else. */
export function hasModelFiles(dir: string): boolean {
  return existsSync(join(dir, "config.json")) || INDEX_FILES.some((f) => existsSync(join(dir, f)));
}

/**
 * Model metadata import: `loadGraph(path)` reads a Hugging Face model directory, a single
 * `.safetensors` file or a `peftc-graph/1` JSON file and returns the normalized graph.
 */
import { lstatSync, statSync } from "node:fs";
import { basename } from "node:path";
import { PeftcError } from "../errors.js";
import { moduleListWhenNumbered, normalizeModules } from "../graph/normalize.js";
import { withParameterCounts } from "../graph/params.js";
import { GRAPH_FORMAT, type Graph } from "../graph/types.js";
import { graphFromJson } from "./graph-json.js";
import { importHfDirectory, naturalSort, type ImportStats } from "./hf.js";
import { fsError, parseJson, readTextFile } from "./json-file.js";
import { readSafetensorsHeader } from "./safetensors.js";
import { collectParameters, moduleFromKeys } from "./weights.js";

export type { ImportStats } from "./hf.js";
export { defaultTargetModules } from "./architectures.js";
export { readSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from "./safetensors.js";

/** Imports the model metadata at `path` and returns it with the counters of what was read. */
export function loadGraphWithStats(path: string): { graph: Graph; stats: ImportStats } {
  const stats: ImportStats = { headerBytesRead: 0, headersRead: 0 };
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      // A dangling symbolic link is reported as such rather than as a missing path.
      let dangling = false;
      try {
        dangling = lstatSync(path).isSymbolicLink();
      } catch {
        dangling = false;
      }
      throw new PeftcError(
        "model-not-found",
        dangling
          ? "model path is a symbolic link to a file that does not exist; fix the link"
          : "model path not found; pass a Hugging Face model directory, a .safetensors file or a peftc-graph/1 JSON file",
        { file: path },
      );
    }
    throw fsError(err, path, "model path");
  }
  if (isDirectory) return { graph: importHfDirectory(path, stats), stats };
  if (path.endsWith(".safetensors")) return { graph: importSafetensorsFile(path, stats), stats };
  return { graph: importGraphJson(path), stats };
}

/**
 * Imports the model metadata at `path`: a Hugging Face model directory, a single `.safetensors`
 * file or a `peftc-graph/1` graph JSON file. Reads only file headers, never tensor data.
 */
export function loadGraph(path: string): Graph {
  return loadGraphWithStats(path).graph;
}

/** Weight files peftc cannot read on their own: their directory (with config.json) imports instead. */
const OPAQUE_WEIGHT_FILES = /\.(bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/i;

function importGraphJson(path: string): Graph {
  if (OPAQUE_WEIGHT_FILES.test(path)) {
    throw new PeftcError(
      "not-a-model",
      "cannot read model structure from this weight file; pass the model directory that contains it and its config.json, a .safetensors file or a peftc-graph/1 JSON file",
      { file: path },
    );
  }
  const text = readTextFile(path, "graph file");
  const value = parseJson(text, path);
  if (value === null || typeof value !== "object" || Array.isArray(value) || (value as { format?: unknown }).format !== GRAPH_FORMAT) {
    const format = (value as { format?: unknown } | null)?.format;
    if (format === undefined && value !== null && typeof value === "object" && ("model_type" in value || "weight_map" in value)) {
      throw new PeftcError("not-a-model", "this is a file of a Hugging Face model directory; pass the directory itself", { file: path });
    }
    throw new PeftcError(
      "not-a-model",
      `not a model graph: ${format === undefined ? "the file has no 'format' field" : `format is ${JSON.stringify(format)}`}; expected "${GRAPH_FORMAT}", a Hugging Face model directory or a .safetensors file`,
      { file: path },
    );
  }
  return graphFromJson(value, text, path);
}

/** Imports a lone safetensors file, which has no config.json, from its header alone. */
function importSafetensorsFile(path: string, stats: ImportStats): Graph {
  const header = readSafetensorsHeader(path);
  stats.headerBytesRead += header.bytesRead;
  stats.headersRead++;
  const params = collectParameters(header.tensors.keys());
  const modules = naturalSort([...params.keys()]).map((name) => moduleFromKeys(name, params.get(name)!, header.tensors, undefined, []));
  const graph: Graph = {
    format: GRAPH_FORMAT,
    model_type: null,
    architectures: [],
    config: {},
    // A header does not record registration order, so modules are in natural name order (layer 10 after 9).
    modules: normalizeModules(modules, { file: path }, moduleListWhenNumbered),
    tied_weights_keys: null,
    input_embeddings: null,
    output_embeddings: null,
    inferred: ["modules"],
    source: { kind: "safetensors", files: [basename(path)] },
  };
  return withParameterCounts(graph);
}

import type { SchemaValidator } from "../spec/schema-files.js";
import { PeftcError } from "../errors.js";
import { normalizeModules } from "../graph/normalize.js";
import { withParameterCounts } from "../graph/params.js";
import { GRAPH_FORMAT, type Graph } from "../graph/types.js";
import { describeSchema, describeValue } from "../spec/schema.js";
import { lineCol } from "./json-file.js";
import { isNamedModulesOrder } from "./preorder.js";
import { graph as graphSchema } from "../validators/graph.js";

/** The graph validator, compiled ahead of time from schemas/graph.schema.json. */
const validateGraphSchema: SchemaValidator = graphSchema;

/**
 * Finds where a JSON Pointer's value starts in `text`, for error positions. It scans the text
 * once, so it is used only on the error path.
 */
function pointerOffset(text: string, pointer: string): number | undefined {
  const segments = pointer === "" ? [] : pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  let i = 0;
  const skipWs = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const skipString = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const skipValue = (): void => {
    skipWs();
    if (text[i] === '"') {
      skipString();
      return;
    }
    if (text[i] === "{" || text[i] === "[") {
      let depth = 0;
      while (i < text.length) {
        const ch = text[i]!;
        if (ch === '"') {
          skipString();
          continue;
        }
        if (ch === "{" || ch === "[") depth++;
        if (ch === "}" || ch === "]") depth--;
        i++;
        if (depth === 0) return;
      }
      return;
    }
    while (i < text.length && !/[,}\]\s]/.test(text[i]!)) i++;
  };
  for (const segment of segments) {
    skipWs();
    if (text[i] === "{") {
      i++;
      for (;;) {
        skipWs();
        if (text[i] !== '"') return undefined;
        const key = skipString();
        skipWs();
        i++; // ':'
        skipWs();
        if (key === segment) break;
        skipValue();
        skipWs();
        if (text[i] !== ",") return undefined;
        i++;
      }
    } else if (text[i] === "[") {
      i++;
      const index = Number(segment);
      for (let k = 0; k < index; k++) {
        skipValue();
        skipWs();
        if (text[i] !== ",") return undefined;
        i++;
      }
      skipWs();
    } else {
      return undefined;
    }
  }
  skipWs();
  return i;
}

/** For a pointer into `/modules/N`, names that module (` (module 'model.layers.0.mlp')`), or returns "". */
function moduleNameAt(value: unknown, pointer: string): string {
  const match = /^\/modules\/(\d+)(\/|$)/.exec(pointer);
  if (match === null) return "";
  const module = (value as { modules: unknown[] }).modules[Number(match[1])];
  const name = (module as { name?: unknown } | null)?.name;
  return typeof name === "string" ? ` (module '${name}')` : "";
}

/** Returns where the key of the member whose value starts at `valueOffset` starts, or undefined. */
function keyOffsetBefore(text: string, valueOffset: number): number | undefined {
  let i = valueOffset - 1;
  while (i >= 0 && /\s/.test(text[i]!)) i--;
  if (text[i] !== ":") return undefined;
  i--;
  while (i >= 0 && /\s/.test(text[i]!)) i--;
  if (text[i] !== '"') return undefined;
  // Step back to the opening quote: a quote preceded by an odd number of backslashes is escaped.
  for (i--; i >= 0; i--) {
    if (text[i] !== '"') continue;
    let slashes = 0;
    while (text[i - 1 - slashes] === "\\") slashes++;
    if (slashes % 2 === 0) return i;
  }
  return undefined;
}

/** Validates a parsed graph document against schemas/graph.schema.json and normalizes it. */
export function graphFromJson(value: unknown, text: string, path: string): Graph {
  if (!validateGraphSchema(value)) {
    const error = validateGraphSchema.errors![0]!;
    const at = error.instancePath === "" ? "the document" : error.instancePath;
    let offset = pointerOffset(text, error.instancePath);
    let detail: string;
    if (error.keyword === "additionalProperties") {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      detail = `has an unknown field '${key}'`;
      const valueOffset = pointerOffset(text, `${error.instancePath}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`);
      if (valueOffset !== undefined) offset = keyOffsetBefore(text, valueOffset) ?? valueOffset;
    } else if (error.keyword === "required") {
      detail = `is missing the required field '${(error.params as { missingProperty: string }).missingProperty}'`;
    } else {
      detail = `must be ${describeSchema(error.parentSchema as Parameters<typeof describeSchema>[0])}, found ${describeValue(error.data)}`;
    }
    const where = offset === undefined ? {} : lineCol(text, offset);
    throw new PeftcError("invalid-graph", `${at}${moduleNameAt(value, error.instancePath)} ${detail}; see schemas/graph.schema.json for the ${GRAPH_FORMAT} format`, {
      file: path,
      ...where,
    });
  }
  const graph = value as Graph;
  // An export from a live model is already in named_modules() order; checking that is much
  // cheaper than rebuilding the order.
  const modules = isNamedModulesOrder(graph.modules) ? graph.modules.slice() : normalizeModules(graph.modules, { file: path });
  const normalized: Graph = {
    format: GRAPH_FORMAT,
    model_type: graph.model_type ?? null,
    architectures: graph.architectures ?? [],
    config: graph.config ?? {},
    modules,
    tied_weights_keys: graph.tied_weights_keys ?? null,
    input_embeddings: graph.input_embeddings ?? null,
    output_embeddings: graph.output_embeddings ?? null,
    source: { kind: "graph-json" },
  };
  if (graph.module_tied_weights_keys !== undefined) normalized.module_tied_weights_keys = graph.module_tied_weights_keys;
  if (graph.inferred !== undefined) normalized.inferred = graph.inferred;
  const counted = withParameterCounts(normalized);
  // A count written in the file wins over one that could not be computed.
  if (counted.parameters === null && typeof graph.parameters === "number") counted.parameters = graph.parameters;
  return counted;
}

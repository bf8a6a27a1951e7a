/** `peftc graph PATH [-o FILE]`: imports model metadata and prints the normalized graph. */
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GRAPH_FORMAT, type Graph } from "../graph/types.js";
import { loadGraph } from "../import/index.js";
import { canonicalJson } from "../io/canonical-json.js";
import { writeFileAtomicAsync } from "../io/atomic.js";
import type { Command } from "./io.js";

/** Key order of a graph document; other keys follow alphabetically. */
export const GRAPH_KEY_ORDER = [
  "format",
  "model_type",
  "architectures",
  "config",
  "parameters",
  "input_embeddings",
  "output_embeddings",
  "tied_weights_keys",
  "module_tied_weights_keys",
  "inferred",
  "source",
  "modules",
] as const;

/** Key order of each module in a graph document. */
export const MODULE_KEY_ORDER = [
  "name",
  "type",
  "in_features",
  "out_features",
  "num_embeddings",
  "embedding_dim",
  "in_channels",
  "out_channels",
  "kernel_size",
  "groups",
  "embed_dim",
  "num_heads",
  "bias",
  "parameters",
  "inferred",
] as const;

/** Serializes a graph as canonical JSON: fixed key order, two-space indent, final newline. */
export function graphToJson(graph: Graph): string {
  return canonicalJson(graph, (field) => {
    if (field === "modules") return MODULE_KEY_ORDER;
    if (field === "") return GRAPH_KEY_ORDER;
    return [];
  });
}

const USAGE = `Usage: peftc graph PATH [-o FILE]

Imports model metadata and prints the normalized ${GRAPH_FORMAT} graph as JSON: every named
module in named_modules() order with its type and shape, tied-weight declarations, embedding
paths and parameter counts. Fields that were inferred rather than read are listed in "inferred".

PATH is a Hugging Face model directory (config.json plus model.safetensors.index.json,
pytorch_model.bin.index.json or *.safetensors), a single .safetensors file, or a graph JSON file.
Only safetensors headers are read, never tensor data.

Options:
  -o, --output FILE  write the graph to FILE (atomically) instead of standard output
  -h, --help         show this help
`;

/** The `peftc graph` command, to register in the CLI's command list. */
export const graphCommand: Command = {
  name: "graph",
  usage: "graph PATH [-o FILE]",
  summary: "import model metadata and print the normalized graph",
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { output: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help === true) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1) {
      io.stderr.write(`error[usage]: expected one model PATH, got ${positionals.length}; see \`peftc graph --help\`\n`);
      return 1;
    }
    // Paths stay as the user wrote them when possible, so messages name the file the way they did.
    const fromCwd = (p: string): string => (isAbsolute(p) || io.cwd === process.cwd() ? p : resolve(io.cwd, p));
    const graph = loadGraph(fromCwd(positionals[0]!));
    const text = graphToJson(graph);
    if (values.output !== undefined) await writeFileAtomicAsync(fromCwd(values.output), text);
    else io.stdout.write(text);
    return 0;
  },
};

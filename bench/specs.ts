/**
 * The LoRA specs the compile benchmark runs against each graph: every target form (list, regex,
 * glob, all-linear), with one entry and with 200 entries. The 200-entry forms are what a long,
 * generated target list looks like: every projection's short name plus fully-qualified names of
 * single modules spread over the whole model.
 */
import type { BenchModel } from "./graphs.js";

export interface TargetCase {
  /** Short id: list-1, list-200, regex-1, regex-200, glob-1, glob-200, all-linear. */
  id: string;
  /** The spec's YAML text. */
  yaml: string;
}

/** Per model: one short name, one regex and one glob that select a real share of the layers. */
const SINGLE_ENTRY: Record<string, { name: string; regex: string; glob: string }> = {
  "llama3-70b": {
    name: "q_proj",
    regex: "model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj",
    glob: "model.layers.*.self_attn.{q,v}_proj",
  },
  "deepseek-v3": {
    name: "gate_proj",
    regex: ".*\\.experts\\.\\d+\\.(gate|up)_proj",
    glob: "model.layers.*.mlp.experts.*.{gate,up}_proj",
  },
  "synthetic-1m": {
    name: "w1",
    regex: ".*\\.experts\\.\\d+\\.w[13]",
    glob: "model.layers.*.block_sparse_moe.experts.*.w{1,3}",
  },
};

const LONG_LIST_LENGTH = 200;

/** Python regex escape for a module name (dots are the only special character names have). */
function escapeName(name: string): string {
  return name.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/**
 * Builds a 200-entry target list: the distinct short names of the Linear modules except the
 * output head, then fully-qualified Linear names taken at an even stride through the model.
 */
export function longTargetList(model: BenchModel): { shortNames: string[]; fullNames: string[] } {
  const linear: string[] = [];
  const short = new Set<string>();
  const head = model.header.output_embeddings;
  for (const m of model.modules()) {
    if (m.type !== "Linear" || m.name === head) continue;
    linear.push(m.name);
    short.add(m.name.slice(m.name.lastIndexOf(".") + 1));
  }
  const shortNames = [...short];
  const wanted = LONG_LIST_LENGTH - shortNames.length;
  const stride = linear.length / wanted;
  const fullNames: string[] = [];
  for (let k = 0; k < wanted; k++) fullNames.push(linear[Math.floor(k * stride)]!);
  return { shortNames, fullNames };
}

function yamlString(text: string): string {
  return JSON.stringify(text);
}

function specText(targetModules: string): string {
  return `r: 16\nlora_alpha: 32\nlora_dropout: 0.05\ntarget_modules: ${targetModules}\n`;
}

function yamlList(items: string[]): string {
  return "\n" + items.map((item) => `  - ${yamlString(item)}\n`).join("").trimEnd();
}

/** Builds the seven specs for one model. */
export function targetCases(model: BenchModel): TargetCase[] {
  const single = SINGLE_ENTRY[model.id];
  if (single === undefined) throw new Error(`no single-entry targets defined for model '${model.id}'`);
  const { shortNames, fullNames } = longTargetList(model);
  // As a regex: `.*\.NAME` for a short name (PEFT's suffix rule), the escaped name for a full one.
  const branches = [...shortNames.map((n) => `.*\\.${escapeName(n)}`), ...fullNames.map(escapeName)];
  // As globs: `**.NAME` for a short name, the name itself for a full one.
  const globs = [...shortNames.map((n) => `**.${n}`), ...fullNames];
  return [
    { id: "list-1", yaml: specText(`[${yamlString(single.name)}]`) },
    { id: "list-200", yaml: specText(yamlList([...shortNames, ...fullNames])) },
    { id: "regex-1", yaml: specText(yamlString(single.regex)) },
    { id: "regex-200", yaml: specText(yamlString(`(?:${branches.join("|")})`)) },
    { id: "glob-1", yaml: specText(`{ glob: ${yamlString(single.glob)} }`) },
    { id: "glob-200", yaml: specText(`\n  glob:${yamlList(globs).replaceAll("\n  - ", "\n    - ")}`) },
    { id: "all-linear", yaml: specText(yamlString("all-linear")) },
  ];
}

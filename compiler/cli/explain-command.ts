/** `peftc explain SPEC MODULE`: why one module is or is not targeted, saved, excluded or tied. */
import { parseArgs } from "node:util";
import { compileSpecFile, type CompileResult } from "../compile.js";
import { PeftcError } from "../errors.js";
import type { GraphModule } from "../graph/types.js";
import { suggestNames } from "../match/suggest.js";
import type { PlanAdapter } from "../plan/types.js";
import { describeReason, layerIndexFor, type Reason, type ResolvedAdapter } from "../resolve/targets.js";
import type { TieGroup } from "../resolve/tie-groups.js";
import type { CliIo, Command } from "./io.js";

const USAGE = `Usage: peftc explain SPEC MODULE [--model PATH]

Explains what the spec does to MODULE (a fully-qualified module name, as \`peftc graph\`
lists them): whether it is targeted, saved, excluded or tied, which rule and which
entry of the spec decided it, and where PEFT would do something different.

Options:
  --model PATH   model metadata (default: the spec's \`model:\`)
  -h, --help     show this help
`;

function describeModule(m: GraphModule): string {
  switch (m.type) {
    case "Linear":
    case "Conv1D":
      return `${m.type} ${m.in_features ?? "?"} -> ${m.out_features ?? "?"}`;
    case "Embedding":
      return `Embedding ${m.num_embeddings ?? "?"} x ${m.embedding_dim ?? "?"}`;
    default:
      return m.type;
  }
}

/** Describes what PEFT's name-based tie handling does differently for a tied module, or returns null. */
export function peftTieDifference(name: string, group: TieGroup, mode: string, selectedBySpec: boolean): string[] | null {
  if (mode === "untied") return null;
  const short = name.slice(name.lastIndexOf(".") + 1);
  const sharedThing = mode === "shared_copy" ? "copy" : "adapter";
  const notes: string[] = [];
  if (name !== group.source && name.includes(".")) {
    notes.push(
      `PEFT compares the short name '${short}' with the fully-qualified tied names, so it does not see '${name}' as tied. ` +
        (selectedBySpec ? `It gives it its own ${sharedThing}` : `It leaves it without the shared ${sharedThing}`) +
        ", and merging then splits the shared weight.",
    );
  }
  const sourceShort = group.source.slice(group.source.lastIndexOf(".") + 1);
  if (sourceShort !== "embed_tokens") {
    notes.push(
      `PEFT looks for the input embedding under the name 'embed_tokens', so it does not find '${group.source}' as the host of the shared ${sharedThing}. peftc finds it by identity, as get_input_embeddings() returns it.`,
    );
  }
  return notes.length > 0 ? notes : null;
}

function explainAdapter(result: CompileResult, adapter: PlanAdapter, resolved: ResolvedAdapter, index: number): string[] {
  const graph = result.graph;
  const m = graph.modules[index]!;
  const spec = resolved.adapter;
  const lines: string[] = [`adapter '${adapter.name}':`];
  const target = adapter.targets.find((t) => t.module === m.name);
  const saved = adapter.modules_to_save.find((s) => s.module === m.name);
  const reason = resolved.targetReason.get(index);
  const exclusion = resolved.excluded.get(index);
  const group = result.tieGroups.find((g) => g.source === m.name || g.members.includes(m.name));
  const planGroup = group ? adapter.tie_groups.find((g) => g.id === group.id) : undefined;

  if (target) {
    if (reason) lines.push(`  targeted: selected by ${describeReason(reason)}${howMatched(reason, m.name)}`);
    else if (target.tie) lines.push(`  targeted: added because it is ${target.tie.role === "source" ? "the source" : "a member"} of tie group ${target.tie.group} and ensure_weight_tying is set`);
    if (exclusion && exclusion.field === "exclude_modules") lines.push(`  exclude_modules entry '${exclusion.entry}' matches it, but the tie wins (warning tie-overrides-exclude)`);
    const r = resolved.rank.get(index);
    const rFrom = r?.rKey ? `rank_pattern key '${r.rKey}'` : "r";
    const aFrom = r?.alphaKey ? `alpha_pattern key '${r.alphaKey}'` : "lora_alpha";
    if (target.tie?.role === "member") lines.push(`  r=${target.r}, alpha=${target.alpha}, scaling=${target.scaling}: taken from the tie source's adapter`);
    else lines.push(`  r=${target.r} (from ${rFrom}), alpha=${target.alpha} (from ${aFrom}), scaling=${target.scaling}${spec.use_rslora ? " (rslora: alpha/sqrt(r))" : " (alpha/r)"}`);
    lines.push(`  LoRA parameters: ${target.parameters ?? "unknown"}${target.tie?.role === "member" ? " (shares the source's tensors" + (target.tie.orientation === "transposed" ? ", A and B swapped and transposed)" : ")") : ""}`);
  } else if (saved) {
    const savedBy = resolved.savedReason.get(index);
    const source = saved.tie ? result.tieGroups.find((g) => g.id === saved.tie!.group)?.source : undefined;
    if (savedBy) lines.push(`  saved as a trainable copy: the name ends with ${savedBy.field === "task_type" ? `the task_type head '${savedBy.entry}'` : `modules_to_save entry '${savedBy.entry}'`}`);
    if (saved.tie?.role === "member") lines.push(`  the copy is the one hosted on '${source}' for tie group ${saved.tie.group}, shared by the whole group, so its parameters count there`);
    else if (saved.tie?.role === "source") lines.push(`  this copy is shared by every module of tie group ${saved.tie.group}`);
    lines.push("  no LoRA adapter: a saved module and everything inside it are never targeted");
  } else if (exclusion) {
    const field =
      exclusion.field === "exclude_modules"
        ? `exclude_modules ${spec.exclude_modules?.kind === "regex" ? "regex" : "entry"} '${exclusion.entry}'`
        : `${exclusion.field === "task_type" ? "the task_type head" : "modules_to_save entry"} '${exclusion.entry}': it is a saved module or inside one`;
    lines.push(`  excluded by ${field}`);
  } else if (resolved.layerFiltered.includes(index)) {
    const layer = layerIndexFor(spec, m.name, result.spec.file);
    lines.push(`  not targeted: its name matches target_modules, but its layer index (${layer ?? "none found"}) is not in layers_to_transform ${JSON.stringify(spec.layers_to_transform)}`);
  } else if (spec.target_modules?.kind === "all-linear" && m.name === graph.output_embeddings) {
    lines.push("  not targeted: all-linear leaves out the output embedding");
  } else {
    lines.push(`  not targeted: ${whyUnmatched(spec, resolved)}`);
  }

  if (group) {
    const role = group.source === m.name ? "source" : "member";
    lines.push(`  tie group ${group.id}: ${role}; source ${group.source}, members ${group.members.join(", ")}`);
    if (planGroup) {
      lines.push(`  mode ${planGroup.mode}${planGroup.mode === "untied" ? ": ensure_weight_tying is off, so tied modules are adapted independently" : ""}`);
      const selectedBySpec = reason !== undefined || resolved.savedReason.has(index);
      const difference = peftTieDifference(m.name, group, planGroup.mode, selectedBySpec);
      if (difference) lines.push(...difference.map((d) => `  PEFT would differ: ${d}`));
      else if (planGroup.mode !== "untied") lines.push("  PEFT does the same here: the tied modules are top-level or named embed_tokens, which its name-based check finds");
    } else {
      lines.push("  this adapter does not touch the group, so the tie is left as it is");
    }
  }
  return lines;
}

/** Describes how a selector matched a name, in the words of PEFT's rule. */
function howMatched(reason: Reason, name: string): string {
  if (reason.field === "all-linear") return " (every Linear and Conv1D layer but the output embedding)";
  if (reason.entry === name) return " (the full name)";
  if (name.endsWith("." + reason.entry)) return ` (the name ends with '.${reason.entry}')`;
  return " (the regex or glob matches the whole name)";
}

function whyUnmatched(spec: ResolvedAdapter["adapter"], resolved: ResolvedAdapter): string {
  const t = spec.target_modules;
  if (t === null) return `no entry of PEFT's default target_modules ${JSON.stringify(resolved.defaultTargets)} is the name or its last dotted part`;
  switch (t.kind) {
    case "list":
      return `no target_modules entry equals the name or a dotted suffix of it (PEFT compares list entries as plain names)`;
    case "regex":
      return `target_modules regex '${t.pattern}' does not match the whole name`;
    case "glob":
      return `no target_modules glob matches the name`;
    default:
      return "all-linear takes only Linear and Conv1D layers";
  }
}

async function runExplain(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { model: { type: "string" }, help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 2) throw new PeftcError("usage", `expected SPEC and MODULE, got ${positionals.length} arguments; see \`peftc explain --help\``);
  const [specPath, moduleName] = positionals as [string, string];
  const result = compileSpecFile(specPath, values.model !== undefined ? { model: values.model } : {});
  const index = result.graph.modules.findIndex((m) => m.name === moduleName);
  if (index < 0) {
    const closest = suggestNames(moduleName, result.graph.modules.map((m) => m.name));
    const hint = closest.length > 0 ? `; closest names: ${closest.map((c) => `'${c}'`).join(", ")}` : "";
    throw new PeftcError("module-not-found", `the model has no module named '${moduleName}'${hint}`);
  }
  const m = result.graph.modules[index]!;
  const lines = [`${m.name} (${describeModule(m)})`];
  result.plan.adapters.forEach((adapter, k) => lines.push(...explainAdapter(result, adapter, result.resolved[k]!, index)));
  io.stdout.write(lines.join("\n") + "\n");
  return 0;
}

export const explainCommand: Command = {
  name: "explain",
  usage: "explain SPEC MODULE [--model PATH]",
  summary: "explain why a module is targeted, saved, excluded or tied",
  run: runExplain,
};

/** `peftc plan SPEC`: compile a spec against a model and write the plan. */
import { parseArgs } from "node:util";
import { stringify as toYaml } from "yaml";
import { compileSpecFile } from "../compile.js";
import { renderDiff, shouldColor } from "../diff/render.js";
import { PeftcError } from "../errors.js";
import { writeFileAtomicAsync } from "../io/atomic.js";
import { canonicalJson } from "../plan/canonical.js";
import { planSummary } from "../plan/summary.js";
import type { Plan } from "../plan/types.js";
import { EXIT_CHANGES } from "./diff-command.js";
import { compareWithCommitted, runPlanBatch } from "./plan-batch.js";
import type { CliIo, Command } from "./io.js";

const FORMATS = ["json", "yaml", "table"] as const;
type PlanFormat = (typeof FORMATS)[number];

const USAGE = `Usage: peftc plan SPEC [--model PATH] [-o FILE] [--format json|yaml|table] [--check PLAN]
       peftc plan SPEC... [--model PATH] --write | --verify

Compiles SPEC (a peftc YAML spec or a PEFT adapter_config.json) against the model's
structure and writes the plan: every module that gets an adapter, every saved module
and every tie group. A summary goes to stderr.

With --write or --verify it compiles several specs in one run: specs that use the
same model share one import of it, and a spec that fails does not stop the others.

Options:
  --model PATH     model metadata: a Hugging Face model directory, a .safetensors file
                   or a peftc-graph/1 JSON file (default: the spec's \`model:\`); with
                   --write or --verify, the model of the specs that have no \`model:\`
  -o, --output FILE
                   write the plan to FILE (atomically) instead of stdout
  --format FORMAT  json (default, canonical), yaml, or table (for reading)
  --check PLAN     compare with a committed plan instead of writing: exit 0 when it
                   is up to date, 2 (and print the changes) when it is stale
  --write          compile every SPEC and write each plan beside its spec, as the
                   spec's name without its extension (and without \`.peftc\`) plus
                   .plan.json: lora.peftc.yaml -> lora.plan.json. Arguments that end
                   in .plan.json are skipped, so a glob such as configs/* works
  --verify         compile every SPEC and compare it with the plan beside it: exit 0
                   when all are up to date, 2 (and print the changes) when any is
                   stale or missing, 1 when any spec fails
  -q, --quiet      print no summary, only diagnostics
  -h, --help       show this help
`;

/** Formats the targets as a plain-text table for reading in a terminal. */
export function planTable(plan: Plan): string {
  const lines: string[] = [];
  for (const adapter of plan.adapters) {
    lines.push(`adapter ${adapter.name}`);
    const rows = adapter.targets.map((t) => [
      t.module,
      t.kind,
      `${t.in_features ?? "?"}x${t.out_features ?? "?"}`,
      String(t.r),
      String(t.alpha),
      String(Number(t.scaling.toPrecision(6))),
      t.parameters === null ? "?" : String(t.parameters),
      t.tie ? `${t.tie.role} of ${t.tie.group}${t.tie.orientation === "transposed" ? " (transposed)" : ""}` : "",
    ]);
    const header = ["module", "kind", "shape", "r", "alpha", "scaling", "params", "tie"];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const fmt = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd();
    lines.push(fmt(header), ...rows.map(fmt));
    for (const s of adapter.modules_to_save) lines.push(`save ${s.module}${s.tie ? ` (${s.tie.role} of ${s.tie.group})` : ""}`);
    lines.push("");
  }
  return lines.join("\n");
}

function serialize(plan: Plan, format: PlanFormat): string {
  switch (format) {
    case "json":
      return canonicalJson(plan);
    case "yaml":
      // No anchors: a plan repeats values (tie members, for one), and aliases would hide them from a reader.
      return toYaml(plan, { lineWidth: 0, aliasDuplicateObjects: false });
    case "table":
      return planTable(plan);
  }
}

async function runPlan(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      output: { type: "string", short: "o" },
      format: { type: "string", default: "json" },
      check: { type: "string" },
      write: { type: "boolean", default: false },
      verify: { type: "boolean", default: false },
      quiet: { type: "boolean", short: "q", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const format = values.format as PlanFormat;
  if (!FORMATS.includes(format)) {
    throw new PeftcError("usage", `unknown --format '${values.format}'; use one of ${FORMATS.join(", ")}`);
  }
  if (values.write || values.verify) {
    const mode = values.write ? "--write" : "--verify";
    if (values.write && values.verify) throw new PeftcError("usage", "--write and --verify cannot be combined; use --write to update the plans, or --verify to check them");
    const beside = `${mode} keeps each plan beside its spec, so it cannot be combined with`;
    if (values.output !== undefined) throw new PeftcError("usage", `${beside} -o; leave out -o, or compile one spec without ${mode}`);
    if (values.check !== undefined) {
      throw new PeftcError("usage", `${beside} --check; leave out --check, as --verify compares each spec with the plan beside it`);
    }
    if (format !== "json") {
      throw new PeftcError("usage", `${mode} keeps plans as canonical JSON, so it cannot be combined with --format ${format}; compile one spec without ${mode} for ${format} output`);
    }
    return runPlanBatch(positionals, { mode: values.write ? "write" : "verify", model: values.model, quiet: values.quiet }, io);
  }
  if (positionals.length !== 1) {
    const hint = positionals.length > 1 ? "; to compile several specs, add --write or --verify" : "";
    throw new PeftcError("usage", `expected one SPEC argument, got ${positionals.length}${hint}; see \`peftc plan --help\``);
  }
  if (values.check !== undefined && values.output !== undefined) {
    throw new PeftcError("usage", "--check compares with an existing plan and writes nothing, so it cannot be combined with -o");
  }

  const result = compileSpecFile(positionals[0]!, values.model !== undefined ? { model: values.model } : {});
  const printSummary = (): void => {
    if (values.quiet) {
      for (const d of result.diagnostics) io.stderr.write(planSummary({ ...result.plan, adapters: [] }, [d]));
    } else {
      io.stderr.write(planSummary(result.plan, result.diagnostics));
    }
  };

  if (values.check !== undefined) {
    const { status, diff } = compareWithCommitted(values.check, result.plan);
    // A missing plan is an error here, with the message loadPlan gives for any missing plan file.
    if (status === "missing") throw new PeftcError("plan-not-found", `cannot read plan ${values.check}: file not found`, { file: values.check });
    printSummary();
    if (status === "up to date") {
      io.stderr.write(`${values.check} is up to date\n`);
      return 0;
    }
    io.stdout.write(renderDiff(diff!, "text", { color: shouldColor(io.stdout, io.env) }));
    const model = values.model !== undefined ? ` --model ${values.model}` : "";
    io.stderr.write(`${values.check} is stale: run \`peftc plan ${positionals[0]}${model} -o ${values.check}\` and commit the result\n`);
    return EXIT_CHANGES;
  }

  const text = serialize(result.plan, format);
  // The summary follows the write, so a failed write prints its error alone.
  if (values.output !== undefined) await writeFileAtomicAsync(values.output, text);
  printSummary();
  if (values.output === undefined) io.stdout.write(text);
  return 0;
}

export const planCommand: Command = {
  name: "plan",
  usage: "plan SPEC [--model PATH] [-o FILE]",
  summary: "compile a spec into a plan, or many specs with --write or --verify",
  run: runPlan,
};

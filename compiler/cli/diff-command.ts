/** `peftc diff OLD NEW`: a semantic diff of two plans, or of specs compiled against one model. */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatDiagnostic, PeftcError, type Diagnostic } from "../errors.js";
import { diffIsEmpty, diffPlans } from "../diff/diff.js";
import { DIFF_FORMATS, renderDiff, shouldColor, type DiffFormat } from "../diff/render.js";
import type { PlanDiff } from "../diff/types.js";
import { PLAN_FORMAT, type Plan } from "../plan/types.js";
import { loadPlan } from "../plan/validate.js";
import type { CliIo, Command } from "./io.js";

/** Exit code of `peftc diff` (and `peftc plan --check`) when the plans differ; 0 means identical. */
export const EXIT_CHANGES = 2;

/** Plan loader and spec compiler the command uses. Tests pass their own. */
export interface PlanSources {
  /** Reads and validates a `peftc-plan/1` file; a relative `path` is read from `cwd`. */
  loadPlan(path: string, options: { cwd: string }): Plan | Promise<Plan>;
  /** Compiles a spec; `model` is the `--model` path when given. */
  compileSpecFile(path: string, options: { model?: string }): { plan: Plan; diagnostics: Diagnostic[] } | Promise<{ plan: Plan; diagnostics: Diagnostic[] }>;
}

const defaultSources: PlanSources = {
  loadPlan,
  // The compiler is imported only when an input is a spec, so diffing two plan files stays quick.
  async compileSpecFile(path, options) {
    const { compileSpecFile } = await import("../compile.js");
    return compileSpecFile(path, options);
  },
};

const USAGE = `Usage: peftc diff OLD NEW [--format text|markdown|json] [--model PATH]

Compares two plans and prints what changed: targets added and removed, r, alpha and
other fields changed (grouped), saved modules, tie groups, the model, trainable
parameters and diagnostics. OLD and NEW are plan files ("format": "peftc-plan/1") or
specs, which are compiled first.

Options:
  --format FORMAT  text (default; coloured on a terminal unless NO_COLOR is set),
                   markdown (for a pull-request comment) or json (peftc-diff/1)
  --model PATH     model metadata to compile spec inputs against (a Hugging Face
                   model directory or a peftc-graph/1 file); plan inputs ignore it
  -h, --help       show this help

Exit status: 0 when the plans are identical, 2 when they differ, 1 on an error.
`;

/** Builds the `diff` command with the given plan sources. */
export function createDiffCommand(sources: PlanSources): Command {
  return {
    name: "diff",
    usage: "diff OLD NEW [--format text|markdown|json]",
    summary: "show what changed between two plans or specs",
    run: (args, io) => runDiff(args, io, sources),
  };
}

/** The `peftc diff` command, to register in the CLI's command list. */
export const diffCommand: Command = createDiffCommand(defaultSources);

async function runDiff(args: string[], io: CliIo, sources: PlanSources): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: "string" },
      model: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new PeftcError("usage", `diff takes two inputs, OLD and NEW, but got ${positionals.length}; see \`peftc diff --help\``);
  }
  const format = parseFormat(values.format);

  const options = values.model === undefined ? {} : { model: inputPath(io, values.model) };
  const oldPlan = await readPlanOrSpec(positionals[0]!, io, sources, options);
  if (oldPlan === null) return 1;
  const newPlan = await readPlanOrSpec(positionals[1]!, io, sources, options);
  if (newPlan === null) return 1;

  return reportDiff(diffPlans(oldPlan, newPlan), format, io);
}

/**
 * Prints a diff to `io.stdout` (coloured text only on a terminal without `NO_COLOR`) and returns the
 * exit code: 0 when the plans are identical, 2 when they differ.
 */
export function reportDiff(diff: PlanDiff, format: DiffFormat, io: CliIo): number {
  io.stdout.write(renderDiff(diff, format, { color: format === "text" && shouldColor(io.stdout, io.env) }));
  return diffIsEmpty(diff) ? 0 : EXIT_CHANGES;
}

function parseFormat(value: string | undefined): DiffFormat {
  if (value === undefined) return "text";
  if ((DIFF_FORMATS as readonly string[]).includes(value)) return value as DiffFormat;
  throw new PeftcError("usage", `invalid --format '${value}'; use text, markdown or json`);
}

/**
 * Resolves `path` against `io.cwd`. When that is the process's directory the path is passed on as
 * written, so the compiler's messages show it the way the user typed it.
 */
function inputPath(io: CliIo, path: string): string {
  return isAbsolute(path) || resolve(io.cwd) === process.cwd() ? path : resolve(io.cwd, path);
}

/**
 * Loads a plan file, or compiles a spec. A file is a plan when it is JSON with `"format": "peftc-plan/1"`.
 * Returns null after printing the errors of a spec that does not compile.
 */
async function readPlanOrSpec(path: string, io: CliIo, sources: PlanSources, options: { model?: string }): Promise<Plan | null> {
  const resolved = inputPath(io, path);
  if (isPlanFile(readInput(resolved, path))) return sources.loadPlan(path, { cwd: io.cwd });

  const { plan, diagnostics } = await sources.compileSpecFile(resolved, options);
  const errors = diagnostics.filter((d) => d.severity === "error");
  for (const d of errors) io.stderr.write(formatDiagnostic(d) + "\n");
  return errors.length > 0 ? null : plan;
}

function readInput(resolved: string, path: string): string {
  try {
    return readFileSync(resolved, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new PeftcError("file-not-found", `cannot read ${path}: file not found; pass a plan JSON file or a spec file`, { file: path });
    if (code === "EISDIR") throw new PeftcError("input-not-file", `${path} is a directory; pass a plan JSON file or a spec file`, { file: path });
    throw new PeftcError("read-failed", `cannot read ${path}: ${code ?? (err as Error).message}`, { file: path });
  }
}

function isPlanFile(text: string): boolean {
  // A JSON object whose format names any peftc-plan version goes to the plan loader, and so does
  // broken JSON that starts like one, so the error names the plan's fault. A YAML plan (from
  // `peftc plan --format yaml`) starts with its format line. Anything else goes to the spec compiler.
  if (PLAN_FORMAT_IN_YAML.test(text.slice(0, 4096))) return true;
  if (!text.trimStart().startsWith("{")) return false;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null) return false;
    const format = (value as { format?: unknown }).format;
    return format === PLAN_FORMAT || (typeof format === "string" && format.startsWith(PLAN_FORMAT_PREFIX));
  } catch {
    return PLAN_FORMAT_IN_TEXT.test(text.slice(0, 4096));
  }
}

const PLAN_FORMAT_PREFIX = PLAN_FORMAT.slice(0, PLAN_FORMAT.indexOf("/") + 1);
/** A `"format": "peftc-plan/..."` entry, as canonical plans have at their start. */
const PLAN_FORMAT_IN_TEXT = new RegExp(`"format"\\s*:\\s*"${PLAN_FORMAT_PREFIX}`);
/** A top-level `format: peftc-plan/...` line of a YAML plan. */
const PLAN_FORMAT_IN_YAML = new RegExp(`^format:\\s*["']?${PLAN_FORMAT_PREFIX}`, "m");

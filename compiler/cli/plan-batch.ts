/**
 * `peftc plan SPEC... --write | --verify`: many specs in one process, each plan kept beside its
 * spec. Specs that share a model share one import of it, so checking the committed plans of a
 * whole repository costs one model load per model instead of one process per spec.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { compileSpec, loadModelFor, modelPathFor } from "../compile.js";
import { diffIsEmpty, diffPlans } from "../diff/diff.js";
import type { PlanDiff } from "../diff/types.js";
import { renderDiff, shouldColor } from "../diff/render.js";
import { formatDiagnostic, PeftcError, type Diagnostic } from "../errors.js";
import type { Graph } from "../graph/types.js";
import { writeFileAtomicAsync } from "../io/atomic.js";
import { canonicalJson } from "../plan/canonical.js";
import type { Plan } from "../plan/types.js";
import { loadPlan } from "../plan/validate.js";
import { loadSpec } from "../spec/load.js";
import type { Spec } from "../spec/types.js";
import { EXIT_CHANGES } from "./diff-command.js";
import type { CliIo } from "./io.js";

export type BatchMode = "write" | "verify";

export interface BatchOptions {
  mode: BatchMode;
  model: string | undefined;
  quiet: boolean;
}

/**
 * Returns the plan file kept beside a spec: the spec's name without its extension and without a
 * `.peftc` ending, plus `.plan.json` (`lora.peftc.yaml` and `lora.yaml` give `lora.plan.json`,
 * `adapter_config.json` gives `adapter_config.plan.json`).
 */
export function planPathBeside(specPath: string): string {
  let stem = basename(specPath).replace(/\.(ya?ml|json)$/i, "");
  stem = stem.replace(/\.peftc$/i, "");
  return join(dirname(specPath), `${stem}.plan.json`);
}

type Outcome = "written" | "up to date" | "stale" | "missing" | "failed";

interface Job {
  specPath: string;
  planPath: string;
  spec: Spec | null;
  /** The model path the spec compiles against, set once the spec is loaded. */
  modelPath: string | null;
  /** The `--model` value that applies to this spec: the option only for a spec without `model:`. */
  modelOption: string | undefined;
  outcome: Outcome | null;
}

/** Groups the loaded jobs by the model they compile against, in the order each model is first named. */
function byModel(jobs: Job[]): Map<string, Job[]> {
  const groups = new Map<string, Job[]>();
  for (const job of jobs) {
    if (job.modelPath === null) continue;
    const key = resolve(job.modelPath);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [job]);
    else group.push(job);
  }
  return groups;
}

/**
 * Compares a compiled plan with the committed plan at `planPath`. A committed file whose bytes
 * equal the canonical JSON of the compiled plan is up to date without being parsed. Otherwise the
 * file is loaded and checked, and `diff` is the semantic diff (empty when only the layout differs).
 */
export function compareWithCommitted(planPath: string, plan: Plan): { status: "missing" | "up to date" | "stale"; diff?: PlanDiff } {
  let text: string;
  try {
    text = readFileSync(planPath, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { status: "missing" };
    // Any other read problem gets loadPlan's message below.
    text = "";
  }
  const canonical = canonicalJson(plan);
  if (text === canonical) return { status: "up to date" };
  const committed = loadPlan(planPath);
  const diff = diffPlans(committed, plan);
  const same = diffIsEmpty(diff) && canonicalJson(committed) === canonical;
  return same ? { status: "up to date" } : { status: "stale", diff };
}

/** Checks one job's committed plan and prints what changed when it is stale or missing. */
function verifyPlan(job: Job, plan: Plan, io: CliIo): Outcome {
  const { status, diff } = compareWithCommitted(job.planPath, plan);
  if (status === "missing") {
    io.stdout.write(`${job.planPath} is missing\n`);
    return status;
  }
  if (status === "up to date") return status;
  io.stdout.write(`${job.planPath} is stale:\n${renderDiff(diff!, "text", { color: shouldColor(io.stdout, io.env) })}`);
  return "stale";
}

function tally(jobs: Job[], mode: BatchMode): string {
  const count = (outcome: Outcome): number => jobs.filter((j) => j.outcome === outcome).length;
  const plans = (n: number): string => `${n} ${n === 1 ? "plan" : "plans"}`;
  const parts = mode === "write" ? [`${plans(count("written"))} written`] : [`${plans(count("up to date"))} up to date`, `${count("stale")} stale`, `${count("missing")} missing`];
  parts.push(`${count("failed")} failed`);
  return parts.join(", ");
}

/**
 * Compiles every spec and writes (`write`) or checks (`verify`) the plan beside it. A spec that
 * fails is reported and the others still run. Returns 1 when any spec failed, otherwise 2 when
 * `verify` found a stale or missing plan, otherwise 0.
 */
export async function runPlanBatch(specPaths: readonly string[], options: BatchOptions, io: CliIo): Promise<number> {
  // A spec named twice (overlapping shell globs) runs once. Two specs that map to one plan
  // file are rejected before anything is written. Plan files are this command's output, so a
  // glob such as configs/* that also matches them does not make them specs.
  const seen = new Map<string, string>();
  const jobs: Job[] = [];
  let skipped = 0;
  for (const specPath of specPaths) {
    if (specPath.endsWith(".plan.json")) {
      skipped++;
      continue;
    }
    const planPath = planPathBeside(specPath);
    const other = seen.get(resolve(planPath));
    if (other !== undefined) {
      if (resolve(other) === resolve(specPath)) continue;
      throw new PeftcError("usage", `${other} and ${specPath} would both use ${planPath}; rename one of them`);
    }
    seen.set(resolve(planPath), specPath);
    jobs.push({ specPath, planPath, spec: null, modelPath: null, modelOption: undefined, outcome: null });
  }
  if (jobs.length === 0) {
    const mode = options.mode === "write" ? "--write" : "--verify";
    const plans = skipped > 0 ? " (.plan.json files are plans, and skipped)" : "";
    throw new PeftcError("usage", `${mode} needs at least one SPEC${plans}; see \`peftc plan --help\``);
  }

  let done = 0;
  const report = (job: Job, outcome: Outcome, diagnostics: readonly Diagnostic[] = [], reason = ""): void => {
    job.outcome = outcome;
    done++;
    for (const d of diagnostics) io.stderr.write(formatDiagnostic(d) + "\n");
    if ((outcome === "written" || outcome === "up to date") && options.quiet) return;
    let line = `${job.specPath}: ${job.planPath} is ${outcome}`;
    if (outcome === "written") line = `wrote ${job.planPath}`;
    if (outcome === "failed") line = `${job.specPath}: failed`;
    io.stderr.write(`[${done}/${jobs.length}] ${line}${reason}\n`);
  };
  const fail = (job: Job, err: unknown): void => {
    if (!(err instanceof PeftcError)) throw err;
    report(job, "failed", [err.diagnostic]);
  };

  for (const job of jobs) {
    try {
      const spec = loadSpec(job.specPath);
      // The option is the model of the specs that name none, and a spec's own `model:` is kept.
      job.modelOption = spec.model === null ? options.model : undefined;
      job.modelPath = modelPathFor(spec, job.modelOption);
      job.spec = spec;
    } catch (err) {
      fail(job, err);
    }
  }

  let writing: Promise<void> = Promise.resolve();
  for (const group of byModel(jobs).values()) {
    const first = group[0]!;
    let graph: Graph;
    try {
      graph = loadModelFor(first.spec!, first.modelOption);
    } catch (err) {
      fail(first, err);
      for (const job of group.slice(1)) report(job, "failed", [], ` (its model ${first.modelPath} did not load, see above)`);
      continue;
    }
    for (const job of group) {
      try {
        const result = compileSpec(job.spec!, graph);
        if (options.mode === "write") {
          const text = canonicalJson(result.plan);
          // One write at a time, and the next spec compiles while it reaches the disk.
          await writing;
          writing = writeFileAtomicAsync(job.planPath, text).then(
            () => report(job, "written", result.diagnostics),
            (err: unknown) => fail(job, err),
          );
        } else {
          report(job, verifyPlan(job, result.plan, io), result.diagnostics);
        }
      } catch (err) {
        fail(job, err);
      }
    }
  }
  await writing;

  const outdated = jobs.some((j) => j.outcome === "stale" || j.outcome === "missing");
  const failed = jobs.some((j) => j.outcome === "failed");
  if (!options.quiet || outdated || failed) {
    const note = skipped === 0 ? "" : ` (${skipped} .plan.json ${skipped === 1 ? "file" : "files"} skipped: plans are not specs)`;
    io.stderr.write(tally(jobs, options.mode) + note + "\n");
  }
  if (outdated) io.stderr.write("to update the plans, run the same command with --write in place of --verify, and commit the result\n");
  if (failed) return 1;
  if (outdated) return EXIT_CHANGES;
  return 0;
}

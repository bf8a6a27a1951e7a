/**
 * Fine-tunes a LoRA adapter on SmolLM2-135M's architecture on the CPU, then checks that the
 * tied embedding and lm_head still share one weight and one adapter, and that merging keeps
 * them identical. The model is built from config.json with random weights (no download) and
 * only its first layers.
 *
 *   node --import tsx examples/train-smollm2/run.ts [--steps 40] [--layers 2] [--lr 0.002] [--output DIR] [--help]
 */
import * as tf from "@tensorflow/tfjs-core";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compileSpecFile } from "../../compiler/compile.js";
import { formatDiagnostic, PeftcError } from "../../compiler/errors.js";
import { parseTrainArgs, trainFromArgs, type TrainIo } from "../../runtime/cli/train.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import type { Module } from "../../runtime/nn/module.js";
import { readSafetensors } from "../../runtime/safetensors.js";
import { batchTensor } from "../../runtime/train/trainer.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const EMBEDDING = "model.embed_tokens";
const HEAD = "lm_head";

export interface ExampleOptions {
  steps: number;
  layers: number;
  seqLen: number;
  batchSize: number;
  output: string;
  backend?: "auto" | "cpu" | "wasm";
  learningRate?: number;
  /** Share of the data's sequences held out for the evaluation loss; 0.05 when absent. */
  evalFraction?: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function weightOf(model: Module, name: string): tf.Variable {
  return model.findModule(name)!.variables().find(([local]) => local === "weight")![1];
}

function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j]!;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Compiles the spec, trains, and runs the tie checks; returns every check with its outcome. */
export async function runExample(options: ExampleOptions, io: TrainIo): Promise<{ checks: Check[]; evalLoss: number }> {
  const compiled = compileSpecFile(join(HERE, "spec.yaml"), { model: HERE });
  const plan = compiled.plan;
  const group = plan.adapters[0]!.tie_groups.find((g) => g.source === EMBEDDING);
  io.stderr.write(`plan: ${plan.adapters[0]!.targets.length} targets, tie group ${group?.id} (${group?.mode})\n`);

  const args = [
    "--model", HERE,
    "--data", join(HERE, "train.txt"),
    "--output", options.output,
    "--steps", String(options.steps),
    "--num-hidden-layers", String(options.layers),
    "--seq-len", String(options.seqLen),
    "--batch-size", String(options.batchSize),
    "--lr", String(options.learningRate ?? 0.002),
    "--seed", "1",
    "--eval-fraction", String(options.evalFraction ?? 0.05),
    "--backend", options.backend ?? "auto",
  ];
  const parsed = parseTrainArgs(args, true);
  if (parsed === "help") throw new Error("unreachable: no --help given");
  const run = await trainFromArgs(parsed, io, { plan });
  const { model, lora } = run;
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  check("plan ties lm_head to the embedding", group?.mode === "shared_adapter" && group.members.includes(HEAD), `tie group mode ${group?.mode}`);
  check("embedding and lm_head share one weight", weightOf(model, EMBEDDING) === weightOf(model, HEAD), "the same tf.Variable after training");
  const source = lora.layers.get(EMBEDDING)!.factors;
  const member = lora.layers.get(HEAD)!.factors;
  check("embedding and lm_head share one adapter", source.A === member.A && source.B === member.B, "lm_head reads the embedding's lora_embedding_A/B");
  const trained = maxAbsDiff(source.A.dataSync(), new Float32Array(source.A.size));
  check("the shared adapter was trained", trained > 0, `max |lora_embedding_A| = ${trained.toExponential(2)} (it starts at zero)`);

  // PEFT's file lists lm_head under its own keys, holding the embedding's factors swapped and transposed.
  const saved = readSafetensors(readFileSync(join(options.output, "adapter_model.safetensors"))).tensors;
  const embB = saved.get(`base_model.model.${EMBEDDING}.lora_embedding_B`)!;
  const embA = saved.get(`base_model.model.${EMBEDDING}.lora_embedding_A`)!;
  const headA = saved.get(`base_model.model.${HEAD}.lora_A.weight`)!;
  const headB = saved.get(`base_model.model.${HEAD}.lora_B.weight`)!;
  const fileDiff = Math.max(
    maxAbsDiff(headA.data!, transpose2d(embB.data!, embB.shape[0]!, embB.shape[1]!)),
    maxAbsDiff(headB.data!, transpose2d(embA.data!, embA.shape[0]!, embA.shape[1]!)),
  );
  check("saved lm_head adapter is the embedding's, transposed", fileDiff === 0, `max abs diff ${fileDiff}`);

  const ids = batchTensor(run.evalData.blocks.slice(0, 1), run.evalData.seqLen);
  const logitsOf = (): Float32Array => {
    const logits = model.logits(ids);
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    return values;
  };
  const adapted = logitsOf();
  lora.merge();
  const merged = logitsOf();
  check("merging keeps embedding and lm_head one weight", weightOf(model, EMBEDDING) === weightOf(model, HEAD), "the same tf.Variable after merge()");
  const mergeDiff = maxAbsDiff(adapted, merged);
  check("merged logits equal adapted logits", mergeDiff < 1e-3, `max abs diff ${mergeDiff.toExponential(2)}`);
  lora.mergeAndUnload();
  check("merge_and_unload keeps them identical", weightOf(model, EMBEDDING) === weightOf(model, HEAD), "one tf.Variable in the plain model");
  const unloadDiff = maxAbsDiff(adapted, logitsOf());
  check("unloaded model computes the adapted logits", unloadDiff < 1e-3, `max abs diff ${unloadDiff.toExponential(2)}`);
  ids.dispose();
  return { checks, evalLoss: run.evalLoss };
}

const USAGE = `Usage: node --import tsx examples/train-smollm2/run.ts [options]

Options:
  --steps N     optimizer steps (default 40)
  --layers N    decoder layers to build, of SmolLM2's 30 (default 2)
  --lr N        Adam learning rate (default 0.002)
  --output DIR  where to save the adapter (default: peftc-smollm2-adapter in the system temp folder)
  --help        print this help
`;

/** The default --output: a fixed folder in the system temp directory, reused by every run. */
export const DEFAULT_OUTPUT = join(tmpdir(), "peftc-smollm2-adapter");

/** An error in the script's own options, printed as one usage line. */
class UsageError extends Error {}

function integerOption(name: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--${name} must be a positive integer, got "${text}"`);
  return Number(text);
}

function positiveOption(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !(value > 0) || !Number.isFinite(value)) throw new UsageError(`--${name} must be a positive number, got "${text}"`);
  return value;
}

/** Parses the script's options; returns "help" for --help. */
export function parseExampleArgs(args: string[]): ExampleOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        steps: { type: "string", default: "40" },
        layers: { type: "string", default: "2" },
        lr: { type: "string", default: "0.002" },
        output: { type: "string", default: DEFAULT_OUTPUT },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    // node's parseArgs messages start with a capital and may add more sentences or lines of advice.
    const message = (err as Error).message;
    const option = /'(-[^' ]+)/.exec(message)?.[1];
    if (option !== undefined && /argument is ambiguous/.test(message)) throw new UsageError(`option '${option}' has a value starting with '-'; write it as ${option}=VALUE`);
    const first = message.split(/\. |\n/)[0]!.replace(/\.$/, "");
    throw new UsageError(first.charAt(0).toLowerCase() + first.slice(1));
  }
  if (values.help === true) return "help";
  return {
    steps: integerOption("steps", values.steps),
    layers: integerOption("layers", values.layers),
    seqLen: 16,
    batchSize: 2,
    learningRate: positiveOption("lr", values.lr),
    output: values.output,
  };
}

async function main(): Promise<number> {
  try {
    const options = parseExampleArgs(process.argv.slice(2));
    if (options === "help") {
      process.stdout.write(USAGE);
      return 0;
    }
    const { checks } = await runExample(options, { stdout: process.stdout, stderr: process.stderr });
    for (const c of checks) process.stdout.write(`${c.ok ? "ok  " : "FAIL"} ${c.name} (${c.detail})\n`);
    return checks.every((c) => c.ok) ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error[usage]: ${err.message}; see --help\n`);
      return 1;
    }
    if (err instanceof PeftcError) {
      process.stderr.write(formatDiagnostic(err.diagnostic) + "\n");
      return 1;
    }
    if (err instanceof RuntimeInputError) {
      const { file, code, message } = err.diagnostic;
      process.stderr.write(`${file === undefined ? "" : `${file}: `}error[${code}]: ${message}\n`);
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();

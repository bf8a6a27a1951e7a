import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import type { Plan } from "../../compiler/plan/types.js";
import { applyPlan } from "../apply.js";
import { initBackend, type BackendPreference } from "../backend.js";
import { RuntimeInputError } from "../errors.js";
import type { LoraModel } from "../lora/model.js";
import { loadModel, maxPositionsOf, readModelConfig, type CausalLM } from "../models/index.js";
import { saveAdapter } from "../peft-format.js";
import { checkDataFile, plural, readTextFile, readTokenFile, splitBlocks, toBlocks, type TokenBlocks } from "../train/data.js";
import { registerTrainingKernels } from "../train/kernels.js";
import { planForKeptLayers } from "../train/layers.js";
import { ProgressBar } from "../train/progress.js";
import { evaluateLoss, stepsForEpochs, train } from "../train/trainer.js";

/** The streams a command writes to; the compiler's CliIo fits it. */
export interface TrainIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

export interface TrainCommandOptions {
  /** A plan the caller already compiled (`peftc train --spec`); `--plan` is then rejected. */
  plan?: Plan;
  /** The file `plan` was compiled from (the spec), named in errors about the plan. */
  planSource?: string;
}

export const TRAIN_USAGE = `Usage: peftc train --plan PLAN --model DIR --data FILE --output DIR [options]

Fine-tunes the adapter a plan describes on a causal-LM model directory, saves it in PEFT's
format and prints the evaluation loss.

Options:
  --plan FILE              peftc-plan/1 plan to apply, JSON or YAML (or --spec SPEC, which compiles one)
  --model DIR              Hugging Face model directory (config.json, optional safetensors)
  --data FILE              training data: whitespace-separated token ids (or text with --text)
  --eval-data FILE         evaluation data in the same form (default: hold out --eval-fraction)
  --text                   the data files are raw text, tokenized with the model's tokenizer.json
  --eval-fraction N        share of the data's blocks held out for evaluation (default 0.1)
  --output DIR             where to write adapter_model.safetensors and adapter_config.json
                           (created if missing; must not be an existing file)
  --steps N                optimizer steps (default: one epoch, or --epochs)
  --epochs N               passes over the training blocks, when --steps is not given (default 1)
  --lr N                   Adam learning rate (default 1e-3)
  --batch-size N           sequences per step (default 4)
  --seq-len N              tokens per sequence, at most the model's n_positions or
                           max_position_embeddings (default 64)
  --seed N                 seed for adapter initialisation, random base weights and batch order (default 0)
  --num-hidden-layers N    build only the first N layers (a quick run; the plan is fitted to them)
  --backend NAME           auto, gpu, wasm or cpu (default auto)
`;

interface TrainArgs {
  planFile: string | undefined;
  modelDir: string;
  dataFile: string;
  evalFile: string | undefined;
  text: boolean;
  evalFraction: number;
  outputDir: string;
  steps: number | undefined;
  epochs: number;
  learningRate: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  numHiddenLayers: number | undefined;
  backend: BackendPreference;
}

/** Parses `peftc train` arguments; throws RuntimeInputError with code `usage` for a bad one. */
export function parseTrainArgs(args: string[], planGiven: boolean): TrainArgs | "help" {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      plan: { type: "string" },
      spec: { type: "string" },
      model: { type: "string" },
      data: { type: "string" },
      "eval-data": { type: "string" },
      text: { type: "boolean" },
      "eval-fraction": { type: "string" },
      output: { type: "string", short: "o" },
      steps: { type: "string" },
      epochs: { type: "string" },
      lr: { type: "string" },
      "batch-size": { type: "string" },
      "seq-len": { type: "string" },
      seed: { type: "string" },
      "num-hidden-layers": { type: "string" },
      backend: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return "help";
  const required = (name: "model" | "data" | "output"): string => {
    const value = values[name];
    if (value === undefined) throw new RuntimeInputError("usage", `missing --${name}; see \`peftc train --help\``);
    return value;
  };
  if (values.plan !== undefined && (planGiven || values.spec !== undefined)) {
    throw new RuntimeInputError("usage", "--plan and --spec were both given; pass one of them");
  }
  if (values.spec !== undefined && !planGiven) {
    // The peftc command compiles --spec and passes the plan in; the runtime never loads the compiler.
    throw new RuntimeInputError("usage", "--spec is compiled by the peftc command; when calling runTrain directly, compile the spec and pass the plan (or --plan FILE)");
  }
  if (values.plan === undefined && !planGiven) throw new RuntimeInputError("usage", "missing --plan (or --spec); see `peftc train --help`");
  const backend = values.backend ?? "auto";
  if (!["auto", "gpu", "wasm", "cpu"].includes(backend)) throw new RuntimeInputError("usage", `--backend must be auto, gpu, wasm or cpu, got "${backend}"`);
  const evalFraction = numberOption("eval-fraction", values["eval-fraction"], 0.1);
  if (!(evalFraction > 0 && evalFraction < 1)) throw new RuntimeInputError("usage", `--eval-fraction must be between 0 and 1, got ${evalFraction}`);
  const learningRate = numberOption("lr", values.lr, 1e-3);
  if (!(learningRate > 0)) throw new RuntimeInputError("usage", `--lr must be positive, got ${learningRate}`);
  return {
    planFile: values.plan,
    modelDir: required("model"),
    dataFile: required("data"),
    evalFile: values["eval-data"],
    text: values.text === true,
    evalFraction,
    outputDir: required("output"),
    steps: values.steps === undefined ? undefined : integerOption("steps", values.steps),
    epochs: integerOption("epochs", values.epochs ?? "1"),
    learningRate,
    batchSize: integerOption("batch-size", values["batch-size"] ?? "4"),
    seqLen: integerOption("seq-len", values["seq-len"] ?? "64", 2),
    seed: integerOption("seed", values.seed ?? "0", 0),
    numHiddenLayers: values["num-hidden-layers"] === undefined ? undefined : integerOption("num-hidden-layers", values["num-hidden-layers"]),
    backend: backend as BackendPreference,
  };
}

function numberOption(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new RuntimeInputError("usage", `--${name} must be a number, got "${text}"`);
  return value;
}

function integerOption(name: string, text: string, minimum = 1): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < minimum) throw new RuntimeInputError("usage", `--${name} must be an integer of at least ${minimum}, got "${text}"`);
  return value;
}

/** Reads a plan file: JSON, or YAML as `peftc plan --format yaml` writes it. */
function readPlan(path: string): Plan {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === "ENOENT" ? "plan file not found" : code === "EISDIR" ? "the plan path is a directory, not a file" : `cannot read the plan: ${code ?? (err as Error).message}`;
    throw new RuntimeInputError("plan-not-found", message, { file: path });
  }
  if (text.trimStart().startsWith("{")) {
    try {
      return JSON.parse(text) as Plan;
    } catch (err) {
      throw new RuntimeInputError("plan-invalid", `invalid JSON: ${(err as Error).message}`, { file: path });
    }
  }
  let plan: unknown;
  try {
    plan = parseYaml(text);
  } catch (err) {
    throw new RuntimeInputError("plan-invalid", `neither JSON nor valid YAML: ${(err as Error).message.split("\n")[0]}`, { file: path });
  }
  if (plan === null || typeof plan !== "object" || Array.isArray(plan)) {
    throw new RuntimeInputError("plan-invalid", "not a plan: expected a JSON or YAML object with format peftc-plan/1", { file: path });
  }
  return plan as Plan;
}

/**
 * Checks that `--output` can become the adapter directory: a directory or a missing path is
 * fine, but an existing file (or a file where a parent directory should be) is an error.
 */
function checkOutputDir(path: string): void {
  for (let current = resolve(path); ; current = dirname(current)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(current).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === "ENOENT" || code === "ENOTDIR") && dirname(current) !== current) continue;
      throw new RuntimeInputError("output-invalid", `cannot use --output: ${code ?? (err as Error).message}`, { file: path });
    }
    if (isDirectory) return;
    const where = current === resolve(path) ? "it is an existing file" : `${current} is a file`;
    throw new RuntimeInputError("output-invalid", `--output must name a directory, but ${where}; choose another path`, { file: path });
  }
}

/** Checks --seq-len against the longest sequence the model takes. */
function checkSeqLen(seqLen: number, modelDir: string, numHiddenLayers: number | undefined): void {
  const config = readModelConfig(modelDir, numHiddenLayers === undefined ? {} : { numHiddenLayers });
  const { limit, field } = maxPositionsOf(config);
  if (seqLen > limit) {
    throw new RuntimeInputError("usage", `--seq-len ${seqLen} is more than the model's ${field} (${limit}); pass --seq-len ${limit} or less`);
  }
}

/** Training and evaluation blocks from the data files. */
function readData(args: TrainArgs, vocabSize: number): { train: TokenBlocks; eval: TokenBlocks } {
  const read = (path: string) => (args.text ? readTextFile(path, args.modelDir, vocabSize) : readTokenFile(path, vocabSize));
  const all = toBlocks(read(args.dataFile), args.seqLen);
  if (args.evalFile === undefined) return splitBlocks(all, args.evalFraction, args.dataFile);
  const held = toBlocks(read(args.evalFile), args.seqLen);
  if (held.blocks.length === 0) throw new RuntimeInputError("data-too-small", `fewer than --seq-len (${args.seqLen}) tokens`, { file: args.evalFile });
  if (all.blocks.length === 0) throw new RuntimeInputError("data-too-small", `fewer than --seq-len (${args.seqLen}) tokens`, { file: args.dataFile });
  return { train: all, eval: held };
}

/** The results of one `peftc train` run, for callers that run it in-process. */
export interface TrainRun {
  model: CausalLM;
  lora: LoraModel;
  plan: Plan;
  evalLoss: number;
  evalData: TokenBlocks;
}

/**
 * Runs the whole loop: build the model, apply the plan, train the adapter variables with Adam,
 * evaluate, save the adapter. Progress goes to stderr and the result lines to stdout.
 */
export async function trainFromArgs(args: TrainArgs, io: TrainIo, options: TrainCommandOptions = {}): Promise<TrainRun> {
  // User mistakes that need no model are reported before the backend starts and the model is built.
  checkOutputDir(args.outputDir);
  const plan = options.plan ?? readPlan(args.planFile!);
  checkDataFile(args.dataFile);
  if (args.evalFile !== undefined) checkDataFile(args.evalFile);
  checkSeqLen(args.seqLen, args.modelDir, args.numHiddenLayers);

  const backend = await initBackend(args.backend);
  registerTrainingKernels();
  io.stderr.write(`${backend.summary}\n`);

  // Model and adapter: a plan for the full depth is fitted to --num-hidden-layers first.
  const loadOptions = args.numHiddenLayers === undefined ? { seed: args.seed } : { seed: args.seed, numHiddenLayers: args.numHiddenLayers };
  const { model, weights } = loadModel(args.modelDir, loadOptions);
  const fitted = planForKeptLayers(plan, model, model.config.configuredLayers);
  const planFile = options.plan === undefined ? args.planFile : options.planSource;
  const applyOptions = planFile !== undefined ? { seed: args.seed, planFile } : { seed: args.seed };
  const lora = applyPlan(model, fitted, applyOptions);

  const data = readData(args, model.vocabSize);
  const steps = args.steps ?? stepsForEpochs(args.epochs, data.train.blocks.length, args.batchSize);
  const variables = lora.trainableVariables();
  const trainable = variables.reduce((n, v) => n + v.size, 0);
  const total = model.namedVariables().reduce((n, [, v]) => n + v.size, 0);
  io.stderr.write(
    `model ${model.config.architecture} (${weights === "random" ? "random weights" : "checkpoint weights"}), ` +
      `${trainable.toLocaleString("en-US")} trainable of ${(total + trainable).toLocaleString("en-US")} parameters; ` +
      `${plural(data.train.blocks.length, "training sequence")} and ${plural(data.eval.blocks.length, "evaluation sequence")} of ${args.seqLen} tokens, ${plural(steps, "step")}\n`,
  );

  const bar = new ProgressBar(io.stderr, steps);
  const result = train(model, data.train, {
    variables,
    steps,
    learningRate: args.learningRate,
    batchSize: args.batchSize,
    seed: args.seed,
    onStep: (report) => bar.update(report),
  });
  bar.finish();

  const evalLoss = evaluateLoss(model, data.eval, args.batchSize);
  saveAdapter(lora, args.outputDir, { baseModelNameOrPath: args.modelDir, taskType: "CAUSAL_LM" });
  io.stdout.write(`trained ${plural(steps, "step")} in ${result.seconds.toFixed(1)} s (${Math.round(result.tokensPerSecond)} tokens/s); final training loss ${result.losses.at(-1)!.toFixed(6)}\n`);
  io.stdout.write(`eval loss ${evalLoss.toFixed(6)} over ${data.eval.blocks.length * (args.seqLen - 1)} predicted tokens\n`);
  io.stdout.write(`adapter saved to ${args.outputDir}\n`);
  return { model, lora, plan: fitted, evalLoss, evalData: data.eval };
}

/**
 * `peftc train`: returns the exit code. A user mistake (bad option, missing file, plan that does
 * not fit the model) prints one `file: error[code]: message` line and returns 1.
 */
export async function runTrain(args: string[], io: TrainIo, options: TrainCommandOptions = {}): Promise<number> {
  try {
    const parsed = parseTrainArgs(args, options.plan !== undefined);
    if (parsed === "help") {
      io.stdout.write(TRAIN_USAGE);
      return 0;
    }
    await trainFromArgs(parsed, io, options);
    return 0;
  } catch (err) {
    if (err instanceof RuntimeInputError) {
      const { file, code, message } = err.diagnostic;
      io.stderr.write(`${file === undefined ? "" : `${file}: `}error[${code}]: ${message}\n`);
      return 1;
    }
    const code = (err as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      io.stderr.write(`error[usage]: ${parseErrorMessage(err as Error & { code: string })}; see \`peftc train --help\`\n`);
      return 1;
    }
    throw err;
  }
}

/** Rewords node's parseArgs errors as one lowercase clause, e.g. `unknown option '--x'`. */
export function parseErrorMessage(err: Error & { code: string }): string {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) return `unknown option '${option}'`;
  if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option !== undefined && /argument missing/.test(err.message)) return `option '${option}' needs a value`;
  if (option !== undefined && /argument is ambiguous/.test(err.message)) return `option '${option}' has a value starting with '-'; write it as ${option}=VALUE`;
  const firstSentence = err.message.split(/\. |\n/)[0]!.replace(/\.$/, "");
  return firstSentence.charAt(0).toLowerCase() + firstSentence.slice(1);
}

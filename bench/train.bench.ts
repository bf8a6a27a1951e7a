/**
 * Training and forward throughput of LoRA adapters on a Llama-architecture model. Prints a
 * markdown section with training tokens/s with adapters ÷ full fine-tuning of the same model,
 * the peak memory of each, and forward tokens/s of the base, adapted and merged model.
 *
 * Each training mode runs in its own child process, so its peak resident memory (maxRSS) is its
 * own. The default model is a small Llama (vocab 8192, hidden 256, 4 layers, grouped-query
 * attention, tied head) built with random weights. `--model DIR` takes a Hugging Face model
 * directory instead, and `--layers N` keeps its first N layers.
 *
 * Run: node --import tsx bench/train.bench.ts [--model DIR] [--layers N] [--steps 6] [--seq-len 64]
 *        [--batch-size 4] [--r 8] [--backend auto]
 */
import * as tf from "@tensorflow/tfjs-core";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Plan, PlanTarget } from "../compiler/plan/types.js";
import { applyPlan } from "../runtime/apply.js";
import { initBackend, type BackendPreference } from "../runtime/backend.js";
import { fingerprintModel } from "../runtime/graph.js";
import { buildModel, loadModel, parseModelConfig, type CausalLM } from "../runtime/models/index.js";
import { Linear } from "../runtime/nn/layers.js";
import { Rng } from "../runtime/random.js";
import { registerTrainingKernels } from "../runtime/train/kernels.js";
import { batchTensor, train } from "../runtime/train/trainer.js";
import { formatBytes, formatCount, machineLine } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    layers: { type: "string" },
    steps: { type: "string", default: "6" },
    "seq-len": { type: "string", default: "64" },
    "batch-size": { type: "string", default: "4" },
    r: { type: "string", default: "8" },
    backend: { type: "string", default: "auto" },
    mode: { type: "string" },
  },
});
const steps = Number(args.steps);
const seqLen = Number(args["seq-len"]);
const batchSize = Number(args["batch-size"]);
const rank = Number(args.r);
const FORWARD_RUNS = 7;

/** The default model: SmolLM2's layout, scaled down so full fine-tuning fits a CPU run. */
const SMALL_LLAMA = {
  model_type: "llama",
  architectures: ["LlamaForCausalLM"],
  vocab_size: 8192,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  initializer_range: 0.04,
};

function build(): CausalLM {
  if (args.model === undefined) return buildModel(parseModelConfig(SMALL_LLAMA), { seed: 1 });
  const options = args.layers === undefined ? { seed: 1 } : { seed: 1, numHiddenLayers: Number(args.layers) };
  return loadModel(args.model, options).model;
}

function describeModel(model: CausalLM): string {
  const c = model.config;
  const total = model.namedVariables().reduce((n, [, v]) => n + v.size, 0);
  const shape = "hiddenSize" in c ? `hidden ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${c.numAttentionHeads}/${c.numKeyValueHeads} heads` : `hidden ${c.nEmbd}, ${c.nLayer} layers`;
  return `${c.architecture} (${args.model ?? "built-in config"}): vocab ${formatCount(c.vocabSize)}, ${shape}, ${formatCount(total)} parameters${model.tied ? ", tied head" : ""}`;
}

/** LoRA on every Linear inside the decoder layers (PEFT's all-linear minus lm_head), r = --r, alpha = 2r. */
function planFor(model: CausalLM): Plan {
  const targets: PlanTarget[] = [];
  for (const [name, module] of model.namedModules()) {
    if (!(module instanceof Linear) || !name.startsWith(`${model.layersPath}.`)) continue;
    const parameters = rank * (module.inFeatures + module.outFeatures);
    targets.push({ module: name, kind: "linear", in_features: module.inFeatures, out_features: module.outFeatures, r: rank, alpha: 2 * rank, scaling: 2, dropout: 0, fan_in_fan_out: false, parameters, tie: null });
  }
  const trainable = targets.reduce((n, t) => n + t.parameters!, 0);
  return {
    format: "peftc-plan/1",
    model: { fingerprint: fingerprintModel(model), model_type: model.config.modelType, parameters: null },
    adapters: [{ name: "default", method: "lora", targets, modules_to_save: [], tie_groups: [], trainable_parameters: trainable }],
    diagnostics: [],
  };
}

function randomBlocks(vocab: number, count: number): Int32Array[] {
  const rng = new Rng(11);
  return Array.from({ length: count }, () => Int32Array.from({ length: seqLen }, () => Math.floor(rng.next() * vocab)));
}

/** Forward tokens/s: the median of FORWARD_RUNS timed passes after one warm-up. */
function forwardRate(model: CausalLM, ids: tf.Tensor2D): number {
  // The callbacks return nothing: tidy would walk a returned typed array element by element.
  tf.tidy(() => {
    model.forward(ids).dataSync();
  });
  const times: number[] = [];
  for (let i = 0; i < FORWARD_RUNS; i++) {
    const started = performance.now();
    tf.tidy(() => {
      model.forward(ids).dataSync();
    });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return (ids.size * 1000) / times[times.length >> 1]!;
}

interface ModeResult {
  backend: string;
  model: string;
  trainable: number;
  tokensPerSecond: number;
  peakTensorBytes: number;
  maxRssBytes: number;
  forward?: { base: number; adapted: number; merged: number };
}

/** Runs one training mode (`lora` or `full`) inside this process, which the parent started for it. */
async function runMode(mode: "lora" | "full"): Promise<ModeResult> {
  const backend = await initBackend(args.backend as BackendPreference);
  registerTrainingKernels();
  const model = build();
  const blocks = randomBlocks(model.vocabSize, (steps + 1) * batchSize);
  const ids = batchTensor(blocks.slice(0, batchSize), seqLen);
  const forward = { base: 0, adapted: 0, merged: 0 };
  let variables: tf.Variable[];
  let lora;
  if (mode === "lora") {
    forward.base = forwardRate(model, ids);
    lora = applyPlan(model, planFor(model), { seed: 2 });
    variables = lora.trainableVariables();
  } else {
    variables = model.namedVariables().map(([, v]) => v);
  }
  const data = { seqLen, blocks };
  // One warm-up step, so kernel setup is not timed.
  train(model, { seqLen, blocks: blocks.slice(0, batchSize) }, { variables, steps: 1, learningRate: 1e-4, batchSize, seed: 1 });
  let tokensPerSecond = 0;
  const profile = await tf.profile(() => {
    tokensPerSecond = train(model, data, { variables, steps, learningRate: 1e-4, batchSize, seed: 1 }).tokensPerSecond;
  });
  if (lora !== undefined) {
    forward.adapted = forwardRate(model, ids);
    lora.merge();
    forward.merged = forwardRate(model, ids);
  }
  return {
    backend: backend.summary,
    model: describeModel(model),
    trainable: variables.reduce((n, v) => n + v.size, 0),
    tokensPerSecond,
    peakTensorBytes: profile.peakBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    ...(mode === "lora" ? { forward } : {}),
  };
}

function child(mode: string): ModeResult {
  const passed = process.argv.slice(2).filter((a, i, all) => a !== "--mode" && all[i - 1] !== "--mode");
  const result = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), ...passed, "--mode", mode], { encoding: "utf8", maxBuffer: 1 << 26 });
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"));
  if (result.status !== 0 || line === undefined) throw new Error(`the ${mode} run failed (exit ${result.status}): ${result.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(line) as ModeResult;
}

function report(lora: ModeResult, full: ModeResult): string {
  const f = lora.forward!;
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const rate = (v: number) => formatCount(Math.round(v));
  return [
    "## Training and forward throughput (bench/train.bench.ts)",
    "",
    `- Machine: ${machineLine()}`,
    `- ${lora.backend}`,
    `- Model: ${lora.model}`,
    `- Training: ${steps} Adam steps after one warm-up step, batches of ${batchSize} × ${seqLen} random tokens; LoRA r = ${rank}, alpha = ${2 * rank} on every Linear of the decoder layers.`,
    `- Peak tensor memory is tfjs's \`tf.profile\` peakBytes over the timed steps; peak RSS is the process's maxRSS (each mode runs in its own process, model building included).`,
    "",
    "| training | trainable parameters | tokens/s | peak tensor memory | peak RSS |",
    "|---|---:|---:|---:|---:|",
    `| LoRA | ${formatCount(lora.trainable)} | ${rate(lora.tokensPerSecond)} | ${formatBytes(lora.peakTensorBytes)} | ${formatBytes(lora.maxRssBytes)} |`,
    `| full fine-tuning | ${formatCount(full.trainable)} | ${rate(full.tokensPerSecond)} | ${formatBytes(full.peakTensorBytes)} | ${formatBytes(full.maxRssBytes)} |`,
    "",
    `LoRA ÷ full fine-tuning: ${ratio(lora.tokensPerSecond, full.tokensPerSecond)}× the training tokens/s, ${ratio(lora.peakTensorBytes, full.peakTensorBytes)}× the peak tensor memory, ${ratio(lora.maxRssBytes, full.maxRssBytes)}× the peak RSS.`,
    "",
    `| forward (batch ${batchSize} × ${seqLen}, median of ${FORWARD_RUNS}) | tokens/s | ÷ base |`,
    "|---|---:|---:|",
    `| base model | ${rate(f.base)} | 1.00 |`,
    `| adapted (unmerged LoRA) | ${rate(f.adapted)} | ${ratio(f.adapted, f.base)} |`,
    `| merged | ${rate(f.merged)} | ${ratio(f.merged, f.base)} |`,
    "",
  ].join("\n");
}

if (args.mode === "lora" || args.mode === "full") {
  process.stdout.write(JSON.stringify(await runMode(args.mode)) + "\n");
} else {
  process.stdout.write(report(child("lora"), child("full")));
}

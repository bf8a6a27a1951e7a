/**
 * Forward-pass cost of LoRA adapters in the runtime. The script builds a stack of square Linear
 * layers and times, in turn, the base model, the model with unmerged adapters and the model
 * after merge(). It prints a markdown section with the measured time ratios beside the FLOP
 * ratio 1 + r(in + out) / (in · out) that an unmerged adapter adds to each layer.
 *
 * Run: node --import tsx bench/runtime-forward.bench.ts [--width 1024] [--layers 4] [--tokens 64] [--runs 20] [--backend auto]
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import type { Plan } from "../compiler/plan/types.js";
import { applyPlan } from "../runtime/apply.js";
import { initBackend, type BackendPreference } from "../runtime/backend.js";
import { fingerprintModel } from "../runtime/graph.js";
import { Linear, Module, ModuleList } from "../runtime/nn/index.js";
import { Rng } from "../runtime/random.js";
import { machineLine } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    width: { type: "string", default: "1024" },
    layers: { type: "string", default: "4" },
    tokens: { type: "string", default: "64" },
    runs: { type: "string", default: "20" },
    backend: { type: "string", default: "auto" },
  },
});
const width = Number(args.width);
const depth = Number(args.layers);
const tokens = Number(args.tokens);
const runs = Number(args.runs);
const ranks = [8, 16, 64];

class Stack extends Module {
  readonly typeName = "Stack";
  layers: ModuleList;

  constructor(seed: number) {
    super();
    const rng = new Rng(seed);
    this.layers = this.registerModule("layers", new ModuleList(Array.from({ length: depth }, () => new Linear(width, width, { bias: false, rng }))));
  }

  forward(x: tf.Tensor): tf.Tensor {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) h = tf.tanh(this.layers.at(i).forward(h));
    return h;
  }
}

function planFor(model: Stack, r: number): Plan {
  return {
    format: "peftc-plan/1",
    model: { fingerprint: fingerprintModel(model), model_type: null, parameters: null },
    adapters: [
      {
        name: "default",
        method: "lora",
        targets: Array.from({ length: depth }, (_, i) => ({
          module: `layers.${i}`,
          kind: "linear" as const,
          in_features: width,
          out_features: width,
          r,
          alpha: 2 * r,
          scaling: 2,
          dropout: 0,
          fan_in_fan_out: false,
          parameters: r * 2 * width,
          tie: null,
        })),
        modules_to_save: [],
        tie_groups: [],
        trainable_parameters: depth * r * 2 * width,
      },
    ],
    diagnostics: [],
  };
}

function adaptedStack(r: number, merge: boolean): Stack {
  const model = new Stack(r);
  const lora = applyPlan(model, planFor(model, r), { seed: r });
  // Non-zero B, so the adapter path is real work rather than a multiply by zero.
  for (const v of lora.trainableVariables()) v.assign(tf.randomNormal(v.shape, 0, 0.01, "float32", r));
  if (merge) lora.merge();
  return model;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Median forward time in milliseconds of each model. The models take turns within every round,
 * so a slowdown of the machine during the run hits all of them alike.
 */
function timeForwards(models: Module[], x: tf.Tensor): number[] {
  const once = (model: Module) => tf.tidy(() => model.forward(x).dataSync());
  for (let i = 0; i < 3; i++) models.forEach(once);
  const times: number[][] = models.map(() => []);
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < models.length; k++) {
      const index = (round + k) % models.length;
      const start = performance.now();
      once(models[index]!);
      times[index]!.push(performance.now() - start);
    }
  }
  return times.map(median);
}

const backend = await initBackend(args.backend as BackendPreference, { purpose: "inference" });
const x = tf.randomNormal([tokens, width], 0, 1, "float32", 1);
const rows: string[] = [];
for (const r of ranks) {
  const models = [new Stack(r), adaptedStack(r, false), adaptedStack(r, true)];
  const [base, adapted, merged] = timeForwards(models, x) as [number, number, number];
  const flopRatio = 1 + (r * (width + width)) / (width * width);
  rows.push(
    `| ${r} | ${flopRatio.toFixed(3)} | ${(adapted / base).toFixed(3)} | ${(merged / base).toFixed(3)} | ${base.toFixed(2)} | ${adapted.toFixed(2)} | ${merged.toFixed(2)} |`,
  );
  models.forEach((m) => m.dispose());
}

const lines = [
  "## Runtime forward pass: LoRA overhead",
  "",
  `${backend.summary}. Machine: ${machineLine()}, tfjs-core ${tf.version_core}.`,
  `Model: ${depth} Linear layers ${width}x${width} with tanh, input [${tokens}, ${width}]; median of ${runs} forward passes per cell; base, adapted and merged models take turns in each round, all in one run.`,
  "",
  "| r | FLOP ratio 1 + r(in+out)/(in·out) | adapted / base | merged / base | base ms | adapted ms | merged ms |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows,
  "",
];
process.stdout.write(lines.join("\n"));

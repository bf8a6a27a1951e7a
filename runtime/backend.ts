import * as tf from "@tensorflow/tfjs-core";
// The union package registers every gradient with tfjs-core; tfjs-core alone ships them only as
// extensionless ES modules that Node cannot load.
import "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { existsSync, readdirSync } from "node:fs";
import { lookupRows } from "./nn/layers.js";

export type BackendPreference = "auto" | "gpu" | "wasm" | "cpu";

export interface BackendOptions {
  /**
   * `training` (the default) requires the gradient kernels LoRA training uses; `inference`
   * only the forward ones, which lets the faster wasm backend through. Default: `training`.
   */
  purpose?: "training" | "inference";
}

export interface BackendChoice {
  /** tfjs backend name: `tensorflow` (tfjs-node-gpu), `wasm` or `cpu`. */
  name: string;
  /** One line saying which backend runs and why, for the CLI to print. */
  summary: string;
}

/**
 * Selects and initialises the tfjs backend. `auto` (the default) takes
 * `@tensorflow/tfjs-node-gpu` when it is installed and the machine shows an NVIDIA GPU, else
 * the wasm backend when it passes a probe for the options' purpose, else the plain JavaScript
 * `cpu` backend. wasm comes first among CPU backends because it ran a 64x512 · 512x512 matMul
 * about twice as fast as `cpu` (tfjs 4.22, Node 20, 2 AMD EPYC cores). The probe guards
 * against missing kernels. tfjs 4.22's wasm backend has no UnsortedSegmentSum, the gradient
 * kernel of tf.gather, which is why trained embedding lookups go through `lookupRows`.
 */
export async function initBackend(preference: BackendPreference = "auto", options: BackendOptions = {}): Promise<BackendChoice> {
  const probe = options.purpose === "inference" ? inferenceProbe : trainingProbe;
  const reasons: string[] = [];
  if (preference === "auto" || preference === "gpu") {
    const gpu = await tryGpu(probe);
    if (gpu.ok) return { name: "tensorflow", summary: "backend: tensorflow (tfjs-node-gpu, GPU)" };
    reasons.push(gpu.reason);
    if (preference === "gpu") throw new Error(`the GPU backend is not available: ${gpu.reason}`);
  }
  if (preference === "auto" || preference === "wasm") {
    const problem = await tryBackend("wasm", probe);
    if (problem === null) return { name: "wasm", summary: withReasons("backend: wasm (CPU)", reasons) };
    reasons.push(`wasm: ${problem}`);
    if (preference === "wasm") throw new Error(`the wasm backend is not usable: ${problem}`);
  }
  const problem = await tryBackend("cpu", probe);
  if (problem !== null) throw new Error(`the cpu backend is not usable: ${problem}`);
  return { name: "cpu", summary: withReasons("backend: cpu (JavaScript)", reasons) };
}

function withReasons(summary: string, reasons: string[]): string {
  return reasons.length === 0 ? summary : `${summary}; ${reasons.join("; ")}`;
}

/** Checks whether the NVIDIA driver lists a GPU (Linux `/proc/driver/nvidia/gpus`). */
function nvidiaGpuVisible(): boolean {
  const dir = "/proc/driver/nvidia/gpus";
  try {
    return existsSync(dir) && readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

async function tryGpu(probe: () => void): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (!nvidiaGpuVisible()) return { ok: false, reason: "no NVIDIA GPU visible, tfjs-node-gpu not tried" };
  const moduleName = "@tensorflow/tfjs-node-gpu";
  try {
    // A variable specifier keeps TypeScript from requiring the optional package's types.
    await import(moduleName);
  } catch (err) {
    return { ok: false, reason: `tfjs-node-gpu did not load (${firstLine(err)})` };
  }
  const problem = await tryBackend("tensorflow", probe);
  return problem === null ? { ok: true } : { ok: false, reason: `tfjs-node-gpu: ${problem}` };
}

/** Switches to `name` and runs the probe; returns why it failed, or null. */
async function tryBackend(name: string, probe: () => void): Promise<string | null> {
  try {
    if (!(await tf.setBackend(name))) return "initialisation failed";
    await tf.ready();
    probe();
    return null;
  } catch (err) {
    return firstLine(err);
  }
}

/**
 * Computes gradients through the ops the LoRA layers and saved copies use: matMul both ways, a
 * differentiable row lookup in a transposed matrix, dropout and reshape. A backend that lacks
 * one of their gradient kernels then fails here rather than in the middle of training.
 */
function trainingProbe(): void {
  tf.tidy(() => {
    const a = tf.variable(tf.ones([2, 3]));
    const b = tf.variable(tf.ones([4, 2]));
    const { grads } = tf.variableGrads(() => {
      const ids = tf.tensor2d([[0, 2]], [1, 2], "int32");
      const looked = lookupRows(tf.transpose(a), ids, true);
      const x = tf.dropout(tf.reshape(looked, [2, 2]), 0.5, undefined, 1);
      const y = tf.matMul(x, b, false, true);
      return tf.sum(tf.square(y)) as tf.Scalar;
    }, [a, b]);
    for (const g of Object.values(grads)) g.dataSync();
    a.dispose();
    b.dispose();
  });
}

/** Runs the forward ops of the LoRA layers. */
function inferenceProbe(): void {
  tf.tidy(() => {
    const a = tf.ones([2, 3]);
    const looked = tf.gather(tf.transpose(a), tf.tensor2d([[0, 2]], [1, 2], "int32"));
    tf.matMul(tf.reshape(looked, [2, 2]), tf.ones([4, 2]), false, true).dataSync();
  });
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0]!;
}

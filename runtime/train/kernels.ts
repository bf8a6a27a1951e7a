import * as tf from "@tensorflow/tfjs-core";

/** The part of the wasm backend's interface this file uses. */
interface WasmBackendLike {
  readSync(dataId: tf.TensorInfo["dataId"]): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): tf.TensorInfo;
}

/**
 * Sums the rows of `x` into `numSegments` segments: out[s] = Σ x[i] over i with segmentIds[i] = s.
 * Ids outside [0, numSegments) are dropped, as TensorFlow does.
 */
export function unsortedSegmentSum(x: ArrayLike<number>, segmentIds: ArrayLike<number>, numSegments: number, rowSize: number): Float32Array {
  const out = new Float32Array(numSegments * rowSize);
  for (let i = 0; i < segmentIds.length; i++) {
    const segment = segmentIds[i]!;
    if (segment < 0 || segment >= numSegments) continue;
    for (let j = 0; j < rowSize; j++) out[segment * rowSize + j]! += x[i * rowSize + j]!;
  }
  return out;
}

/**
 * Registers kernels that training needs and a backend lacks. tfjs-backend-wasm 4.22 has no
 * `UnsortedSegmentSum`, which the gradient of `gather` uses, so an Embedding (or a LoRA
 * embedding adapter) cannot train there without it. The kernel added here runs in JavaScript
 * on the wasm backend's memory. Calling this more than once is harmless.
 */
export function registerTrainingKernels(): void {
  if (tf.getKernel(tf.UnsortedSegmentSum, "wasm") !== undefined) return;
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = inputs["x"]!;
      const segmentIds = inputs["segmentIds"]!;
      const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
      const wasm = backend as unknown as WasmBackendLike;
      const rowShape = x.shape.slice(segmentIds.shape.length);
      const rowSize = rowShape.reduce((a, b) => a * b, 1);
      const values = unsortedSegmentSum(wasm.readSync(x.dataId), wasm.readSync(segmentIds.dataId), numSegments, rowSize);
      return wasm.makeOutput([numSegments, ...rowShape], "float32", undefined, values);
    },
  });
}

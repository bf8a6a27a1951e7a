// @ts-check
/**
 * One benchmark measurement in a fresh process, so that each case's peak memory is its own.
 * It runs the built package (dist/), the code `peftc` itself runs, with plain `node`:
 *
 *   node bench/one-case.mjs parse GRAPH
 *   node bench/one-case.mjs compile GRAPH SPEC
 *
 * `parse` times the floor: reading the graph file and JSON.parse. `compile` times what
 * `peftc plan SPEC --model GRAPH` does: load the spec, import the graph, compile, serialize
 * the plan as canonical JSON. Each mode runs its path twice in the process. The first run
 * ("cold") is what a command-line user waits for, one-time costs such as the JIT warm-up
 * included. The second ("warm") is the cost that grows with the model. Prints one JSON object
 * with times in milliseconds and the peak resident set size.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { compileSpec, modelPathFor } from "../dist/compiler/compile.js";
import { loadGraph } from "../dist/compiler/import/index.js";
import { canonicalJson } from "../dist/compiler/plan/canonical.js";
import { loadSpec } from "../dist/compiler/spec/load.js";

/** Peak resident set size of this process, in bytes (resourceUsage reports kilobytes). */
function peakRss() {
  return process.resourceUsage().maxRSS * 1024;
}

/** @param {string} graphPath */
function parseOnce(graphPath) {
  const start = performance.now();
  const text = readFileSync(graphPath, "utf8");
  const value = JSON.parse(text);
  return { totalMs: performance.now() - start, modules: value.modules.length };
}

/**
 * @param {string} graphPath
 * @param {string} specPath
 * @param {boolean} withNative also time JSON.stringify of the plan, the least any writer of it costs
 */
function compileOnce(graphPath, specPath, withNative) {
  const t0 = performance.now();
  const spec = loadSpec(specPath);
  const t1 = performance.now();
  const graph = loadGraph(modelPathFor(spec, graphPath));
  const t2 = performance.now();
  const result = compileSpec(spec, graph);
  const t3 = performance.now();
  const text = canonicalJson(result.plan);
  const t4 = performance.now();
  const nativeMs = withNative ? timed(() => JSON.stringify(result.plan)) : undefined;
  return {
    totalMs: t4 - t0,
    loadSpecMs: t1 - t0,
    loadGraphMs: t2 - t1,
    compileMs: t3 - t2,
    serializeMs: t4 - t3,
    nativeMs,
    modules: graph.modules.length,
    targets: result.plan.adapters.reduce((n, a) => n + a.targets.length, 0),
    planBytes: Buffer.byteLength(text),
  };
}

/** @param {() => unknown} fn */
function timed(fn) {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

const [mode, graphPath, specPath] = process.argv.slice(2);
let run;
if (mode === "parse" && graphPath !== undefined) run = () => parseOnce(graphPath);
else if (mode === "compile" && graphPath !== undefined && specPath !== undefined) run = (/** @type {boolean} */ warm) => compileOnce(graphPath, specPath, warm);
else {
  process.stderr.write("usage: node bench/one-case.mjs parse GRAPH | node bench/one-case.mjs compile GRAPH SPEC\n");
  process.exit(2);
}
const cold = run(false);
// The peak of the first run is the one a command-line user gets.
const maxRssBytes = peakRss();
// Only the second run times JSON.stringify, so that the extra string does not raise that peak.
const warm = run(true);
process.stdout.write(JSON.stringify({ mode, cold, warm, maxRssBytes }) + "\n");

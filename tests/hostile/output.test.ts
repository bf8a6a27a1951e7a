/**
 * Writing the plan. `-o` into a missing directory or onto a directory is a clear error. A real
 * `peftc plan` process stopped by SIGINT or SIGTERM, while compiling or while its temp file is
 * being written, leaves the previous plan and no temp file.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runCli } from "../cli/run.js";
import { assertOneLineError, reportCounts, scratch, tempFiles, writeSmallGraph } from "./helpers.js";

const entry = fileURLToPath(new URL("./cli-entry.ts", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));

const PREVIOUS = '{"format": "peftc-plan/1", "previous": true}\n';

test("-o into a missing directory", async () => {
  const dir = scratch("out-missing");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const out = join(dir, "no", "such", "plan.json");
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out]);
  assertOneLineError(run, { file: out, code: "output-dir-missing", message: `directory ${join(dir, "no", "such")} does not exist` });
  assert.not.ok(existsSync(join(dir, "no")));
});

test("-o onto a directory", async () => {
  const dir = scratch("out-dir");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const out = join(dir, "plan.json");
  mkdirSync(out);
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out]);
  assertOneLineError(run, { file: out, code: "output-write-failed", message: "it is a directory; pass a file path" });
  assert.equal(tempFiles(dir), []);
});

test("-o replaces a previous plan whole", async () => {
  const dir = scratch("out-replace");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const out = join(dir, "plan.json");
  writeFileSync(out, PREVIOUS);
  const run = await runCli(["plan", spec, "--model", writeSmallGraph(dir), "-o", out, "-q"]);
  assert.is(run.code, 0, run.stderr);
  assert.is(JSON.parse(readFileSync(out, "utf8")).adapters[0].targets.length, 2);
  assert.equal(tempFiles(dir), []);
});

/** Writes a graph of `layers` layers of four 64x64 projections. Its plan takes about 900 bytes per module. */
function writeLargeGraph(dir: string, layers: number): string {
  const modules: Array<Record<string, unknown>> = [{ name: "model.embed_tokens", type: "Embedding", num_embeddings: 1000, embedding_dim: 64 }];
  for (let i = 0; i < layers; i++) {
    for (const proj of ["q_proj", "k_proj", "v_proj", "o_proj"]) {
      modules.push({ name: `model.layers.${i}.self_attn.${proj}`, type: "Linear", in_features: 64, out_features: 64, bias: false });
    }
  }
  const graph = { format: "peftc-graph/1", model_type: "llama", architectures: ["LlamaForCausalLM"], config: { tie_word_embeddings: false }, modules, input_embeddings: "model.embed_tokens", output_embeddings: null };
  const path = join(dir, "graph.json");
  writeFileSync(path, JSON.stringify(graph));
  return path;
}

interface Interrupted {
  signal: NodeJS.Signals | null;
  code: number | null;
  /** Whether the temp file of the write existed when the signal was sent. */
  midWrite: boolean;
}

/**
 * Runs `peftc plan` in a child process and sends `signal` either as soon as the temp file of the
 * atomic write appears (`when: "write"`) or after `when` milliseconds.
 */
function runInterrupted(args: string[], dir: string, signal: NodeJS.Signals, when: "write" | number): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
    let midWrite = false;
    let sent = false;
    const send = (): void => {
      if (sent) return;
      sent = true;
      midWrite = tempFiles(dir).length > 0;
      child.kill(signal);
    };
    const watcher = when === "write" ? watch(dir, () => { if (tempFiles(dir).length > 0) send(); }) : undefined;
    const timer = typeof when === "number" ? setTimeout(send, when) : undefined;
    child.on("error", reject);
    child.on("exit", (code, exitSignal) => {
      watcher?.close();
      clearTimeout(timer);
      resolve({ signal: exitSignal, code, midWrite });
    });
  });
}

const LAYERS = 12_000;
let reference: string | undefined;
let midWriteSignals = 0;

/** Returns the complete plan of the large graph, written by an uninterrupted run. */
async function referencePlan(dir: string, spec: string, graph: string): Promise<string> {
  if (reference !== undefined) return reference;
  const out = join(dir, "reference.json");
  const run = await runCli(["plan", spec, "--model", graph, "-o", out, "-q"]);
  assert.is(run.code, 0, run.stderr);
  reference = readFileSync(out, "utf8");
  return reference;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  for (const when of ["write", 300] as const) {
    const label = when === "write" ? "during the write" : `after ${when} ms`;
    test(`${signal} ${label} leaves a whole plan`, async () => {
      const dir = scratch("signal");
      const spec = join(dir, "spec.yaml");
      writeFileSync(spec, "target_modules: [q_proj, k_proj, v_proj, o_proj]\n");
      const graph = writeLargeGraph(dir, LAYERS);
      const expected = await referencePlan(scratch("reference"), spec, graph);
      const outDir = join(dir, "out");
      mkdirSync(outDir);
      const out = join(outDir, "plan.json");
      writeFileSync(out, PREVIOUS);

      const result = await runInterrupted(["plan", spec, "--model", graph, "-o", out, "-q"], outDir, signal, when);
      const after = readFileSync(out, "utf8");
      assert.equal(tempFiles(outDir), [], "no temp file is left");
      if (result.midWrite) {
        midWriteSignals++;
        assert.is(result.signal, signal, "a signal during the write stops the process");
      }
      if (result.signal === null) {
        // The run finished before the signal was sent.
        assert.is(result.code, 0);
        assert.ok(after === expected, "a finished run wrote the complete plan");
        return;
      }
      assert.is(result.signal, signal);
      assert.ok(after === PREVIOUS, `a run stopped before its rename leaves the previous plan, found ${after.length} bytes`);
    });
  }
}

test("signal runs counted", () => {
  reportCounts("interrupted writes:", { "signals sent": 4, "sent while the temp file existed": midWriteSignals });
});

test.run();

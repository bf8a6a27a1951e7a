/** Shared pieces of the hostile-input suites: scratch directories, small models and error checks. */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import type { CliRun } from "../cli/run.js";

export function scratch(label: string): string {
  return mkdtempSync(join(tmpdir(), `peftc-hostile-${label}-`));
}

/** Returns a small Llama-style graph with an embedding tied to lm_head and two layers of q/v projections. */
export function smallGraph(): Record<string, unknown> {
  const modules: Array<Record<string, unknown>> = [{ name: "model.embed_tokens", type: "Embedding", num_embeddings: 100, embedding_dim: 8 }];
  for (const layer of [0, 1]) {
    for (const proj of ["q_proj", "v_proj"]) {
      modules.push({ name: `model.layers.${layer}.self_attn.${proj}`, type: "Linear", in_features: 8, out_features: 8, bias: false });
    }
  }
  modules.push({ name: "lm_head", type: "Linear", in_features: 8, out_features: 100, bias: false });
  return {
    format: "peftc-graph/1",
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    config: { tie_word_embeddings: true },
    modules,
    tied_weights_keys: { "lm_head.weight": "model.embed_tokens.weight" },
    input_embeddings: "model.embed_tokens",
    output_embeddings: "lm_head",
  };
}

export function writeSmallGraph(dir: string): string {
  const path = join(dir, "graph.json");
  writeFileSync(path, JSON.stringify(smallGraph()));
  return path;
}

/** Builds a safetensors file by the format's definition: u64 little-endian header length, JSON header, data. */
export function safetensorsBytes(header: string | object, options: { length?: bigint; dataBytes?: number } = {}): Buffer {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(options.length ?? BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(options.dataBytes ?? 0)]);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export interface ExpectedError {
  /** The file the message must name, exactly as the user passed it. */
  file: string;
  code: string;
  line?: number;
  col?: number;
  /** Text the message must contain (the field, the value or the fix). */
  message?: string | RegExp;
}

/**
 * Asserts a run failed with exit code 1 and exactly one stderr line of the form
 * `file:line:col: error[code]: message` (or `file: error[code]: message` without a position).
 */
export function assertOneLineError(run: CliRun, expected: ExpectedError): void {
  assert.is(run.code, 1, `exit code; stderr: ${run.stderr}`);
  assert.ok(run.stderr.endsWith("\n"), `stderr ends with a newline: ${JSON.stringify(run.stderr)}`);
  const lines = run.stderr.slice(0, -1).split("\n");
  assert.is(lines.length, 1, `one stderr line: ${run.stderr}`);
  const line = lines[0]!;
  let location = escapeRegExp(expected.file);
  if (expected.line !== undefined) location += `:${expected.line}`;
  if (expected.col !== undefined) location += `:${expected.col}`;
  else if (expected.line !== undefined) location += "(:\\d+)?";
  else location += "(:\\d+(:\\d+)?)?";
  assert.match(line, new RegExp(`^${location}: error\\[${escapeRegExp(expected.code)}\\]: \\S`), line);
  assert.not.match(line, /\n|^\s+at /, "no stack trace");
  if (typeof expected.message === "string") assert.ok(line.includes(expected.message), `message contains ${JSON.stringify(expected.message)}: ${line}`);
  else if (expected.message !== undefined) assert.match(line, expected.message);
}

/** Names in `dir` that look like temp files of an atomic write. */
export function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith(".tmp"));
}

export function assertNothingWritten(dir: string, output: string): void {
  assert.not.ok(existsSync(output), `${output} must not exist after an error`);
  assert.equal(tempFiles(dir), [], "no temp file is left");
}

/** Prints counts of generated inputs under a label, once per suite. */
export function reportCounts(suite: string, counts: Record<string, number>): void {
  const parts = Object.entries(counts).map(([name, n]) => `${name} ${n}`);
  process.stdout.write(`\n  ${suite} ${parts.join(", ")}\n`);
}

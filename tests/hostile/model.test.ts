/**
 * Hostile model metadata through `peftc plan --model`: broken safetensors headers, config.json
 * files, indexes, graph JSON and symbolic links. Each is rejected in one line naming the file at
 * fault, quickly, and no plan or temp file is written.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runCli } from "../cli/run.js";
import { assertNothingWritten, assertOneLineError, safetensorsBytes, scratch, smallGraph, type ExpectedError } from "./helpers.js";

const F32_2X2 = { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] };

/** Runs `peftc plan` against the model at `model` and checks the one-line error and that nothing was written. */
async function expectModelError(dir: string, model: string, expected: Omit<ExpectedError, "file"> & { file?: string }): Promise<void> {
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const out = join(dir, "plan.json");
  const started = Date.now();
  const run = await runCli(["plan", spec, "--model", model, "-o", out]);
  assert.ok(Date.now() - started < 10_000, `rejected within 10 s, took ${Date.now() - started} ms`);
  assertOneLineError(run, { file: expected.file ?? model, ...expected });
  assertNothingWritten(dir, out);
}

const HEADERS: Array<[string, Buffer, string]> = [
  ["shorter than the length prefix", Buffer.from([1, 2, 3]), "shorter than the 8-byte header length"],
  ["header length past the end", safetensorsBytes({ "a.weight": F32_2X2 }, { length: 10_000n, dataBytes: 16 }), "goes past the end of the file"],
  ["header length of 2^63", safetensorsBytes("{}", { length: 2n ** 63n }), "over the 100000000-byte limit"],
  ["truncated inside the header", safetensorsBytes({ "a.weight": F32_2X2 }).subarray(0, 30), "past the end of the file"],
  ["header not JSON", safetensorsBytes("hello world"), "header is not valid JSON"],
  ["header not UTF-8", safetensorsBytes("{}").fill(0xff, 8), "not valid UTF-8"],
  ["header a JSON list", safetensorsBytes("[1, 2]"), "header JSON is not an object"],
  ["deeply nested header", safetensorsBytes("[".repeat(100_000) + "]".repeat(100_000)), "not an object"],
  [
    "overlapping data offsets",
    safetensorsBytes({ "a.q_proj.weight": F32_2X2, "b.q_proj.weight": { dtype: "F32", shape: [2, 2], data_offsets: [8, 24] } }, { dataBytes: 24 }),
    "'a.q_proj.weight' and 'b.q_proj.weight' have overlapping data_offsets",
  ],
  ["data offsets out of range", safetensorsBytes({ "a.q_proj.weight": F32_2X2 }, { dataBytes: 8 }), "go past the end of the data area (8 bytes)"],
  ["offsets that disagree with the shape", safetensorsBytes({ "a.q_proj.weight": { dtype: "F32", shape: [2, 3], data_offsets: [0, 16] } }, { dataBytes: 16 }), "needs 24"],
  ["unknown dtype", safetensorsBytes({ "a.q_proj.weight": { dtype: "F33", shape: [2, 2], data_offsets: [0, 16] } }, { dataBytes: 16 }), 'unknown dtype "F33"'],
  ["negative dimension", safetensorsBytes({ "a.q_proj.weight": { dtype: "F32", shape: [-2, 2], data_offsets: [0, 16] } }, { dataBytes: 16 }), "non-negative integers"],
  ["metadata not strings", safetensorsBytes({ __metadata__: { format: 1 }, "a.weight": F32_2X2 }, { dataBytes: 16 }), "__metadata__ value for 'format'"],
];

for (const [label, bytes, message] of HEADERS) {
  test(`safetensors: ${label}`, async () => {
    const dir = scratch("st");
    const file = join(dir, "model.safetensors");
    writeFileSync(file, bytes);
    await expectModelError(dir, file, { code: "invalid-safetensors", message });
  });

  test(`safetensors in a directory: ${label}`, async () => {
    const dir = scratch("st-dir");
    const model = join(dir, "model");
    mkdirSync(model);
    writeFileSync(join(model, "model.safetensors"), bytes);
    await expectModelError(dir, model, { file: join(model, "model.safetensors"), code: "invalid-safetensors", message });
  });
}

const LLAMA_CONFIG = {
  model_type: "llama",
  architectures: ["LlamaForCausalLM"],
  hidden_size: 8,
  intermediate_size: 16,
  num_attention_heads: 2,
  num_hidden_layers: 1,
  vocab_size: 10,
};

const CONFIGS: Array<[string, Record<string, unknown>, string]> = [
  ["a billion layers", { num_hidden_layers: 1e9 }, "more than 1000000 modules (num_hidden_layers is 1000000000)"],
  ["a billion experts", { model_type: "mixtral", num_local_experts: 1e9 }, "more than 1000000 modules"],
  ["a negative hidden size", { hidden_size: -1 }, "config.json sets 'hidden_size' to -1"],
  ["a fractional layer count", { num_hidden_layers: 1.5 }, "config.json sets 'num_hidden_layers' to 1.5"],
  ["a vocabulary past 2^31", { vocab_size: 2 ** 40 }, "'vocab_size' to 1099511627776"],
];

for (const [label, change, message] of CONFIGS) {
  test(`config.json with ${label}`, async () => {
    const dir = scratch("config");
    const model = join(dir, "model");
    mkdirSync(model);
    writeFileSync(join(model, "config.json"), JSON.stringify({ ...LLAMA_CONFIG, ...change }));
    await expectModelError(dir, model, { code: "not-a-model", message });
  });
}

/** Llama checkpoint tensors for LLAMA_CONFIG (hidden 8, vocab 10, one layer), q_proj of shape `qShape`. */
function llamaCheckpoint(qShape: number[]): Buffer {
  const header: Record<string, unknown> = {};
  let end = 0;
  const tensors: Array<[string, number[]]> = [
    ["model.embed_tokens.weight", [10, 8]],
    ["model.layers.0.self_attn.q_proj.weight", qShape],
    ["model.layers.0.self_attn.v_proj.weight", [8, 8]],
  ];
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((n, d) => n * d, 1) * 4;
    header[name] = { dtype: "F32", shape, data_offsets: [end, end + bytes] };
    end += bytes;
  }
  return safetensorsBytes(header, { dataBytes: end });
}

// nn.Linear(8, 8) stores its weight as (out_features, in_features) = [8, 8].
const SHAPES: Array<[string, number[], string]> = [
  ["a narrower q_proj", [8, 7], "has shape [8, 7], but config.json makes model.layers.0.self_attn.q_proj a Linear with in_features 8 and out_features 8"],
  ["a one-dimensional q_proj", [64], "has shape [64], but config.json makes model.layers.0.self_attn.q_proj a Linear with in_features 8 and out_features 8, whose weight has 2 dimensions"],
  ["a three-dimensional q_proj", [2, 4, 8], "has shape [2, 4, 8]"],
];

for (const [label, qShape, message] of SHAPES) {
  test(`checkpoint with ${label} than config.json`, async () => {
    const dir = scratch("shape");
    const model = join(dir, "model");
    mkdirSync(model);
    writeFileSync(join(model, "config.json"), JSON.stringify(LLAMA_CONFIG));
    writeFileSync(join(model, "model.safetensors"), llamaCheckpoint(qShape));
    await expectModelError(dir, model, { file: join(model, "config.json"), code: "shape-mismatch", message });
  });
}

test("checkpoint that agrees with config.json", async () => {
  const dir = scratch("shape-ok");
  const model = join(dir, "model");
  mkdirSync(model);
  writeFileSync(join(model, "config.json"), JSON.stringify(LLAMA_CONFIG));
  writeFileSync(join(model, "model.safetensors"), llamaCheckpoint([8, 8]));
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const run = await runCli(["plan", spec, "--model", model, "-q"]);
  assert.is(run.code, 0, run.stderr);
  assert.is(JSON.parse(run.stdout).adapters[0].targets[0].in_features, 8);
});

test("config.json cut short", async () => {
  const dir = scratch("config-json");
  const model = join(dir, "model");
  mkdirSync(model);
  writeFileSync(join(model, "config.json"), '{\n  "model_type": "lla');
  await expectModelError(dir, model, { file: join(model, "config.json"), code: "invalid-json", line: 2, col: 21 });
});

test("index naming a missing shard", async () => {
  const dir = scratch("index");
  const model = join(dir, "model");
  mkdirSync(model);
  writeFileSync(join(model, "config.json"), JSON.stringify({ model_type: "not-a-known-type" }));
  const weightMap = { "a.q_proj.weight": "model-00001-of-00002.safetensors", "b.q_proj.weight": "model-00002-of-00002.safetensors" };
  writeFileSync(join(model, "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
  writeFileSync(join(model, "model-00001-of-00002.safetensors"), safetensorsBytes({ "a.q_proj.weight": F32_2X2 }, { dataBytes: 16 }));
  await expectModelError(dir, model, { file: join(model, "model.safetensors.index.json"), code: "missing-shard", message: "'model-00002-of-00002.safetensors'" });
});

for (const shard of ["../outside.safetensors", "/etc/hostname", "sub/../../outside.safetensors"]) {
  test(`index naming a shard outside the model: ${shard}`, async () => {
    const dir = scratch("index-escape");
    writeFileSync(join(dir, "outside.safetensors"), safetensorsBytes({ "secret.q_proj.weight": F32_2X2 }, { dataBytes: 16 }));
    const model = join(dir, "model");
    mkdirSync(model);
    writeFileSync(join(model, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "a.q_proj.weight": shard } }));
    await expectModelError(dir, model, { file: join(model, "model.safetensors.index.json"), code: "invalid-index", message: JSON.stringify(shard) });
  });
}

test("index without a weight_map", async () => {
  const dir = scratch("index-map");
  const model = join(dir, "model");
  mkdirSync(model);
  writeFileSync(join(model, "model.safetensors.index.json"), JSON.stringify({ weight_map: ["a.weight"] }));
  await expectModelError(dir, model, { file: join(model, "model.safetensors.index.json"), code: "invalid-index", message: "weight_map" });
});

test("symbolic link loop in the model directory", async () => {
  const dir = scratch("loop");
  const model = join(dir, "model");
  mkdirSync(model);
  symlinkSync(join(model, "a"), join(model, "b"));
  symlinkSync(join(model, "b"), join(model, "a"));
  symlinkSync(join(model, "a"), join(model, "model.safetensors"));
  await expectModelError(dir, model, { file: join(model, "model.safetensors"), code: "symlink-loop" });
});

test("config.json linking to itself", async () => {
  const dir = scratch("loop-config");
  const model = join(dir, "model");
  mkdirSync(model);
  symlinkSync(join(model, "config.json"), join(model, "config.json"));
  await expectModelError(dir, model, { file: join(model, "config.json"), code: "symlink-loop" });
});

test("model directory linking to itself is read once", async () => {
  const dir = scratch("self");
  const model = join(dir, "model");
  mkdirSync(model);
  symlinkSync(model, join(model, "self"));
  writeFileSync(join(model, "model.safetensors"), safetensorsBytes({ "a.q_proj.weight": F32_2X2 }, { dataBytes: 16 }));
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const run = await runCli(["plan", spec, "--model", model, "-q"]);
  assert.is(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).adapters[0].targets.map((t: { module: string }) => t.module), ["a.q_proj"]);
});

test("graph with a duplicate module name", async () => {
  const dir = scratch("graph-dup");
  const graph = smallGraph();
  (graph["modules"] as unknown[]).push({ name: "lm_head", type: "Linear", in_features: 8, out_features: 100, bias: false });
  const path = join(dir, "graph.json");
  writeFileSync(path, JSON.stringify(graph));
  await expectModelError(dir, path, { code: "duplicate-module", message: "'lm_head'" });
});

test("graph with a negative size", async () => {
  const dir = scratch("graph-size");
  const graph = smallGraph();
  (graph["modules"] as Array<Record<string, unknown>>)[1]!["in_features"] = -8;
  const path = join(dir, "graph.json");
  writeFileSync(path, JSON.stringify(graph, null, 2));
  // With a two-space indent, module 1's in_features is on line 20 (10 lines before module 0, its 6 lines,
  // then "{", "name", "type"), and its value starts at column 22 (6 spaces and `"in_features": `).
  await expectModelError(dir, path, { code: "invalid-graph", line: 20, col: 22, message: "/modules/1/in_features (module 'model.layers.0.self_attn.q_proj') must be an integer >= 0 or null, found -8" });
});

test("graph with an empty name segment", async () => {
  const dir = scratch("graph-name");
  const graph = smallGraph();
  (graph["modules"] as Array<Record<string, unknown>>)[1]!["name"] = "model..q_proj";
  const path = join(dir, "graph.json");
  writeFileSync(path, JSON.stringify(graph));
  await expectModelError(dir, path, { code: "invalid-graph", line: 1, message: "/modules/1/name (module 'model..q_proj') must be a string matching" });
});

test("graph that is not JSON", async () => {
  const dir = scratch("graph-json");
  const path = join(dir, "graph.json");
  writeFileSync(path, '{"format": "peftc-graph/1",\n "modules": [}\n');
  await expectModelError(dir, path, { code: "invalid-json", line: 2, col: 14 });
});

test.run();

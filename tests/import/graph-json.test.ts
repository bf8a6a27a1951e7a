import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { graphCommand } from "../../compiler/cli/graph-command.js";
import type { CliIo } from "../../compiler/cli/io.js";
import { PeftcError } from "../../compiler/errors.js";
import { normalizeModules } from "../../compiler/graph/normalize.js";
import { countGraphParameters } from "../../compiler/graph/params.js";
import type { Graph } from "../../compiler/graph/types.js";
import { defaultTargetModules, loadGraph } from "../../compiler/import/index.js";
import { canonicalJson } from "../../compiler/io/canonical-json.js";

const test = suite("graph json");
let dir = "";
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), "peftc-graph-"));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  return path;
}

function diagnosticOf(fn: () => unknown): PeftcError["diagnostic"] {
  try {
    fn();
  } catch (err) {
    if (err instanceof PeftcError) return err.diagnostic;
    throw err;
  }
  throw new assert.Assertion({ message: "expected a PeftcError", operator: "throws", expects: true, actual: false });
}

const specExample = {
  format: "peftc-graph/1",
  model_type: "llama",
  architectures: ["LlamaForCausalLM"],
  config: { tie_word_embeddings: true },
  modules: [
    { name: "model.embed_tokens", type: "Embedding", num_embeddings: 1000, embedding_dim: 64 },
    { name: "model.layers", type: "ModuleList" },
    { name: "model.layers.0.self_attn.q_proj", type: "Linear", in_features: 64, out_features: 64, bias: false },
    { name: "lm_head", type: "Linear", in_features: 64, out_features: 1000, bias: false },
  ],
  tied_weights_keys: { "lm_head.weight": "model.embed_tokens.weight" },
  input_embeddings: "model.embed_tokens",
  output_embeddings: "lm_head",
};

test("implied containers are inserted in order", () => {
  const graph = loadGraph(write("g.json", specExample));
  assert.equal(
    graph.modules.map((m) => [m.name, m.type]),
    [
      ["model", "Module"],
      ["model.embed_tokens", "Embedding"],
      ["model.layers", "ModuleList"],
      ["model.layers.0", "Module"],
      ["model.layers.0.self_attn", "Module"],
      ["model.layers.0.self_attn.q_proj", "Linear"],
      ["lm_head", "Linear"],
    ],
  );
  // 1000 x 64 embedding + 64 x 64 q_proj; lm_head shares the embedding tensor.
  assert.is(graph.parameters, 1000 * 64 + 64 * 64);
  assert.is(graph.source?.kind, "graph-json");
});

test("children of one parent are kept together", () => {
  const modules = normalizeModules([
    { name: "a.x", type: "Linear" },
    { name: "b.y", type: "Linear" },
    { name: "a.z", type: "Linear" },
  ]);
  assert.equal(modules.map((m) => m.name), ["a", "a.x", "a.z", "b", "b.y"]);
});

test("explicit parent listed after its child keeps its type", () => {
  const modules = normalizeModules([
    { name: "enc.layers.0", type: "Block" },
    { name: "enc.layers", type: "ModuleList" },
  ]);
  assert.equal(modules.map((m) => `${m.name}:${m.type}`), ["enc:Module", "enc.layers:ModuleList", "enc.layers.0:Block"]);
});

test("duplicate module names are rejected", () => {
  const path = write("dup.json", { ...specExample, modules: [...specExample.modules, { name: "lm_head", type: "Linear" }] });
  const d = diagnosticOf(() => loadGraph(path));
  assert.is(d.code, "duplicate-module");
  assert.is(d.file, path);
  assert.match(d.message, "'lm_head'");
});

test("root or empty segments are rejected", () => {
  for (const name of ["", "a..b", ".a"]) {
    const d = diagnosticOf(() => normalizeModules([{ name, type: "Linear" }]));
    assert.is(d.code, "invalid-module-name", JSON.stringify(name));
  }
});

test("invalid JSON reports line and column", () => {
  const path = write("bad.json", '{\n  "format": "peftc-graph/1",\n  "modules": [,]\n}\n');
  const d = diagnosticOf(() => loadGraph(path));
  assert.is(d.code, "invalid-json");
  assert.is(d.file, path);
  assert.is(d.line, 3);
  assert.is(d.col, 15);
});

test("schema violations name the field and its position", () => {
  const text = JSON.stringify({ ...specExample, modules: [{ name: "a", type: "Linear", in_features: -1 }] }, null, 2);
  const path = write("schema.json", text);
  const d = diagnosticOf(() => loadGraph(path));
  assert.is(d.code, "invalid-graph");
  assert.match(d.message, "/modules/0/in_features");
  const lines = text.split("\n");
  assert.ok(lines[d.line! - 1]!.includes('"in_features": -1'));
  const unknown = write("unknown.json", { ...specExample, extra: 1 });
  assert.match(diagnosticOf(() => loadGraph(unknown)).message, "'extra'");
});

test("schema violations say what was expected and found", () => {
  const text = JSON.stringify({ ...specExample, modules: [{ name: "a", type: "Linear", in_features: "big" }] }, null, 2);
  const d = diagnosticOf(() => loadGraph(write("big.json", text)));
  assert.match(d.message, `/modules/0/in_features (module 'a') must be an integer >= 0 or null, found "big" (a string)`);
});

test("an unknown field is reported at its key", () => {
  const text = '{\n  "format": "peftc-graph/1",\n  "colour": "red",\n  "modules": []\n}\n';
  const d = diagnosticOf(() => loadGraph(write("colour.json", text)));
  assert.match(d.message, "the document has an unknown field 'colour'");
  // Line 3 is `  "colour": "red",`: the key's quote is in column 3.
  assert.is(d.line, 3);
  assert.is(d.col, 3);
});

test("a missing field names the module", () => {
  const text = JSON.stringify({ ...specExample, modules: [{ name: "encoder" }] });
  const d = diagnosticOf(() => loadGraph(write("missing.json", text)));
  assert.match(d.message, "/modules/0 (module 'encoder') is missing the required field 'type'");
});

test("opaque weight files are not graphs", () => {
  const d = diagnosticOf(() => loadGraph(write("pytorch_model.bin", "\u0080binary")));
  assert.is(d.code, "not-a-model");
  assert.match(d.message, "model directory");
});

test("config.json alone points to its directory", () => {
  const d = diagnosticOf(() => loadGraph(write("config.json", { model_type: "llama" })));
  assert.is(d.code, "not-a-model");
  assert.match(d.message, "pass the directory itself");
});

test("other formats are not graphs", () => {
  const d = diagnosticOf(() => loadGraph(write("plan.json", { format: "peftc-plan/1" })));
  assert.is(d.code, "not-a-model");
  assert.match(d.message, '"peftc-plan/1"');
});

test("missing path and missing model files", () => {
  assert.is(diagnosticOf(() => loadGraph(join(dir, "absent"))).code, "model-not-found");
  mkdirSync(join(dir, "empty"));
  const d = diagnosticOf(() => loadGraph(join(dir, "empty")));
  assert.is(d.code, "not-a-model");
  assert.match(d.message, "no config.json");
  writeFileSync(join(dir, "empty", "config.json"), JSON.stringify({ model_type: "no_such_model" }));
  assert.match(diagnosticOf(() => loadGraph(join(dir, "empty"))).message, "'no_such_model' is not a known architecture");
});

test("invalid config.json reports its position", () => {
  mkdirSync(join(dir, "m"));
  writeFileSync(join(dir, "m", "config.json"), '{"model_type": "llama",\n "hidden_size": }');
  const d = diagnosticOf(() => loadGraph(join(dir, "m")));
  assert.is(d.code, "invalid-json");
  assert.is(d.file, join(dir, "m", "config.json"));
  assert.is(d.line, 2);
});

test("symbolic link loops are reported", () => {
  symlinkSync(join(dir, "loop-b"), join(dir, "loop-a"));
  symlinkSync(join(dir, "loop-a"), join(dir, "loop-b"));
  assert.is(diagnosticOf(() => loadGraph(join(dir, "loop-a"))).code, "symlink-loop");
});

test("missing shard is an error only when shapes need it", () => {
  const tiny = fileURLToPath(new URL("../fixtures/safetensors/tiny-llama/", import.meta.url));
  const index = JSON.parse(readFileSync(join(tiny, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
  // Unknown architecture with one of two shards present: shapes must come from headers.
  mkdirSync(join(dir, "partial"));
  writeFileSync(join(dir, "partial", "config.json"), JSON.stringify({ model_type: "custom_arch" }));
  writeFileSync(join(dir, "partial", "model.safetensors.index.json"), JSON.stringify(index));
  writeFileSync(join(dir, "partial", "model-00001-of-00002.safetensors"), readFileSync(join(tiny, "model-00001-of-00002.safetensors")));
  const d = diagnosticOf(() => loadGraph(join(dir, "partial")));
  assert.is(d.code, "missing-shard");
  assert.match(d.message, "model-00002-of-00002.safetensors");
  // A known architecture takes shapes from config.json, so the missing shard does not matter.
  writeFileSync(join(dir, "partial", "config.json"), readFileSync(join(tiny, "config.json")));
  const graph = loadGraph(join(dir, "partial"));
  assert.is(graph.modules.find((m) => m.name === "model.layers.1.mlp.up_proj")?.out_features, 24);
});

test("tie_word_embeddings false counts tied tensors twice", () => {
  const graph = { ...specExample, config: { tie_word_embeddings: false }, modules: normalizeModules(specExample.modules) } as Graph;
  assert.is(countGraphParameters(graph), 2 * 1000 * 64 + 64 * 64);
});

test("canonical JSON has a fixed key order", () => {
  assert.is(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } }), '{\n  "a": {\n    "c": [\n      3,\n      {\n        "e": 2,\n        "f": 1\n      }\n    ],\n    "d": 2\n  },\n  "b": 1\n}\n');
  assert.is(canonicalJson({ b: 1, a: 2, z: 3 }, ["z", "b"]), '{\n  "z": 3,\n  "b": 1,\n  "a": 2\n}\n');
  // Per-field orders: objects inside the `items` array use their own list.
  const perField = (field: string): string[] => (field === "items" ? ["y", "x"] : ["items", "x"]);
  assert.is(canonicalJson({ x: 1, items: [{ x: 1, y: 2 }] }, perField), '{\n  "items": [\n    {\n      "y": 2,\n      "x": 1\n    }\n  ],\n  "x": 1\n}\n');
});

function captureIo(cwd: string): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: {}, cwd };
}

test("graph command prints and writes the same canonical JSON", async () => {
  const input = write("g.json", specExample);
  const io = captureIo(dir);
  assert.is(await graphCommand.run([input], io), 0);
  const printed = io.out.join("");
  const parsed = JSON.parse(printed) as Graph;
  assert.equal(Object.keys(parsed).slice(0, 3), ["format", "model_type", "architectures"]);
  assert.equal(Object.keys(parsed.modules[1]!), ["name", "type", "num_embeddings", "embedding_dim", "parameters"]);
  assert.is(parsed.modules.length, 7);
  assert.is(await graphCommand.run([input, "-o", "out.json"], io), 0);
  assert.is(readFileSync(join(dir, "out.json"), "utf8"), printed);
  // Re-importing the printed graph gives the same graph.
  const again = captureIo(dir);
  assert.is(await graphCommand.run(["out.json"], again), 0);
  assert.is(again.out.join(""), printed);
});

test("graph command usage errors", async () => {
  const io = captureIo(dir);
  assert.is(await graphCommand.run([], io), 1);
  assert.match(io.err.join(""), "error[usage]");
});

test("PEFT default targets per model type", () => {
  assert.equal(defaultTargetModules("llama"), ["q_proj", "v_proj"]);
  assert.equal(defaultTargetModules("gpt2"), ["c_attn"]);
  assert.equal(defaultTargetModules("bloom"), ["query_key_value"]);
  assert.equal(defaultTargetModules("t5"), ["q", "v"]);
  assert.equal(defaultTargetModules("bert"), ["query", "value"]);
  assert.is(defaultTargetModules("qwen3_5_moe_text"), undefined);
  assert.is(defaultTargetModules("constructor"), undefined);
});

test.run();

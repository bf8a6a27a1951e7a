/** `peftc plan` as a user runs it: outputs, the summary line, --check, and bad input. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runCli } from "./run.js";

const examples = new URL("../../examples/", import.meta.url).pathname;
const llama = join(examples, "llama-3.2-3b");

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "peftc-plan-"));
}

test("plan writes the committed example plan and PEFT's summary line", async () => {
  const dir = scratch();
  const out = join(dir, "plan.json");
  const run = await runCli(["plan", join(llama, "spec.yaml"), "-o", out]);
  assert.is(run.code, 0, run.stderr);
  assert.is(readFileSync(out, "utf8"), readFileSync(join(llama, "spec.plan.json"), "utf8"));
  // Llama-3.2-3B has 3,212,749,824 parameters. Targets at r=16: the embedding 16*(128256+3072),
  // q/o 16*(3072+3072) and k/v 16*(3072+1024) in 28 layers; lm_head shares the embedding's adapter.
  const trainable = 16 * (128256 + 3072) + 28 * (2 * 16 * 6144 + 2 * 16 * 4096);
  assert.is(trainable, 11276288);
  assert.match(run.stderr, "trainable params: 11,276,288 || all params: 3,224,026,112 || trainable%: 0.3498");
  assert.match(run.stderr, "by subtree: model.embed_tokens 1, model.layers 112, lm_head 1");
});

test("plan output formats", async () => {
  const json = await runCli(["plan", join(llama, "spec.yaml")]);
  assert.is(json.code, 0);
  assert.is(JSON.parse(json.stdout).format, "peftc-plan/1");
  const yaml = await runCli(["plan", join(llama, "spec.yaml"), "--format", "yaml"]);
  assert.match(yaml.stdout, "format: peftc-plan/1");
  const table = await runCli(["plan", join(llama, "spec.yaml"), "--format", "table"]);
  assert.match(table.stdout, "lm_head");
  assert.match(table.stdout, "member of model.embed_tokens.weight (transposed)");
});

test("plan --check: 0 when up to date, 2 with a diff when stale", async () => {
  const fresh = await runCli(["plan", join(llama, "spec.yaml"), "--check", join(llama, "spec.plan.json")]);
  assert.is(fresh.code, 0, fresh.stdout + fresh.stderr);
  const dir = scratch();
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, readFileSync(join(llama, "spec.yaml"), "utf8").replace("model: model", `model: ${join(llama, "model")}`).replace("r: 16", "r: 32"));
  const stale = await runCli(["plan", spec, "--check", join(llama, "spec.plan.json")]);
  assert.is(stale.code, 2);
  assert.match(stale.stdout, "r 16→32");
  assert.match(stale.stderr, "is stale");
  const missing = join(dir, "none.plan.json");
  const absent = await runCli(["plan", spec, "--check", missing]);
  assert.is(absent.code, 1);
  assert.is(absent.stderr, `${missing}: error[plan-not-found]: cannot read plan ${missing}: file not found\n`);
});

test("a YAML plan works with --check and diff", async () => {
  const dir = scratch();
  const out = join(dir, "plan.yaml");
  const written = await runCli(["plan", join(llama, "spec.yaml"), "--format", "yaml", "-o", out]);
  assert.is(written.code, 0, written.stderr);
  const check = await runCli(["plan", join(llama, "spec.yaml"), "--check", out]);
  assert.is(check.code, 0, check.stdout + check.stderr);
  const diff = await runCli(["diff", join(llama, "spec.plan.json"), out]);
  assert.is(diff.code, 0, diff.stdout + diff.stderr);
});

const BAD_INPUTS: Array<[string, string, string]> = [
  ["malformed YAML", "target_modules: [q_proj\nr: 8\n", "yaml-syntax"],
  ["wrong type", "target_modules: [q_proj]\nr: eight\n", "invalid-type"],
  ["unknown key", "target_modules: [q_proj]\nlora_aplha: 16\n", "unknown-field"],
];

for (const [label, text, code] of BAD_INPUTS) {
  test(`plan rejects ${label} in one line and writes nothing`, async () => {
    const dir = scratch();
    const spec = join(dir, "spec.yaml");
    writeFileSync(spec, text);
    const out = join(dir, "plan.json");
    const run = await runCli(["plan", spec, "--model", join(llama, "model"), "-o", out]);
    assert.is(run.code, 1);
    assert.is(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.match(run.stderr, `${spec}:`);
    assert.match(run.stderr, `error[${code}]`);
    assert.not.ok(existsSync(out));
  });
}

test("plan: a misspelled key gets a did-you-mean at its line and column", async () => {
  const dir = scratch();
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\nlora_aplha: 16\n");
  const run = await runCli(["plan", spec, "--model", join(llama, "model")]);
  assert.match(run.stderr, `${spec}:2:1: error[unknown-field]`);
  assert.match(run.stderr, "lora_alpha");
});

test("plan: a missing model path and a directory that is not a model", async () => {
  const dir = scratch();
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const missing = await runCli(["plan", spec, "--model", join(dir, "nope")]);
  assert.is(missing.code, 1);
  assert.is(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  assert.match(missing.stderr, join(dir, "nope"));
  mkdirSync(join(dir, "empty"));
  const notModel = await runCli(["plan", spec, "--model", join(dir, "empty")]);
  assert.is(notModel.code, 1);
  assert.is(notModel.stderr.trim().split("\n").length, 1, notModel.stderr);
});

test("plan: wrong model: path position", async () => {
  const dir = scratch();
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "r: 8\ntarget_modules: [q_proj]\nmodel: ../no-such-model\n");
  const run = await runCli(["plan", spec]);
  assert.is(run.code, 1);
  // `model: ` is 7 characters, so the value starts on line 3, column 8.
  assert.match(run.stderr, `${spec}:3:8: error[model-not-found]: model path not found`);
  assert.match(run.stderr, `(\`model:\` is relative to the spec's folder and gives ${join(dir, "..", "no-such-model")}; fix it or pass --model)`);
});

test("plan: a safetensors file with a corrupt header", async () => {
  const dir = scratch();
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj]\n");
  const file = join(dir, "model.safetensors");
  const header = Buffer.alloc(8);
  header.writeBigUInt64LE(1000n);
  writeFileSync(file, Buffer.concat([header, Buffer.from("{not json")]));
  const out = join(dir, "plan.json");
  const run = await runCli(["plan", spec, "--model", file, "-o", out]);
  assert.is(run.code, 1);
  assert.is(run.stderr.trim().split("\n").length, 1, run.stderr);
  assert.match(run.stderr, "model.safetensors");
  assert.not.ok(existsSync(out));
});

test("plan: -o into a missing directory is a clear error", async () => {
  const dir = scratch();
  const run = await runCli(["plan", join(llama, "spec.yaml"), "-o", join(dir, "no", "such", "plan.json")]);
  assert.is(run.code, 1);
  assert.match(run.stderr, "error[output-dir-missing]");
});

test("plan: an existing plan survives a failed compile", async () => {
  const dir = scratch();
  const out = join(dir, "plan.json");
  writeFileSync(out, "previous plan\n");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [no_such_module]\n");
  const run = await runCli(["plan", spec, "--model", join(llama, "model"), "-o", out]);
  assert.is(run.code, 1);
  assert.match(run.stderr, "error[no-target-match]");
  assert.is(readFileSync(out, "utf8"), "previous plan\n");
});

test("a misspelled option gets a did-you-mean", async () => {
  const run = await runCli(["plan", join(llama, "spec.yaml"), "--fromat", "table"]);
  assert.is(run.code, 1);
  assert.is(run.stderr, "error[usage]: unknown option '--fromat'; did you mean '--format'? See `peftc plan --help`\n");
});

test("explain names the rule, the tie and where PEFT differs", async () => {
  const t5 = join(examples, "t5");
  const run = await runCli(["explain", join(t5, "spec-tied.yaml"), "decoder.embed_tokens"]);
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, "member of tie group shared.weight");
  assert.match(run.stdout, "PEFT would differ");
  assert.match(run.stdout, "does not see 'decoder.embed_tokens' as tied");
  const layer = await runCli(["explain", join(examples, "mixtral-8x22b", "spec.yaml"), "model.layers.5.block_sparse_moe.experts.1.w1"]);
  assert.match(layer.stdout, "layer index (5) is not in layers_to_transform [0,1,2,3]");
});

test("graph prints the normalized graph of a model directory", async () => {
  const run = await runCli(["graph", join(examples, "gpt2", "model")]);
  assert.is(run.code, 0, run.stderr);
  const graph = JSON.parse(run.stdout);
  assert.is(graph.format, "peftc-graph/1");
  assert.is(graph.input_embeddings, "transformer.wte");
  // GPT-2: 12 layers x (c_attn, attn.c_proj, c_fc, mlp.c_proj) Conv1D layers.
  assert.is(graph.modules.filter((m: { type: string }) => m.type === "Conv1D").length, 48);
});

test.run();

import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadSpec } from "../../compiler/spec/load.js";
import { FIXTURES } from "./helpers.js";

const dir = fileURLToPath(FIXTURES);

// Read from the JSON files with a separate script (Python's json module), not with peftc:
// folder, r, lora_alpha, target_modules form, [list length, first entry] or regex prefix, modules_to_save.
const EXPECTED: Array<[string, number, number, "list" | "regex" | "null", [number, string] | string | null, string[] | null]> = [
  ["bert-base-uncased-seqcls", 8, 32, "list", [2, "query"], ["classifier", "score"]],
  ["bert-turkish-seqcls-peft020", 16, 32, "list", [2, "value"], ["classifier", "classifier", "score"]],
  ["bloom-1b7-lora", 8, 16, "list", [1, "query_key_value"], null],
  ["bloom-560m-alpaca", 8, 16, "list", [1, "query_key_value"], null],
  ["chatglm-efficient-tuning-peft030", 32, 32, "list", [4, "query_key_value"], null],
  ["deepseek-llm-7b-hfcache-path", 64, 128, "list", [7, "gate_proj"], null],
  ["deepseek-r1-distill-qwen-seqcls", 8, 32, "list", [2, "q_proj"], ["classifier", "score"]],
  ["falcon-7b-instruct-summarization", 16, 32, "list", [1, "query_key_value"], null],
  ["falcon-7b-sharded-sentiment", 16, 32, "list", [4, "dense_h_to_4h"], null],
  ["flan-t5-base-motivation", 16, 32, "list", [4, "o"], null],
  ["flan-t5-base-sum", 16, 32, "list", [3, "k"], null],
  ["gemma-2b-it-medical", 8, 32, "list", [4, "v_proj"], null],
  ["gemma2-9b-it-unsloth", 8, 16, "list", [7, "o_proj"], null],
  ["gemma3-1b-unsloth-regex", 8, 8, "regex", "(?:.*?(?:language|text).", null],
  ["gemma3-270m-it-logo", 4, 4, "list", [2, "v_proj"], []],
  ["gemma4-e4b-exclude-modules", 16, 32, "list", [7, "o_proj"], null],
  ["gemma4-e4b-unsloth-vision-regex", 16, 16, "regex", "(?:.*?(?:vision|image|vi", null],
  ["gpt-oss-20b-unsloth", 16, 32, "list", [4, "o_proj"], null],
  ["gpt2-math-riddles-fan-in-fan-out", 16, 64, "list", [2, "c_proj"], null],
  ["koalpaca-llama1-7b-peft02x", 8, 16, "list", [2, "q_proj"], null],
  ["llama2-7b-chat-relpath", 8, 16, "list", [2, "q_proj"], null],
  ["llama3-8b-llamafactory", 8, 16, "list", [7, "down_proj"], null],
  ["llama3-8b-unsloth-revision-field", 16, 16, "list", [7, "q_proj"], null],
  ["llama31-8b-unsloth-dup-targets", 16, 16, "list", [14, "v_proj"], null],
  ["llama32-3b-instruct-unsloth", 16, 16, "list", [7, "k_proj"], null],
  ["llama32-3b-romanian-qa", 8, 32, "list", [2, "q_proj"], null],
  ["llama7b-lora-alpaca-peft020", 8, 32, "list", [2, "q_proj"], null],
  ["llava-gemma-2b-anchored-regex", 16, 32, "regex", ".*language_model.*\\.(q_p", null],
  ["mistral-7b-sharded-lmhead-target", 16, 16, "list", [8, "k_proj"], null],
  ["mistral-7b-v02-translator", 16, 32, "list", [7, "down_proj"], null],
  ["mistral-7b-v03-heretic", 1, 1, "list", [2, "o_proj"], null],
  ["mistral-7b-v03-minimal", 8, 64, "list", [7, "q_proj"], null],
  ["mixtral-8x7b-instruct-qlora", 8, 16, "list", [2, "v_proj"], null],
  ["peft-mc-llama32-3b-bdlora", 14, 28, "list", [3, "gate_proj"], null],
  ["peft-mc-llama32-3b-dora-null-targets", 32, 64, "null", null, null],
  ["peft-rlmath-qwen35-4b-pissa", 4, 4, "list", [7, "q_proj"], null],
  ["phi3-mini-local-volumes-path", 16, 32, "list", [4, "qkv_proj"], null],
  ["phi3-mini-structured-output", 16, 32, "list", [4, "gate_up_proj"], null],
  ["qwen2-1.5b-instruct", 32, 64, "list", [7, "k_proj"], null],
  ["qwen25-math-1.5b", 16, 32, "list", [4, "q_proj"], null],
  ["qwen25-vl-7b-fq-list", 8, 16, "list", [196, "model.layers.15.mlp.down_proj"], null],
  ["qwen25-vl-7b-regex", 8, 16, "regex", "model\\.layers\\.\\d+\\.(sel", null],
  ["qwen3-4b-base-unsloth-grpo", 32, 64, "list", [7, "down_proj"], null],
  ["qwythos-9b-all-linear-mm", 16, 32, "list", [16, "q_proj"], null],
  ["rinna-neox-3.6b-ppo-zundamon", 8, 16, "list", [1, "query_key_value"], null],
  ["roberta-base-seqcls-dup-mts", 16, 32, "list", [2, "value"], ["classifier", "score", "classifier", "score"]],
  ["smollm2-1.7b-r16", 16, 32, "list", [7, "up_proj"], null],
  ["smolvlm-256m-instruct", 16, 64, "list", [11, "gate_proj"], null],
  ["vit-base-food101", 16, 16, "list", [2, "value"], ["classifier"]],
  ["whisper-large-v3-turbo-asr", 32, 64, "list", [2, "v_proj"], null],
];

test("corpus has 50 adapters, all in the table", () => {
  const folders = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.is(folders.length, 50);
  assert.equal(folders, EXPECTED.map((row) => row[0]).sort());
});

for (const [folder, r, alpha, form, detail, saved] of EXPECTED) {
  test(`loads ${folder}`, () => {
    const spec = loadSpec(`${folder}/adapter_config.json`, { cwd: dir });
    assert.is(spec.peft_file, true);
    assert.is(spec.model, null);
    assert.equal(spec.diagnostics, [], "a published PEFT file uses only known fields");
    assert.is(spec.adapters.length, 1);
    const adapter = spec.adapters[0]!;
    assert.is(adapter.name, "default");
    assert.is(adapter.r, r);
    assert.is(adapter.lora_alpha, alpha);
    assert.equal(adapter.modules_to_save, saved);
    const targets = adapter.target_modules;
    if (form === "null") {
      assert.is(targets, null);
    } else if (form === "regex") {
      assert.is(targets?.kind, "regex");
      const pattern = targets?.kind === "regex" ? targets.pattern : "";
      assert.ok(pattern.startsWith(detail as string), pattern);
    } else {
      assert.is(targets?.kind, "list");
      const [length, first] = detail as [number, string];
      assert.ok(targets?.kind === "list");
      if (targets?.kind === "list") {
        assert.is(targets.entries.length, length);
        assert.is(targets.entries[0], first);
      }
    }
    assert.is(adapter.metadata.peft_type, "LORA");
  });
}

test("duplicate targets kept as written", () => {
  const spec = loadSpec("llama31-8b-unsloth-dup-targets/adapter_config.json", { cwd: dir });
  const targets = spec.adapters[0]!.target_modules;
  assert.ok(targets?.kind === "list");
  if (targets?.kind !== "list") return;
  assert.equal(targets.entries.slice(0, 3), ["v_proj", "gate_proj", "up_proj"]);
  assert.is(new Set(targets.entries).size, 7);
});

test("fields of specific files", () => {
  const gpt2 = loadSpec("gpt2-math-riddles-fan-in-fan-out/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.is(gpt2.fan_in_fan_out, true);
  assert.is(gpt2.task_type, null);
  const minimal = loadSpec("mistral-7b-v03-minimal/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.is(minimal.fan_in_fan_out, null, "the file does not set fan_in_fan_out");
  assert.is(minimal.init_lora_weights, true, "PEFT default");
  assert.is(minimal.lora_dropout, 0);
  const pissa = loadSpec("peft-rlmath-qwen35-4b-pissa/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.is(pissa.init_lora_weights, "pissa");
  const dora = loadSpec("peft-mc-llama32-3b-dora-null-targets/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.is(dora.use_dora, true);
  assert.is(dora.metadata.base_model_name_or_path, null);
  const gemma4 = loadSpec("gemma4-e4b-exclude-modules/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.equal(gemma4.exclude_modules, { kind: "regex", pattern: ".*(audio_tower|vision_tower|embed_vision|embed_audio).*" });
  const bdlora = loadSpec("peft-mc-llama32-3b-bdlora/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.is.not(bdlora.metadata.use_bdlora, null);
  assert.type(bdlora.metadata.use_bdlora, "object");
  const revision = loadSpec("llama3-8b-unsloth-revision-field/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.is(revision.metadata.revision, "unsloth");
});

test("CRLF file positions", () => {
  // Lines counted in the file: "r" on line 22, "target_modules" on line 25, both indented by 2.
  const adapter = loadSpec("deepseek-r1-distill-qwen-seqcls/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.equal(adapter.positionOf(["r"]), { line: 22, col: 3 });
  assert.equal(adapter.positionOf(["target_modules"]), { line: 25, col: 3 });
  assert.equal(adapter.positionOf(["target_modules", 1]), { line: 27, col: 5 });
});

test("four-space indented file positions", () => {
  const adapter = loadSpec("peft-mc-llama32-3b-bdlora/adapter_config.json", { cwd: dir }).adapters[0]!;
  assert.equal(adapter.positionOf(["lora_alpha"]), { line: 16, col: 5 });
  assert.equal(adapter.positionOf(["r"]), { line: 23, col: 5 });
});

test.run();

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { loraFields } from "../../compiler/spec/fields.js";
import { FIXTURES } from "./helpers.js";

const schema = JSON.parse(readFileSync(new URL("../../schemas/spec.schema.json", import.meta.url), "utf8"));
const ajv = new Ajv2020.default({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
const validate = ajv.compile(schema);

// Field names of peft.LoraConfig(...) in PEFT v0.20.0, from its API reference signature
// (runtime_config is left out because PEFT never saves it).
const PEFT_V020_FIELDS = [
  "task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode",
  "r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout", "fan_in_fan_out", "bias", "use_rslora",
  "modules_to_save", "init_lora_weights", "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern",
  "megatron_config", "megatron_core", "trainable_token_indices", "loftq_config", "eva_config", "corda_config",
  "lora_ga_config", "use_dora", "velora_config", "alora_invocation_tokens", "use_qalora", "qalora_group_size",
  "monteclora_config", "layer_replication", "lora_bias", "target_parameters", "use_bdlora", "arrow_config",
  "ensure_weight_tying",
];

test("schema knows every PEFT v0.20 field", () => {
  const known = new Set(loraFields());
  for (const field of PEFT_V020_FIELDS) assert.ok(known.has(field), `missing ${field}`);
});

test("every field has a description", () => {
  const properties = schema.$defs.loraFields.properties as Record<string, { description?: string }>;
  for (const [name, property] of Object.entries(properties)) {
    assert.type(property.description, "string", `${name} needs a description`);
    assert.ok(property.description!.length > 10, `${name} needs a real description`);
  }
});

test("every published adapter config passes the editor schema", () => {
  const dir = fileURLToPath(FIXTURES);
  const folders = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  assert.is(folders.length, 50);
  for (const folder of folders) {
    const config = JSON.parse(readFileSync(`${dir}/${folder.name}/adapter_config.json`, "utf8"));
    assert.ok(validate(config), `${folder.name}: ${ajv.errorsText(validate.errors)}`);
  }
});

test("YAML forms pass the editor schema", () => {
  const specs = [
    "r: 16\nlora_alpha: 32\ntarget_modules: [q_proj, v_proj]\nmodel: models/llama\n",
    "target_modules: {glob: 'model.layers.*.self_attn.{q,v}_proj'}\n",
    "lora_alpha: 16\nadapters:\n  small: {r: 4}\n  big: {r: 64, target_modules: all-linear}\n",
  ];
  for (const text of specs) assert.ok(validate(parse(text)), `${text}: ${ajv.errorsText(validate.errors)}`);
});

test("editor schema rejects what the loader rejects", () => {
  const specs = [
    "lora_aplha: 16\n",
    "adapters:\n  a: {lora_aplha: 16}\n",
    "adapters: {}\n",
    "r: 0\n",
    "lora_dropout: 1\n",
    "target_modules: {globs: x}\n",
    '{"peft_type": "LORA", "target_modules": {"glob": "x"}}',
    '{"peft_type": "IA3"}',
  ];
  for (const text of specs) assert.not.ok(validate(parse(text)), `schema accepted ${text}`);
});

test("PEFT file may carry unknown fields", () => {
  assert.ok(validate({ peft_type: "LORA", r: 8, some_future_field: { a: 1 } }));
});

test.run();

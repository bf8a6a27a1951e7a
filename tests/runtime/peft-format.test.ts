import * as tf from "@tensorflow/tfjs-core";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyPlan } from "../../runtime/apply.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { adapterConfig, loadAdapter, saveAdapter } from "../../runtime/peft-format.js";
import { readSafetensors, writeSafetensors } from "../../runtime/safetensors.js";
import { HIDDEN, TinyLM, VOCAB, basicPlan, randomize, sampleIds, tiedPlan } from "./fixtures.js";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "peftc-runtime-"));
  dirs.push(dir);
  return dir;
}

function bits(v: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(v.dataSync()).buffer));
}

function savedPlan() {
  const plan = basicPlan();
  plan.adapters[0]!.targets[3]!.r = 4;
  plan.adapters[0]!.targets[3]!.scaling = 1;
  plan.adapters[0]!.modules_to_save = [{ module: "score", parameters: 3 * HIDDEN + 3, tie: null }];
  return plan;
}

test("keys and shapes are PEFT's", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), savedPlan(), { seed: 1 });
  saveAdapter(lora, dir);
  const file = readSafetensors(readFileSync(join(dir, "adapter_model.safetensors")));
  const shapes = Object.fromEntries([...file.tensors].map(([k, v]) => [k, v.shape]));
  const p = "base_model.model.model.layers";
  assert.equal(shapes, {
    [`${p}.0.self_attn.q_proj.lora_A.weight`]: [2, HIDDEN],
    [`${p}.0.self_attn.q_proj.lora_B.weight`]: [HIDDEN, 2],
    [`${p}.0.self_attn.v_proj.lora_A.weight`]: [2, HIDDEN],
    [`${p}.0.self_attn.v_proj.lora_B.weight`]: [HIDDEN, 2],
    // Conv1D: PEFT's lora_A is Linear(in_features, r) with in_features = weight.shape[0].
    [`${p}.0.mlp.c_fc.lora_A.weight`]: [2, HIDDEN],
    [`${p}.0.mlp.c_fc.lora_B.weight`]: [2 * HIDDEN, 2],
    [`${p}.1.self_attn.q_proj.lora_A.weight`]: [4, HIDDEN],
    [`${p}.1.self_attn.q_proj.lora_B.weight`]: [HIDDEN, 4],
    [`${p}.1.self_attn.v_proj.lora_A.weight`]: [2, HIDDEN],
    [`${p}.1.self_attn.v_proj.lora_B.weight`]: [HIDDEN, 2],
    "base_model.model.score.weight": [3, HIDDEN],
    "base_model.model.score.bias": [3],
  });
  assert.ok([...file.tensors.values()].every((t) => t.dtype === "F32"));
});

test("config lists every target and pattern", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), savedPlan(), { seed: 1 });
  saveAdapter(lora, dir, { baseModelNameOrPath: "org/tiny", taskType: "CAUSAL_LM" });
  const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.is(config.peft_type, "LORA");
  assert.is(config.r, 2);
  assert.is(config.lora_alpha, 4);
  assert.equal(config.rank_pattern, { "model.layers.1.self_attn.q_proj": 4 });
  assert.equal(config.alpha_pattern, {});
  assert.equal(config.target_modules, [
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.0.mlp.c_fc",
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.self_attn.v_proj",
  ]);
  assert.equal(config.modules_to_save, ["score"]);
  assert.is(config.use_rslora, false);
  assert.is(config.use_dora, false);
  assert.is(config.fan_in_fan_out, false);
  assert.is(config.base_model_name_or_path, "org/tiny");
  assert.is(config.task_type, "CAUSAL_LM");
  assert.not.ok("ensure_weight_tying" in config);
});

test("rsLoRA scaling is written as use_rslora", () => {
  const plan = basicPlan();
  for (const t of plan.adapters[0]!.targets) t.scaling = t.alpha / Math.sqrt(t.r);
  const config = adapterConfig(applyPlan(new TinyLM(), plan, { seed: 1 }));
  assert.is(config["use_rslora"], true);
});

test("save then load is bit-exact", () => {
  const dir = tempDir();
  const model = new TinyLM();
  const lora = applyPlan(model, savedPlan(), { seed: 1 });
  randomize(lora.trainableVariables(), 2);
  const saved = lora.trainableVariables().map(bits);
  saveAdapter(lora, dir);
  const fresh = applyPlan(new TinyLM(), savedPlan(), { seed: 99 });
  loadAdapter(fresh, dir);
  assert.equal(fresh.trainableVariables().map(bits), saved);
  const again = tempDir();
  saveAdapter(fresh, again);
  assert.equal(readFileSync(join(again, "adapter_model.safetensors")), readFileSync(join(dir, "adapter_model.safetensors")));
});

test("loading into a merged model updates the merge", () => {
  const dir = tempDir();
  const source = applyPlan(new TinyLM(), basicPlan(), { seed: 1 });
  randomize(source.trainableVariables(), 2);
  saveAdapter(source, dir);
  const expected = Array.from(source.model.call(sampleIds()).dataSync());

  const target = applyPlan(new TinyLM(), basicPlan(), { seed: 3 });
  randomize(target.trainableVariables(), 4);
  target.merge();
  loadAdapter(target, dir);
  assert.ok(target.merged);
  Array.from(target.model.call(sampleIds()).dataSync()).forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `output ${i}`));
});

test("tied adapter is written under every key", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), tiedPlan(), { seed: 1 });
  randomize(lora.trainableVariables(), 3);
  saveAdapter(lora, dir);
  const t = readSafetensors(readFileSync(join(dir, "adapter_model.safetensors"))).tensors;
  const embA = t.get("base_model.model.model.embed_tokens.lora_embedding_A")!;
  const embB = t.get("base_model.model.model.embed_tokens.lora_embedding_B")!;
  const headA = t.get("base_model.model.lm_head.lora_A.weight")!;
  const headB = t.get("base_model.model.lm_head.lora_B.weight")!;
  assert.equal(embA.shape, [2, VOCAB]);
  assert.equal(embB.shape, [HIDDEN, 2]);
  assert.equal(headA.shape, [2, HIDDEN]);
  assert.equal(headB.shape, [VOCAB, 2]);
  // lm_head's lora_A is lora_embedding_B transposed, element by element.
  for (let k = 0; k < 2; k++) for (let d = 0; d < HIDDEN; d++) assert.is(headA.data![k * HIDDEN + d], embB.data![d * 2 + k]);
  for (let v = 0; v < VOCAB; v++) for (let k = 0; k < 2; k++) assert.is(headB.data![v * 2 + k], embA.data![k * VOCAB + v]);
  const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.is(config.ensure_weight_tying, true);

  const fresh = applyPlan(new TinyLM(), tiedPlan(), { seed: 8 });
  loadAdapter(fresh, dir);
  assert.is(fresh.trainableVariables().length, 4, "one A and one B for the tie group, plus q_proj's");
  assert.equal(fresh.trainableVariables().map(bits), lora.trainableVariables().map(bits));
});

test("shared copy is saved under both modules", () => {
  const plan = tiedPlan();
  const adapter = plan.adapters[0]!;
  adapter.targets = adapter.targets.filter((t) => t.tie === null);
  adapter.modules_to_save = [
    { module: "model.embed_tokens", parameters: VOCAB * HIDDEN, tie: { group: "model.embed_tokens.weight", role: "source", orientation: "same" } },
    { module: "lm_head", parameters: 0, tie: { group: "model.embed_tokens.weight", role: "member", orientation: "same" } },
  ];
  adapter.tie_groups = [{ id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"], mode: "shared_copy" }];
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), plan, { seed: 1 });
  randomize(lora.trainableVariables(), 5);
  saveAdapter(lora, dir);
  const t = readSafetensors(readFileSync(join(dir, "adapter_model.safetensors"))).tensors;
  const embed = t.get("base_model.model.model.embed_tokens.weight")!;
  const head = t.get("base_model.model.lm_head.weight")!;
  assert.equal(embed.shape, [VOCAB, HIDDEN]);
  assert.equal(head.shape, [VOCAB, HIDDEN]);
  assert.equal(Array.from(head.data!), Array.from(embed.data!));
  const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.equal(config.modules_to_save, ["model.embed_tokens", "lm_head"]);

  const fresh = applyPlan(new TinyLM(), plan, { seed: 2 });
  loadAdapter(fresh, dir);
  assert.equal(fresh.trainableVariables().map(bits), lora.trainableVariables().map(bits));
});

test("tied keys that disagree are refused", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), tiedPlan(), { seed: 1 });
  randomize(lora.trainableVariables(), 3);
  saveAdapter(lora, dir);
  const path = join(dir, "adapter_model.safetensors");
  const file = readSafetensors(readFileSync(path));
  const tensors = [...file.tensors].map(([name, t]) => ({ name, shape: t.shape, data: name.endsWith("lm_head.lora_A.weight") ? t.data!.map((v) => v + 1) : t.data! }));
  writeFileSync(path, writeSafetensors(tensors));
  const fresh = applyPlan(new TinyLM(), tiedPlan(), { seed: 8 });
  assert.throws(() => loadAdapter(fresh, dir), /lm_head.lora_A.weight: values differ from base_model.model.model.embed_tokens.lora_embedding_B/);
});

test("every file mismatch is reported at once, model unchanged", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), basicPlan(), { seed: 1 });
  saveAdapter(lora, dir);
  const path = join(dir, "adapter_model.safetensors");
  const tensors = [...readSafetensors(readFileSync(path)).tensors]
    .filter(([name]) => !name.includes("layers.1.self_attn.v_proj.lora_B"))
    .map(([name, t]) => (name.includes("layers.0.self_attn.q_proj.lora_A") ? { name, shape: [3, HIDDEN], data: new Float32Array(3 * HIDDEN) } : { name, shape: t.shape, data: t.data! }));
  tensors.push({ name: "base_model.model.extra.lora_A.weight", shape: [1], data: new Float32Array(1) });
  const bytes = writeSafetensors(tensors);
  // Rewrite one F32 entry's header to F64 [3,2]: the same 24 bytes, and the same header length.
  const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = new TextDecoder().decode(bytes.subarray(8, headerEnd));
  const key = "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight";
  const patched = header.replace(`"${key}":{"dtype":"F32","shape":[6,2]`, `"${key}":{"dtype":"F64","shape":[3,2]`);
  assert.is.not(patched, header);
  bytes.set(new TextEncoder().encode(patched), 8);
  writeFileSync(path, bytes);

  const target = applyPlan(new TinyLM(), basicPlan(), { seed: 5 });
  randomize(target.trainableVariables(), 6);
  const before = target.trainableVariables().map(bits);
  try {
    loadAdapter(target, dir);
    assert.unreachable("load should fail");
  } catch (err) {
    assert.instance(err, RuntimeInputError);
    const e = err as RuntimeInputError;
    assert.is(e.diagnostic.code, "adapter-file-mismatch");
    assert.equal(e.problems.sort(), [
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: shape [3,6] does not match the adapter's [2,6]",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight: dtype F64 is not supported (F32, F16, BF16 are)",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight: shape [3,2] does not match the adapter's [6,2]",
      "missing key base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight (expected [6,2])",
      "unexpected key base_model.model.extra.lora_A.weight",
    ].sort());
  }
  assert.equal(target.trainableVariables().map(bits), before);
});

test("F16 and BF16 files load", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), basicPlan(), { seed: 1 });
  saveAdapter(lora, dir);
  const path = join(dir, "adapter_model.safetensors");
  const file = readSafetensors(readFileSync(path));
  // Hand-written half-precision file: every tensor filled with 0.5 (F16 0x3800, BF16 0x3f00).
  const header: Record<string, unknown> = {};
  const chunks: number[] = [];
  let offset = 0;
  let i = 0;
  for (const [name, t] of file.tensors) {
    const dtype = i++ % 2 === 0 ? "F16" : "BF16";
    const count = t.shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + 2 * count] };
    for (let j = 0; j < count; j++) chunks.push(...(dtype === "F16" ? [0x00, 0x38] : [0x00, 0x3f]));
    offset += 2 * count;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + chunks.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(chunks, 8 + json.length);
  writeFileSync(path, bytes);
  const fresh = applyPlan(new TinyLM(), basicPlan(), { seed: 3 });
  loadAdapter(fresh, dir);
  assert.ok(fresh.trainableVariables().every((v) => Array.from(v.dataSync()).every((x) => x === 0.5)));
});

test("config that does not fit the plan is refused", () => {
  const dir = tempDir();
  const lora = applyPlan(new TinyLM(), basicPlan(), { seed: 1 });
  saveAdapter(lora, dir);
  const path = join(dir, "adapter_config.json");
  const config = JSON.parse(readFileSync(path, "utf8"));
  config.lora_alpha = 16;
  config.rank_pattern = { "layers.1.self_attn.q_proj": 8 };
  config.use_dora = true;
  writeFileSync(path, JSON.stringify(config));
  try {
    loadAdapter(applyPlan(new TinyLM(), basicPlan(), { seed: 1 }), dir);
    assert.unreachable("load should fail");
  } catch (err) {
    const e = err as RuntimeInputError;
    assert.is(e.diagnostic.code, "adapter-config-mismatch");
    assert.ok(e.problems.includes("use_dora is true; the runtime does not implement DoRA"));
    assert.ok(e.problems.includes("model.layers.1.self_attn.q_proj: r is 8 in the config, 2 in the plan"));
    // lora_alpha 16 with r 2 gives scaling 8 for the four other targets.
    assert.is(e.problems.filter((p) => p.includes("scaling is 8 in the config")).length, 4);
  }
});

test("missing files are named", () => {
  const dir = tempDir();
  assert.throws(() => loadAdapter(applyPlan(new TinyLM(), basicPlan(), { seed: 1 }), dir), /adapter_config\.json not found/);
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();

import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Plan } from "../../compiler/plan/types.js";
import { applyPlan } from "../../runtime/apply.js";
import { RuntimeInputError } from "../../runtime/errors.js";
import { fingerprintModel, toGraph } from "../../runtime/graph.js";
import { LoraLayer } from "../../runtime/lora/layers.js";
import { Embedding, Linear } from "../../runtime/nn/index.js";
import { HIDDEN, TINY_FINGERPRINT, TINY_GRAPH_MODULES, TinyLM, VOCAB, basicPlan, randomize, sampleIds, target, tiedPlan } from "./fixtures.js";

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function rejects(fn: () => unknown, code: string): RuntimeInputError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RuntimeInputError);
    assert.is((err as RuntimeInputError).diagnostic.code, code);
    return err as RuntimeInputError;
  }
  assert.unreachable(`expected error ${code}`);
  throw new Error("unreachable");
}

test("fresh adapters leave outputs bit-identical", () => {
  for (const plan of [basicPlan(), tiedPlan()]) {
    const model = new TinyLM();
    const before = values(model.call(sampleIds()));
    applyPlan(model, plan, { seed: 1 });
    assert.equal(values(model.call(sampleIds())), before);
  }
});

test("adapted model keeps its fingerprint", () => {
  const model = new TinyLM();
  const plan = tiedPlan();
  plan.adapters[0]!.modules_to_save = [{ module: "score", parameters: 3 * HIDDEN + 3, tie: null }];
  applyPlan(model, plan, { seed: 1 });
  assert.is(fingerprintModel(model), TINY_FINGERPRINT);
  assert.equal(toGraph(model).modules.map((m) => m.name), toGraph(new TinyLM()).modules.map((m) => m.name));
});

test("initialisation follows PEFT's defaults", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, tiedPlan(), { seed: 2 });
  const q = lora.layers.get("model.layers.0.self_attn.q_proj")!;
  const bound = 1 / Math.sqrt(HIDDEN);
  assert.equal(q.factors.A.shape, [2, HIDDEN]);
  assert.ok(values(q.factors.A).every((v) => Math.abs(v) <= bound) && values(q.factors.A).some((v) => v !== 0));
  assert.ok(values(q.factors.B).every((v) => v === 0));
  const embed = lora.layers.get("model.embed_tokens")!;
  assert.equal(embed.factors.A.shape, [2, VOCAB]);
  assert.equal(embed.factors.B.shape, [HIDDEN, 2]);
  assert.ok(values(embed.factors.A).every((v) => v === 0));
  assert.ok(values(embed.factors.B).some((v) => Math.abs(v) > bound), "lora_embedding_B is standard normal");
});

test("seeded runs are reproducible", () => {
  const a = applyPlan(new TinyLM(), basicPlan(), { seed: 5 });
  const b = applyPlan(new TinyLM(), basicPlan(), { seed: 5 });
  assert.equal(a.trainableVariables().map(values), b.trainableVariables().map(values));
});

test("Linear LoRA matches a hand computation", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, basicPlan(), { seed: 3 });
  const layer = lora.layers.get("model.layers.0.self_attn.q_proj")!;
  layer.factors.A.assign(tf.tensor2d([[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0]]));
  layer.factors.B.assign(tf.tensor2d([[1, 0], [0, 1], [1, 1], [0, 0], [2, 0], [0, -1]]));
  const x = [0.5, -1, 2, 0, 1, 3];
  const base = values((layer.base as Linear).call(tf.tensor2d([x])));
  const out = values(layer.call(tf.tensor2d([x])));
  // A x = [x0 + x5, x1 + x4] = [3.5, 0]; B (A x) = [3.5, 0, 3.5, 0, 7, 0]; scaling = 4 / 2 = 2.
  const delta = [7, 0, 7, 0, 14, 0];
  out.forEach((v, i) => assert.ok(Math.abs(v - (base[i]! + delta[i]!)) < 1e-5, `output ${i}`));
});

test("Embedding LoRA matches a hand computation", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, tiedPlan(), { seed: 3 });
  const layer = lora.layers.get("model.embed_tokens")!;
  randomize([layer.factors.A, layer.factors.B], 9);
  const [A, B] = [layer.factors.A.arraySync() as number[][], layer.factors.B.arraySync() as number[][]];
  const id = 4;
  const base = values((layer.base as Embedding).call(tf.tensor1d([id], "int32")));
  const out = values(layer.call(tf.tensor1d([id], "int32")));
  for (let d = 0; d < HIDDEN; d++) {
    // PEFT: embedding(x, A^T) @ B^T * scaling, i.e. sum_k A[k][id] * B[d][k] * 2
    let delta = 0;
    for (let k = 0; k < 2; k++) delta += A[k]![id]! * B[d]![k]!;
    assert.ok(Math.abs(out[d]! - (base[d]! + 2 * delta)) < 1e-5, `dim ${d}`);
  }
});

test("merge equals unmerged, unmerge restores weights", () => {
  for (const plan of [basicPlan(), tiedPlan()]) {
    const model = new TinyLM();
    const lora = applyPlan(model, plan, { seed: 4 });
    randomize(lora.trainableVariables(), 10);
    const weightsBefore = model.namedVariables().map(([, v]) => values(v));
    const unmerged = model.call(sampleIds());
    lora.merge();
    const merged = model.call(sampleIds());
    assert.ok(maxAbsDiff(unmerged, merged) < 1e-4, `merged differs by ${maxAbsDiff(unmerged, merged)}`);
    lora.unmerge();
    assert.ok(maxAbsDiff(unmerged, model.call(sampleIds())) < 1e-5);
    const weightsAfter = model.namedVariables().map(([, v]) => values(v));
    weightsAfter.forEach((w, i) => w.forEach((v, j) => assert.ok(Math.abs(v - weightsBefore[i]![j]!) < 1e-5)));
  }
});

test("merging an untied group splits the shared weight", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, tiedPlan("untied"), { seed: 4 });
  randomize(lora.trainableVariables(), 11);
  const unmerged = model.call(sampleIds());
  lora.merge();
  const embed = model.findModule("model.embed_tokens") as LoraLayer;
  const head = model.findModule("lm_head") as LoraLayer;
  assert.is.not(embed.base.weight, head.base.weight);
  assert.ok(maxAbsDiff(unmerged, model.call(sampleIds())) < 1e-4);
  lora.unmerge();
  assert.is(embed.base.weight, head.base.weight);
  assert.ok(maxAbsDiff(unmerged, model.call(sampleIds())) < 1e-5);
});

test("merge leaves a tied non-target intact", () => {
  const model = new TinyLM();
  const plan = basicPlan();
  plan.adapters[0]!.targets = [target("model.embed_tokens", "embedding", VOCAB, HIDDEN)];
  const lora = applyPlan(model, plan, { seed: 4 });
  randomize(lora.trainableVariables(), 16);
  const head = model.lm_head;
  const headWeight = values(head.weight);
  const unmerged = model.call(sampleIds());
  lora.merge();
  assert.equal(values(head.weight), headWeight, "lm_head keeps the unmerged tensor");
  assert.ok(maxAbsDiff(unmerged, model.call(sampleIds())) < 1e-4);
  lora.unmerge();
  assert.is((model.findModule("model.embed_tokens") as LoraLayer).base.weight, head.weight, "unmerge ties them again");
});

test("disabling restores the base outputs", () => {
  const model = new TinyLM();
  const base = values(model.call(sampleIds()));
  const lora = applyPlan(model, tiedPlan(), { seed: 6 });
  randomize(lora.trainableVariables(), 12);
  assert.not.equal(values(model.call(sampleIds())), base);
  lora.disableAdapters();
  assert.equal(values(model.call(sampleIds())), base);
  lora.enableAdapters();
  assert.not.equal(values(model.call(sampleIds())), base);
});

test("disabling a merged model unmerges it", () => {
  const model = new TinyLM();
  const base = values(model.call(sampleIds()));
  const lora = applyPlan(model, basicPlan(), { seed: 6 });
  randomize(lora.trainableVariables(), 15);
  lora.merge();
  lora.disableAdapters();
  assert.not.ok(lora.merged);
  values(model.call(sampleIds())).forEach((v, i) => assert.ok(Math.abs(v - base[i]!) < 1e-5, `output ${i}`));
});

test("unload restores the original modules", () => {
  const model = new TinyLM();
  const q = model.findModule("model.layers.0.self_attn.q_proj");
  const base = values(model.call(sampleIds()));
  const lora = applyPlan(model, basicPlan(), { seed: 6 });
  randomize(lora.trainableVariables(), 12);
  lora.merge();
  lora.unload();
  assert.is(model.findModule("model.layers.0.self_attn.q_proj"), q);
  const after = values(model.call(sampleIds()));
  after.forEach((v, i) => assert.ok(Math.abs(v - base[i]!) < 1e-5));
});

test("mergeAndUnload keeps the adapted outputs", () => {
  const model = new TinyLM();
  const lora = applyPlan(model, basicPlan(), { seed: 6 });
  randomize(lora.trainableVariables(), 13);
  const adapted = model.call(sampleIds());
  lora.mergeAndUnload();
  assert.instance(model.findModule("model.layers.0.self_attn.q_proj"), Linear);
  assert.ok(maxAbsDiff(adapted, model.call(sampleIds())) < 1e-4);
});

test("trainableVariables lists adapter variables once", () => {
  const model = new TinyLM();
  const plan = tiedPlan();
  plan.adapters[0]!.modules_to_save = [{ module: "score", parameters: 3 * HIDDEN + 3, tie: null }];
  const lora = applyPlan(model, plan, { seed: 1 });
  const vars = lora.trainableVariables();
  // embed_tokens A, B (shared with lm_head), q_proj A, B, score copy weight, bias
  assert.is(vars.length, 6);
  const baseVars = new Set(model.namedVariables().map(([, v]) => v));
  assert.ok(vars.every((v) => !baseVars.has(v)), "no base variable is trainable");
  const total = vars.reduce((n, v) => n + v.size, 0);
  assert.is(total, 2 * (VOCAB + HIDDEN) + 2 * (HIDDEN + HIDDEN) + 3 * HIDDEN + 3);
});

test("saved module copy trains apart from the original", () => {
  const model = new TinyLM();
  const plan = basicPlan();
  plan.adapters[0]!.modules_to_save = [{ module: "score", parameters: 3 * HIDDEN + 3, tie: null }];
  const base = values(model.classify(sampleIds()));
  const lora = applyPlan(model, plan, { seed: 1 });
  assert.equal(values(model.classify(sampleIds())), base);
  const copy = lora.savedModules.get("score")!.copy as Linear;
  copy.weight.assign(tf.zerosLike(copy.weight));
  assert.not.equal(values(model.classify(sampleIds())), base);
  lora.disableAdapters();
  assert.equal(values(model.classify(sampleIds())), base);
});

test("dropout applies only in training mode", () => {
  const model = new TinyLM();
  const plan = basicPlan();
  for (const t of plan.adapters[0]!.targets) t.dropout = 0.5;
  const lora = applyPlan(model, plan, { seed: 7 });
  randomize(lora.trainableVariables(), 14);
  const first = values(model.call(sampleIds()));
  assert.equal(values(model.call(sampleIds())), first, "eval mode is deterministic");
  model.train();
  const trainingOut = values(model.call(sampleIds()));
  assert.not.equal(trainingOut, first);
  model.eval();
  assert.equal(values(model.call(sampleIds())), first);
});

test("plan for another model is refused, model unchanged", () => {
  const model = new TinyLM();
  const children = model.namedModules().map(([, m]) => m);
  const plan = basicPlan();
  plan.model.fingerprint = "sha256:0000";
  plan.adapters[0]!.targets.push(target("model.layers.0.self_attn.k_proj", "linear", HIDDEN, HIDDEN));
  plan.adapters[0]!.targets[0]!.in_features = 8;
  const err = rejects(() => applyPlan(model, plan), "fingerprint-mismatch");
  assert.ok(err.problems.includes("missing module model.layers.0.self_attn.k_proj"), err.message);
  assert.ok(err.problems.some((p) => p.includes("model.layers.0.self_attn.q_proj has shape 6x6, the plan expects 8x6")), err.message);
  assert.equal(model.namedModules().map(([, m]) => m), children);
});

test("fingerprint mismatch lists graph differences", () => {
  const model = new TinyLM();
  const plan = basicPlan();
  plan.model.fingerprint = "sha256:1111";
  // The plan's graph: no score head, an extra k_proj, and a 99-token lm_head.
  const modules = TINY_GRAPH_MODULES.filter((m) => m.name !== "score" && m.name !== "lm_head");
  modules.push({ name: "model.layers.0.self_attn.k_proj", type: "Linear", in_features: HIDDEN, out_features: HIDDEN });
  modules.push({ name: "lm_head", type: "Linear", in_features: HIDDEN, out_features: 99 });
  const err = rejects(() => applyPlan(model, plan, { graph: { modules } }), "fingerprint-mismatch");
  assert.equal(err.problems.sort(), [
    "extra module score Linear 6x3",
    `missing module model.layers.0.self_attn.k_proj Linear ${HIDDEN}x${HIDDEN}`,
    `module differs: expected lm_head Linear ${HIDDEN}x99, found lm_head Linear ${HIDDEN}x${VOCAB}`,
  ].sort());
});

test("unsupported features are refused before any change", () => {
  const model = new TinyLM();
  const before = model.namedModules().map(([, m]) => m);
  const plan = basicPlan();
  plan.adapters[0]!.use_dora = true;
  plan.adapters[0]!.targets.push({ ...target("model.layers.1.mlp.c_fc", "conv1d", HIDDEN, 2 * HIDDEN) });
  plan.adapters[0]!.tie_groups = [{ id: "x.weight", source: "model.embed_tokens", members: ["lm_head"], mode: "shared_tokens" }];
  const err = rejects(() => applyPlan(model, plan), "plan-not-applicable");
  assert.ok(err.problems.some((p) => p.startsWith("use_dora is true")), err.message);
  assert.ok(err.problems.some((p) => p.includes("kind conv1d is not supported")), err.message);
  assert.ok(err.problems.some((p) => p.includes("shared_tokens")), err.message);
  assert.equal(model.namedModules().map(([, m]) => m), before);
});

test("settings under config are checked", () => {
  const model = new TinyLM();
  const before = model.namedModules().map(([, m]) => m);
  const plan = basicPlan();
  // The compiler writes the spec's settings under config and the token rows under trainable_tokens.
  plan.adapters[0]!["config"] = { r: 2, lora_alpha: 4, use_dora: true, lora_bias: false, bias: "none", init_lora_weights: "loftq" };
  plan.adapters[0]!["trainable_tokens"] = [{ module: "model.embed_tokens", indices: [1, 2], parameters: 2 * HIDDEN, tie: null }];
  const err = rejects(() => applyPlan(model, plan), "plan-not-applicable");
  assert.equal(err.problems, [
    "config.use_dora is true, but the runtime does not implement DoRA",
    'config.init_lora_weights is "loftq", but the runtime implements only true (PEFT\'s default) and "gaussian"',
    "trainable_tokens lists model.embed_tokens (indices 1, 2), but the runtime does not implement trainable tokens",
  ]);
  assert.equal(model.namedModules().map(([, m]) => m), before);
});

test("supported config values apply", () => {
  const plan = basicPlan();
  plan.adapters[0]!["config"] = { use_dora: false, lora_bias: false, bias: "none", init_lora_weights: "Gaussian" };
  plan.adapters[0]!["trainable_tokens"] = [];
  const lora = applyPlan(new TinyLM(), plan, { seed: 1 });
  assert.is(lora.layers.size, 5);
});

test("wrong kind and bad values are all reported", () => {
  const plan = basicPlan();
  plan.adapters[0]!.targets[0]!.kind = "embedding";
  plan.adapters[0]!.targets[1]!.r = 0;
  plan.adapters[0]!.targets[2]!.dropout = 1;
  const err = rejects(() => applyPlan(new TinyLM(), plan), "plan-not-applicable");
  assert.is(err.problems.length, 3, err.message);
});

test("a scaling that does not follow from r and alpha is refused", () => {
  const plan = basicPlan();
  const edited = plan.adapters[0]!.targets[0]!;
  // r edited by hand from 2 to 3, with alpha 4 and the scaling of r 2 (4 / 2 = 2) left in place:
  // 4 / 3 and 4 / sqrt(3) = 2.309... both differ from 2. (r 4 would pass, as 4 / sqrt(4) = 2.)
  edited.r = 3;
  const err = rejects(() => applyPlan(new TinyLM(), plan), "plan-not-applicable");
  assert.is(err.problems.length, 1, err.message);
  assert.match(err.problems[0]!, `${edited.module}: scaling 2 is neither alpha / r (${4 / 3}) nor alpha / sqrt(r) (${4 / Math.sqrt(3)})`);
});

test("applying twice is refused", () => {
  const model = new TinyLM();
  const plan = basicPlan();
  plan.adapters[0]!.modules_to_save = [{ module: "score", parameters: 3 * HIDDEN + 3, tie: null }];
  applyPlan(model, plan, { seed: 1 });
  const err = rejects(() => applyPlan(model, plan, { seed: 1 }), "plan-not-applicable");
  assert.is(err.problems.length, 6, err.message);
  assert.ok(err.problems.every((p) => p.endsWith("is already adapted; unload the applied plan before applying another")), err.message);
});

test("plan file is named in errors", () => {
  const plan = basicPlan();
  plan.model.fingerprint = "sha256:2222";
  const err = rejects(() => applyPlan(new TinyLM(), plan, { planFile: "plans/tiny.json" }), "fingerprint-mismatch");
  assert.is(err.diagnostic.file, "plans/tiny.json");
});

test("other formats and several adapters are refused", () => {
  rejects(() => applyPlan(new TinyLM(), { ...basicPlan(), format: "peftc-plan/2" } as unknown as Plan), "plan-format");
  const plan = basicPlan();
  plan.adapters.push({ ...plan.adapters[0]!, name: "second" });
  rejects(() => applyPlan(new TinyLM(), plan), "runtime-unsupported");
});

test.run();

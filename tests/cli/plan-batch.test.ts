/** `peftc plan SPEC... --write | --verify`: several specs in one run, each plan beside its spec. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { planPathBeside } from "../../compiler/cli/plan-batch.js";
import { runCli } from "./run.js";

const examples = new URL("../../examples/", import.meta.url).pathname;
const llama = join(examples, "llama-3.2-3b");
const llamaSpec = readFileSync(join(llama, "spec.yaml"), "utf8");
const llamaPlan = readFileSync(join(llama, "spec.plan.json"), "utf8");

/** Creates a scratch directory with two specs for the Llama example's model: the example's and one at r=8. */
function twoSpecs(): { dir: string; a: string; b: string } {
  const dir = mkdtempSync(join(tmpdir(), "peftc-batch-"));
  const model = `model: ${join(llama, "model")}`;
  const a = join(dir, "a.yaml");
  const b = join(dir, "b.peftc.yaml");
  writeFileSync(a, llamaSpec.replace("model: model", model));
  writeFileSync(b, llamaSpec.replace("model: model", model).replace("r: 16", "r: 8"));
  return { dir, a, b };
}

test("planPathBeside drops extension and .peftc", () => {
  assert.is(planPathBeside(join("configs", "lora.yaml")), join("configs", "lora.plan.json"));
  assert.is(planPathBeside(join("configs", "lora.peftc.yaml")), join("configs", "lora.plan.json"));
  assert.is(planPathBeside("lora.yml"), "lora.plan.json");
  assert.is(planPathBeside(join("gpt2", "adapter_config.json")), join("gpt2", "adapter_config.plan.json"));
  assert.is(planPathBeside("spec"), "spec.plan.json");
});

test("--write: plans equal single-spec runs", async () => {
  const { dir, a, b } = twoSpecs();
  const run = await runCli(["plan", a, b, "--write"]);
  assert.is(run.code, 0, run.stderr);
  assert.is(run.stdout, "");
  // a.yaml is the example's spec with an absolute model path, so its plan is the committed one.
  assert.is(readFileSync(join(dir, "a.plan.json"), "utf8"), llamaPlan);
  // b was compiled on the model import that a used. Alone it must give the same plan.
  const alone = await runCli(["plan", b]);
  assert.is(alone.code, 0, alone.stderr);
  assert.is(readFileSync(join(dir, "b.plan.json"), "utf8"), alone.stdout);
  assert.match(run.stderr, `[1/2] wrote ${join(dir, "a.plan.json")}`);
  assert.match(run.stderr, `[2/2] wrote ${join(dir, "b.plan.json")}`);
  assert.ok(run.stderr.endsWith("2 plans written, 0 failed\n"), run.stderr);
  rmSync(dir, { recursive: true });
});

test("--verify: up to date, stale, missing", async () => {
  const { dir, a, b } = twoSpecs();
  assert.is((await runCli(["plan", a, b, "--write", "-q"])).code, 0);

  // A committed plan in another layout is read and compared by content.
  const aPlan = join(dir, "a.plan.json");
  writeFileSync(aPlan, JSON.stringify(JSON.parse(readFileSync(aPlan, "utf8")), null, 4));

  // The other order: b now compiles first on the shared import.
  const clean = await runCli(["plan", b, a, "--verify"]);
  assert.is(clean.code, 0, clean.stderr);
  assert.ok(clean.stderr.endsWith("2 plans up to date, 0 stale, 0 missing, 0 failed\n"), clean.stderr);

  writeFileSync(b, readFileSync(b, "utf8").replace("r: 8", "r: 4"));
  rmSync(join(dir, "a.plan.json"));
  const stale = await runCli(["plan", a, b, "--verify"]);
  assert.is(stale.code, 2, stale.stderr);
  assert.match(stale.stdout, `${join(dir, "a.plan.json")} is missing`);
  assert.match(stale.stdout, `${join(dir, "b.plan.json")} is stale:`);
  // All 114 targets change rank: the embedding, 112 attention projections and lm_head. Trainable
  // parameters scale with r: 11,276,288 at r=16 (the plan test's hand count) is 5,638,144 at r=8
  // and 2,819,072 at r=4.
  assert.match(stale.stdout, "114 changed");
  assert.match(stale.stdout, "trainable 5.6M → 2.8M");
  assert.match(stale.stderr, `[1/2] ${a}: ${join(dir, "a.plan.json")} is missing\n`);
  assert.match(stale.stderr, "0 plans up to date, 1 stale, 1 missing, 0 failed\n");
  assert.ok(stale.stderr.endsWith("run the same command with --write in place of --verify, and commit the result\n"), stale.stderr);
  // --verify writes nothing.
  assert.not.ok(existsSync(join(dir, "a.plan.json")));

  // -q keeps the stale plan's line and the totals, and drops the line of the plan that is up to date.
  assert.is((await runCli(["plan", a, "--write", "-q"])).code, 0);
  const quiet = await runCli(["plan", a, b, "--verify", "-q"]);
  assert.is(quiet.code, 2);
  assert.ok(quiet.stderr.startsWith(`[2/2] ${b}: ${join(dir, "b.plan.json")} is stale\n1 plan up to date, 1 stale, 0 missing, 0 failed\n`), quiet.stderr);
  rmSync(dir, { recursive: true });
});

test("--write: failing spec keeps old plan", async () => {
  const { dir, a, b } = twoSpecs();
  writeFileSync(join(dir, "b.plan.json"), "previous plan\n");
  writeFileSync(b, readFileSync(b, "utf8").replace("lora_alpha:", "lora_alpah:"));
  const run = await runCli(["plan", b, a, "--write"]);
  assert.is(run.code, 1);
  // The misspelled key is on line 7, column 1, of the example spec.
  assert.match(run.stderr, `${b}:7:1: error[unknown-field]: unknown field \`lora_alpah\``);
  assert.match(run.stderr, `${b}: failed`);
  assert.ok(run.stderr.endsWith("1 plan written, 1 failed\n"), run.stderr);
  assert.is(readFileSync(join(dir, "a.plan.json"), "utf8"), llamaPlan);
  assert.is(readFileSync(join(dir, "b.plan.json"), "utf8"), "previous plan\n");
  rmSync(dir, { recursive: true });
});

test("--write: model load failure reported once", async () => {
  const { dir, a, b } = twoSpecs();
  // Without `model:`, both specs take the model from --model.
  for (const spec of [a, b]) writeFileSync(spec, readFileSync(spec, "utf8").replace(/^model: .*$/m, ""));
  const missing = join(dir, "no-such-model");
  const run = await runCli(["plan", a, b, "--write", "--model", missing]);
  assert.is(run.code, 1);
  assert.is(run.stderr.split("\n").filter((line) => line.includes("error[")).length, 1, run.stderr);
  assert.match(run.stderr, `${missing}: error[model-not-found]`);
  assert.match(run.stderr, `${b}: failed (its model ${missing} did not load, see above)`);
  assert.ok(run.stderr.endsWith("0 plans written, 2 failed\n"), run.stderr);
  assert.not.ok(existsSync(join(dir, "a.plan.json")));
  rmSync(dir, { recursive: true });
});

test("--write: --model only for specs without model:", async () => {
  const { dir, a } = twoSpecs();
  const gpt2 = join(examples, "gpt2");
  const adapter = join(dir, "gpt2", "adapter_config.json");
  mkdirSync(join(dir, "gpt2"));
  writeFileSync(adapter, readFileSync(join(gpt2, "adapter_config.json")));
  const run = await runCli(["plan", a, adapter, "--write", "--model", join(gpt2, "model")]);
  assert.is(run.code, 0, run.stderr);
  // a.yaml keeps its Llama model, and the PEFT file, which names no model, gets GPT-2.
  assert.is(readFileSync(join(dir, "a.plan.json"), "utf8"), llamaPlan);
  assert.is(readFileSync(join(dir, "gpt2", "adapter_config.plan.json"), "utf8"), readFileSync(join(gpt2, "adapter_config.plan.json"), "utf8"));
  rmSync(dir, { recursive: true });
});

test("--write and --verify: usage errors", async () => {
  const { dir, a, b } = twoSpecs();
  const cases: Array<[string[], string]> = [
    [["plan", a, b], "expected one SPEC argument, got 2; to compile several specs, add --write or --verify"],
    [["plan", a, "--write", "--verify"], "--write and --verify cannot be combined"],
    [["plan", a, "--write", "-o", join(dir, "x.json")], "--write keeps each plan beside its spec, so it cannot be combined with -o"],
    [["plan", a, "--verify", "--check", join(dir, "x.json")], "--verify keeps each plan beside its spec, so it cannot be combined with --check"],
    [["plan", a, "--write", "--format", "yaml"], "--write keeps plans as canonical JSON, so it cannot be combined with --format yaml"],
    [["plan", "--verify"], "--verify needs at least one SPEC"],
    [["plan", a, join(dir, "a.json"), "--write"], `${a} and ${join(dir, "a.json")} would both use ${join(dir, "a.plan.json")}; rename one of them`],
  ];

  for (const [args, message] of cases) {
    const run = await runCli(args);
    assert.is(run.code, 1, args.join(" "));
    assert.match(run.stderr, `error[usage]: ${message}`);
  }
  // Nothing was written by any of them.
  assert.not.ok(existsSync(join(dir, "a.plan.json")));

  // A spec named twice (overlapping globs) runs once.
  const twice = await runCli(["plan", a, a, "--write"]);
  assert.is(twice.code, 0, twice.stderr);
  assert.ok(twice.stderr.endsWith("1 plan written, 0 failed\n"), twice.stderr);

  // A glob such as dir/* also matches the plans. They are skipped, and the count line reports it.
  const plan = join(dir, "a.plan.json");
  const before = readFileSync(plan, "utf8");
  const glob = await runCli(["plan", a, plan, "--verify"]);
  assert.is(glob.code, 0, glob.stderr);
  assert.ok(glob.stderr.endsWith("1 plan up to date, 0 stale, 0 missing, 0 failed (1 .plan.json file skipped: plans are not specs)\n"), glob.stderr);
  assert.is(readFileSync(plan, "utf8"), before);

  const onlyPlans = await runCli(["plan", plan, "--write"]);
  assert.is(onlyPlans.code, 1);
  assert.match(onlyPlans.stderr, "error[usage]: --write needs at least one SPEC (.plan.json files are plans, and skipped)");
  rmSync(dir, { recursive: true });
});

test.run();

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createDiffCommand, diffCommand, type PlanSources } from "../../compiler/cli/diff-command.js";
import type { CliIo } from "../../compiler/cli/io.js";
import { PeftcError, type Diagnostic } from "../../compiler/errors.js";
import type { PlanDiff } from "../../compiler/diff/types.js";
import type { Plan } from "../../compiler/plan/types.js";
import { layeredAdapter, plan } from "./plans.js";

interface Captured {
  io: CliIo;
  stdout: () => string;
  stderr: () => string;
}

function captureIo(cwd: string, options: { tty?: boolean; env?: Record<string, string> } = {}): Captured {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: { write: (s: string) => (out += s), isTTY: options.tty ?? false },
      stderr: { write: (s: string) => (err += s) },
      env: options.env ?? {},
      cwd,
    },
    stdout: () => out,
    stderr: () => err,
  };
}

/** Reads plan files as JSON and compiles a "spec" by looking its plan up by file name. */
function fakeSources(specs: Record<string, { plan: Plan; diagnostics: Diagnostic[] }> = {}) {
  const compiled: { path: string; model: string | undefined }[] = [];
  const sources: PlanSources = {
    loadPlan: (path, { cwd }) => JSON.parse(readFileSync(resolve(cwd, path), "utf8")) as Plan,
    compileSpecFile: (path, options) => {
      compiled.push({ path, model: options.model });
      const name = path.split(/[\\/]/).pop()!;
      const result = specs[name];
      if (result === undefined) throw new Error(`test has no spec named ${name}`);
      return result;
    },
  };
  return { sources, compiled };
}

const dir = mkdtempSync(join(tmpdir(), "peftc-diff-"));
const r8 = plan([layeredAdapter({ r: 8 })]);
const r16 = plan([layeredAdapter({ r: 16 })]);
writeFileSync(join(dir, "r8.plan.json"), JSON.stringify(r8, null, 2));
writeFileSync(join(dir, "r8-copy.plan.json"), JSON.stringify(r8, null, 2));
writeFileSync(join(dir, "r16.plan.json"), JSON.stringify(r16, null, 2));
writeFileSync(join(dir, "old.yaml"), "r: 8\n");
writeFileSync(join(dir, "new.yaml"), "r: 16\n");

test("identical plans exit 0 with one line", async () => {
  const { sources } = fakeSources();
  const run = captureIo(dir);
  const code = await createDiffCommand(sources).run(["r8.plan.json", "r8-copy.plan.json"], run.io);
  assert.is(code, 0);
  assert.is(run.stdout(), "no changes\n");
  assert.is(run.stderr(), "");
});

test("changed plans exit 2", async () => {
  const { sources } = fakeSources();
  const run = captureIo(dir);
  const code = await createDiffCommand(sources).run(["r8.plan.json", "r16.plan.json"], run.io);
  assert.is(code, 2);
  assert.is(run.stdout().split("\n")[0], "+0 targets · 44 changed · −0 removed · trainable +1.4M (+0.13%)");
});

test("terminal gets colour unless NO_COLOR", async () => {
  const { sources } = fakeSources();
  const command = createDiffCommand(sources);
  const tty = captureIo(dir, { tty: true });
  await command.run(["r8.plan.json", "r16.plan.json"], tty.io);
  assert.match(tty.stdout(), "\u001b[");

  const noColor = captureIo(dir, { tty: true, env: { NO_COLOR: "1" } });
  await command.run(["r8.plan.json", "r16.plan.json"], noColor.io);
  assert.not.match(noColor.stdout(), "\u001b[");
  assert.is(noColor.stdout(), tty.stdout().replace(/\u001b\[[0-9;]*m/g, ""));

  const markdown = captureIo(dir, { tty: true });
  await command.run(["r8.plan.json", "r16.plan.json", "--format", "markdown"], markdown.io);
  assert.not.match(markdown.stdout(), "\u001b[");
});

test("json format prints the diff document", async () => {
  const { sources } = fakeSources();
  const run = captureIo(dir);
  const code = await createDiffCommand(sources).run(["--format", "json", "r8.plan.json", "r16.plan.json"], run.io);
  assert.is(code, 2);
  const json = JSON.parse(run.stdout()) as { format: string; summary: { targets_changed: number } };
  assert.is(json.format, "peftc-diff/1");
  assert.is(json.summary.targets_changed, 44);
});

test("specs are compiled against --model", async () => {
  const { sources, compiled } = fakeSources({ "old.yaml": { plan: r8, diagnostics: [] }, "new.yaml": { plan: r16, diagnostics: [] } });
  const run = captureIo(dir);
  const code = await createDiffCommand(sources).run(["old.yaml", "new.yaml", "--model", "graph.json"], run.io);
  assert.is(code, 2);
  assert.equal(
    compiled.map((c) => [c.path.split(/[\\/]/).pop(), c.model?.split(/[\\/]/).pop()]),
    [
      ["old.yaml", "graph.json"],
      ["new.yaml", "graph.json"],
    ],
  );
});

test("a plan and a spec can be compared", async () => {
  const { sources, compiled } = fakeSources({ "new.yaml": { plan: r8, diagnostics: [] } });
  const run = captureIo(dir);
  const code = await createDiffCommand(sources).run(["r8.plan.json", "new.yaml"], run.io);
  assert.is(code, 0);
  assert.is(compiled.length, 1);
});

test("spec errors exit 1", async () => {
  const error: Diagnostic = { severity: "error", code: "no-target-match", message: "target_modules matched no module", file: "new.yaml", line: 3, col: 1 };
  const { sources } = fakeSources({ "new.yaml": { plan: r16, diagnostics: [error] } });
  const run = captureIo(dir);
  const code = await createDiffCommand(sources).run(["r8.plan.json", "new.yaml"], run.io);
  assert.is(code, 1);
  assert.is(run.stdout(), "");
  assert.is(run.stderr(), "new.yaml:3:1: error[no-target-match]: target_modules matched no module\n");
});

async function rejection(promise: Promise<unknown>): Promise<PeftcError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PeftcError) return err;
    throw err;
  }
  throw new Error("expected a PeftcError");
}

test("usage mistakes are PeftcErrors", async () => {
  const command = createDiffCommand(fakeSources().sources);
  const one = await rejection(command.run(["r8.plan.json"], captureIo(dir).io));
  assert.is(one.diagnostic.code, "usage");
  const format = await rejection(command.run(["r8.plan.json", "r16.plan.json", "--format", "html"], captureIo(dir).io));
  assert.is(format.diagnostic.code, "usage");
  assert.match(format.message, "invalid --format 'html'");
  const missing = await rejection(command.run(["r8.plan.json", "absent.plan.json"], captureIo(dir).io));
  assert.is(missing.diagnostic.code, "file-not-found");
  assert.is(missing.diagnostic.file, "absent.plan.json");
});

test("diffCommand loads and validates plan files", async () => {
  const same = captureIo(dir);
  assert.is(await diffCommand.run(["r8.plan.json", "r8-copy.plan.json"], same.io), 0);
  assert.is(same.stdout(), "no changes\n");

  const changed = captureIo(dir);
  assert.is(await diffCommand.run(["r8.plan.json", "r16.plan.json", "--format", "markdown"], changed.io), 2);
  assert.is(changed.stdout().split("\n")[0], "+0 targets · 44 changed · −0 removed · trainable +1.4M (+0.13%)");

  const invalid = { ...r8, adapters: [{ ...r8.adapters[0], targets: "all" }] };
  writeFileSync(join(dir, "invalid.plan.json"), JSON.stringify(invalid, null, 2));
  const error = await rejection(diffCommand.run(["r8.plan.json", "invalid.plan.json"], captureIo(dir).io));
  assert.is(error.diagnostic.code, "plan-invalid");
  assert.is(error.diagnostic.file, "invalid.plan.json");
});

/** A tied llama-style graph: 4 layers of 64×64 attention projections, a 1000×64 embedding and lm_head. */
function tinyLlamaGraph(): object {
  const modules: object[] = [{ name: "model.embed_tokens", type: "Embedding", num_embeddings: 1000, embedding_dim: 64 }];
  for (let layer = 0; layer < 4; layer++) {
    for (const projection of ["q_proj", "k_proj", "v_proj", "o_proj"]) {
      modules.push({ name: `model.layers.${layer}.self_attn.${projection}`, type: "Linear", in_features: 64, out_features: 64, bias: false });
    }
  }
  modules.push({ name: "lm_head", type: "Linear", in_features: 64, out_features: 1000, bias: false });
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

test("two specs compiled against one model", async () => {
  writeFileSync(join(dir, "graph.json"), JSON.stringify(tinyLlamaGraph()));
  writeFileSync(join(dir, "qv.yaml"), "r: 8\nlora_alpha: 16\ntarget_modules: [q_proj, v_proj]\n");
  writeFileSync(join(dir, "qvo.yaml"), "r: 16\nlora_alpha: 16\ntarget_modules: [q_proj, v_proj, o_proj]\n");
  const run = captureIo(dir);
  const code = await diffCommand.run(["qv.yaml", "qvo.yaml", "--model", "graph.json", "--format", "json"], run.io);
  assert.is(code, 2, run.stderr());
  const diff = JSON.parse(run.stdout()) as PlanDiff;
  const adapter = diff.adapters[0]!;
  assert.equal(adapter.targets_added, [0, 1, 2, 3].map((i) => `model.layers.${i}.self_attn.o_proj`));
  assert.equal(
    adapter.target_changes.map((c) => [c.field, c.from, c.to, c.modules.length]),
    [
      ["r", 8, 16, 8],
      ["scaling", 2, 1, 8],
    ],
  );
  // Old: 8 targets · 8·(64+64) = 8,192. New: 12 targets · 16·(64+64) = 24,576. The model has
  // 1000·64 + 16·64·64 = 129,536 parameters, lm_head's tied weight counted once.
  assert.equal(diff.summary.trainable_parameters, { from: 8192, to: 24_576, delta: 16_384, percent_of_model: (16_384 / 129_536) * 100 });

  const same = captureIo(dir);
  assert.is(await diffCommand.run(["qv.yaml", "qv.yaml", "--model", "graph.json"], same.io), 0);
  assert.is(same.stdout(), "no changes\n");
});

test("help prints usage and exits 0", async () => {
  const run = captureIo(dir);
  const code = await createDiffCommand(fakeSources().sources).run(["--help"], run.io);
  assert.is(code, 0);
  assert.match(run.stdout(), "Usage: peftc diff OLD NEW");
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

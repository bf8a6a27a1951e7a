/**
 * Property-based runs of `peftc plan` on generated specs, graphs and safetensors headers. For every
 * input the exit code is 0 or 1, and nothing is thrown past `main`. A written plan passes the plan
 * checks. An error is exactly one line `location: error[code]: message` naming the file at fault,
 * and after an error no plan and no temp file exists. Run counts and seeds are fixed, so CI time and inputs are the same on every run.
 */
import fc from "fast-check";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { stringify } from "yaml";
import { loadPlan } from "../../compiler/plan/validate.js";
import { loraFields } from "../../compiler/spec/fields.js";
import { runCli } from "../cli/run.js";
import { reportCounts, safetensorsBytes, scratch, smallGraph, tempFiles, writeSmallGraph } from "./helpers.js";

const SEED = 20_261_204;
const ERROR_LINE = /^(?<location>[^\n]*?: )?error\[(?<code>[a-z0-9-]+)\]: [^\n]+\n$/;

interface Outcome {
  code: number;
  /** The diagnostic code of an error. */
  error?: string;
}

let runs = 0;

/** Runs `peftc plan SPEC --model MODEL -o OUT` and checks the contract that holds for every input. */
async function planOnce(dir: string, spec: string, model: string, faultFiles: string[]): Promise<Outcome> {
  const out = join(dir, `plan-${runs++}.json`);
  const run = await runCli(["plan", spec, "--model", model, "-o", out, "-q"]);
  assert.ok(run.code === 0 || run.code === 1, `exit code ${run.code}: ${run.stderr}`);
  assert.equal(tempFiles(dir), [], "no temp file is left");
  if (run.code === 0) {
    assert.ok(existsSync(out), "a successful run writes the plan");
    // The compiler does not check its own output; reading it back does.
    loadPlan(out);
    rmSync(out);
    return { code: 0 };
  }
  const match = ERROR_LINE.exec(run.stderr);
  assert.ok(match !== null, `one error line: ${JSON.stringify(run.stderr)}`);
  const location = match!.groups!["location"] ?? "";
  assert.ok(faultFiles.some((file) => location.startsWith(file)), `the error names one of ${faultFiles.join(", ")}: ${run.stderr}`);
  assert.not.ok(existsSync(out), "no plan after an error");
  return { code: 1, error: match!.groups!["code"]! };
}

/** Tallies inputs of one class: how many were tried and accepted, and the error codes of the rest. */
class Tally {
  readonly counts: Record<string, number> = {};
  readonly errors: Record<string, number> = {};

  add(kind: string, outcome: Outcome): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (outcome.code === 0) this.counts[`${kind} accepted`] = (this.counts[`${kind} accepted`] ?? 0) + 1;
    else this.errors[outcome.error!] = (this.errors[outcome.error!] ?? 0) + 1;
  }

  report(suite: string): void {
    reportCounts(suite, this.counts);
    reportCounts("  errors by code:", this.errors);
  }
}

// Values that break type checks: wrong types, NaN, infinities, -0, huge and fractional numbers,
// prototype names, and nested containers.
const hostileScalar = fc.oneof(
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0, -1, 0.5, 1e308, 2 ** 53 + 1, "", "__proto__", "constructor", "prototype", "all-linear", "(a+)+$", null, true),
  fc.integer({ min: -5, max: 64 }),
  fc.double(),
  fc.string({ maxLength: 12 }),
);
const hostileValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, hostileScalar, fc.array(tie("value"), { maxLength: 4 }), tie("map")),
  map: fc.dictionary(fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "q_proj", "glob", "model.embed_tokens"), fc.string({ maxLength: 8 })), tie("value"), { maxKeys: 3 }),
})).value;
const fieldName = fc.oneof(fc.constantFrom(...loraFields(), "adapters", "model", "__proto__", "constructor", "lora_aplha"), fc.string({ maxLength: 10 }));

/** A spec as a mapping of fields; most start from a valid one so that checks past the schema run too. */
const structuredSpec = fc.tuple(fc.dictionary(fieldName, hostileValue, { maxKeys: 4 }), fc.boolean()).map(([fields, valid]) =>
  valid ? { target_modules: ["q_proj"], r: 8, ...fields } : fields,
);

/** YAML text: random text, or a valid spec with a random edit at a random place. */
const VALID_SPEC = "target_modules: [q_proj, v_proj]\nr: 8\nlora_alpha: 16\nlayers_to_transform: [0]\nrank_pattern:\n  q_proj: 4\n";
const textSpec = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.tuple(fc.nat({ max: VALID_SPEC.length }), fc.nat({ max: 20 }), fc.string({ maxLength: 12 })).map(
    ([at, cut, insert]) => VALID_SPEC.slice(0, at) + insert + VALID_SPEC.slice(Math.min(VALID_SPEC.length, at + cut)),
  ),
  fc.constantFrom("&a [q_proj]\n", "target_modules: *nope\n", "? [a]\n: 1\n", "--- \n--- \n", "%YAML 9.9\n---\nr: 8\n", "r: !!binary aGVsbG8=\n"),
);

test("random specs", async () => {
  const dir = scratch("prop-spec");
  const graph = writeSmallGraph(dir);
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fc.oneof(textSpec.map((text) => ["yaml text", text] as const), structuredSpec.map((doc) => ["structured", doc] as const)), async ([kind, input]) => {
      const spec = join(dir, kind === "structured" && runs % 2 === 0 ? "spec.json" : "spec.yaml");
      writeFileSync(spec, typeof input === "string" ? input : spec.endsWith(".json") ? JSON.stringify(input) : stringify(input));
      tally.add(kind, await planOnce(dir, spec, graph, [spec]));
    }),
    { seed: SEED, numRuns: 600 },
  );
  assert.is(({} as Record<string, unknown>)["r"], undefined, "Object.prototype is untouched");
  assert.is(({} as Record<string, unknown>)["polluted"], undefined);
  tally.report("specs tried:");
});

const MODULE_TYPES = ["Linear", "Embedding", "Conv1d", "Conv2d", "Conv3d", "Conv1D", "MultiheadAttention", "LayerNorm", "ModuleList", "Module", "Weird"];
// Mostly well-formed parts, so that generated inputs also reach the checks after the schema.
const segment = fc.oneof(
  { arbitrary: fc.constantFrom("model", "layers", "0", "1", "q_proj", "v_proj", "lm_head", "embed_tokens", "mlp", "__proto__", "constructor"), weight: 8 },
  { arbitrary: fc.constantFrom("", " ", "*", "[0]"), weight: 1 },
  { arbitrary: fc.string({ maxLength: 5 }), weight: 1 },
);
const size = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 64 }), weight: 8 }, { arbitrary: fc.constantFrom(-1, 0.5, 1e300, 2 ** 53, null, "8"), weight: 1 });
const graphModule = fc.record(
  {
    name: fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join(".")),
    type: fc.oneof({ arbitrary: fc.constantFrom(...MODULE_TYPES), weight: 8 }, { arbitrary: fc.string({ maxLength: 6 }), weight: 1 }),
    in_features: size,
    out_features: size,
    num_embeddings: size,
    embedding_dim: size,
    bias: fc.oneof({ arbitrary: fc.boolean(), weight: 8 }, { arbitrary: hostileScalar, weight: 1 }),
  },
  { requiredKeys: ["name", "type"] },
).chain((module) =>
  // Four modules in five keep only the fields of their type, as a valid graph has them.
  fc.nat({ max: 4 }).map((n) => {
    if (n === 0) return module;
    const fields: Record<string, string[]> = { Linear: ["in_features", "out_features", "bias"], Conv1D: ["in_features", "out_features", "bias"], Embedding: ["num_embeddings", "embedding_dim"] };
    const keep = new Set(["name", "type", ...(fields[module.type] ?? [])]);
    return Object.fromEntries(Object.entries(module).filter(([key]) => keep.has(key)));
  }),
);

/** A peftc-graph/1 document built around the small graph, with random modules and fields. */
const structuredGraph = fc
  .record({
    extra: fc.array(graphModule, { maxLength: 6 }),
    dropModules: fc.boolean(),
    tied: fc.oneof(fc.constant(undefined), fc.constant(undefined), fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), { maxKeys: 2 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 2 }), hostileScalar),
    inputEmbeddings: fc.oneof({ arbitrary: fc.constant("model.embed_tokens"), weight: 4 }, { arbitrary: fc.string({ maxLength: 10 }), weight: 1 }, { arbitrary: hostileScalar, weight: 1 }),
    topField: fc.tuple(fc.constantFrom("format", "model_type", "config", "modules", "architectures", "__proto__", "extra"), hostileValue),
    // One graph in four gets a hostile value in a top-level field.
    mutate: fc.nat({ max: 3 }).map((n) => n === 0),
  })
  .map(({ extra, dropModules, tied, inputEmbeddings, topField, mutate }) => {
    const graph = smallGraph();
    graph["modules"] = [...(dropModules ? [] : (graph["modules"] as unknown[])), ...extra];
    if (tied !== undefined) graph["tied_weights_keys"] = tied;
    graph["input_embeddings"] = inputEmbeddings;
    if (mutate) graph[topField[0]] = topField[1];
    return graph;
  });

test("random graphs", async () => {
  const dir = scratch("prop-graph");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: [q_proj, embed_tokens, lm_head]\nensure_weight_tying: true\n");
  const all = join(dir, "all-linear.yaml");
  writeFileSync(all, "target_modules: all-linear\n");
  const path = join(dir, "graph.json");
  const tally = new Tally();
  const input = fc.oneof(
    structuredGraph.map((graph) => ["structured", JSON.stringify(graph, null, 1)] as const),
    fc.tuple(structuredGraph, fc.nat(), fc.string({ maxLength: 3 })).map(([graph, at, insert]) => {
      const text = JSON.stringify(graph);
      const cut = at % (text.length + 1);
      return ["text edit", text.slice(0, cut) + insert + text.slice(cut + 1)] as const;
    }),
  );
  await fc.assert(
    fc.asyncProperty(input, fc.boolean(), async ([kind, text], allLinear) => {
      writeFileSync(path, text);
      const specFile = allLinear ? all : spec;
      tally.add(kind, await planOnce(dir, specFile, path, [path, specFile]));
    }),
    { seed: SEED, numRuns: 400 },
  );
  tally.report("graphs tried:");
});

const DTYPES = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F4", "F33", ""];
const tensorEntry = fc.record({
  dtype: fc.oneof(fc.constantFrom(...DTYPES), hostileScalar),
  shape: fc.oneof(fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(-1, 0.5, 2 ** 60)), { maxLength: 3 }), hostileScalar),
  data_offsets: fc.oneof(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })), fc.array(fc.integer({ min: -5, max: 300 }), { maxLength: 3 }), hostileScalar),
});
const tensorName = fc.oneof(
  fc.constantFrom("model.layers.0.self_attn.q_proj.weight", "model.embed_tokens.weight", "lm_head.weight", "__metadata__", "__proto__", "a..weight", ".weight", "weight"),
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `${parts.join(".")}.weight`),
);

const VALID_DTYPES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, U8: 1, BOOL: 1 };

/**
 * A header whose offsets follow from each tensor's dtype and shape, laid out back to back, with one
 * optional fault: a tensor moved onto its neighbour, or a data area cut short.
 */
const consistentHeader = fc
  .tuple(
    fc.uniqueArray(fc.tuple(tensorName, fc.constantFrom(...Object.keys(VALID_DTYPES)), fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 3 })), { maxLength: 5, selector: ([name]) => name }),
    fc.constantFrom("none", "none", "overlap", "short"),
  )
  .map(([tensors, fault]) => {
    const header: Record<string, unknown> = {};
    let end = 0;
    for (const [name, dtype, shape] of tensors) {
      const bytes = shape.reduce((n, d) => n * d, 1) * VALID_DTYPES[dtype]!;
      header[name] = { dtype, shape, data_offsets: [end, end + bytes] };
      end += bytes;
    }
    const entries = Object.values(header) as Array<{ data_offsets: number[] }>;
    if (fault === "overlap" && entries.length > 1 && entries[1]!.data_offsets[0]! > 0) {
      entries[1]!.data_offsets = entries[1]!.data_offsets.map((o) => o - 1);
    }
    return ["consistent", safetensorsBytes(header, { dataBytes: fault === "short" ? Math.max(0, end - 1) : end })] as const;
  });

/** Header bytes: consistent, structured with random data size, or with a random byte-level fault. */
const headerBytes = fc.oneof(
  consistentHeader,
  fc.tuple(fc.dictionary(tensorName, tensorEntry, { maxKeys: 4 }), fc.integer({ min: 0, max: 320 })).map(
    ([header, dataBytes]) => ["structured", safetensorsBytes(header, { dataBytes })] as const,
  ),
  fc.tuple(fc.dictionary(tensorName, tensorEntry, { maxKeys: 3 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat({ max: 400 })).map(
    ([header, length, keep]) => ["bad length or cut", safetensorsBytes(header, { length, dataBytes: 64 }).subarray(0, keep)] as const,
  ),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ["random bytes", Buffer.from(bytes)] as const),
);

test("random safetensors headers", async () => {
  const dir = scratch("prop-st");
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, "target_modules: all-linear\n");
  const file = join(dir, "model.safetensors");
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(headerBytes, async ([kind, bytes]) => {
      writeFileSync(file, bytes);
      tally.add(kind, await planOnce(dir, spec, file, [file, spec]));
    }),
    { seed: SEED, numRuns: 400 },
  );
  tally.report("safetensors headers tried:");
});

test.run();

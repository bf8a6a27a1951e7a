import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PeftcError } from "../../compiler/errors.js";
import { loadGraph, loadGraphWithStats } from "../../compiler/import/index.js";
import { readSafetensorsHeader } from "../../compiler/import/safetensors.js";

// Fixtures are written by tests/fixtures/safetensors/make_fixtures.py, an independent writer.
const fixtures = fileURLToPath(new URL("../fixtures/safetensors/", import.meta.url));
const expected = JSON.parse(readFileSync(`${fixtures}valid/expected.json`, "utf8")) as Record<
  string,
  Record<string, { dtype: string; shape: number[] }>
>;

function errorCode(fn: () => unknown): { code: string; message: string; file: string | undefined } {
  try {
    fn();
  } catch (err) {
    assert.instance(err, PeftcError);
    const d = (err as PeftcError).diagnostic;
    return { code: d.code, message: d.message, file: d.file };
  }
  throw new assert.Assertion({ message: "expected a PeftcError", operator: "throws", expects: true, actual: false });
}

for (const [file, tensors] of Object.entries(expected)) {
  test(`header of ${file} matches the writer`, () => {
    const header = readSafetensorsHeader(`${fixtures}valid/${file}`);
    assert.equal([...header.tensors.keys()].sort(), Object.keys(tensors).sort());
    for (const [name, info] of Object.entries(tensors)) {
      assert.equal(header.tensors.get(name), info, name);
    }
  });
}

test("header metadata is returned", () => {
  const header = readSafetensorsHeader(`${fixtures}valid/small.safetensors`);
  assert.equal(header.metadata, { format: "pt" });
});

test("only the header bytes are read", () => {
  const path = `${fixtures}valid/small.safetensors`;
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = readSafetensorsHeader(path);
  assert.is(header.bytesRead, 8 + headerLength);
  assert.ok(header.bytesRead < statSync(path).size);
});

const corrupt: Array<[string, RegExp]> = [
  ["bad-length", /past the end of the file/],
  ["huge-length", /over the 100000000-byte limit/],
  ["too-short", /shorter than the 8-byte header length/],
  ["truncated", /past the end of the file|truncated/],
  ["not-json", /not valid JSON/],
  ["not-object", /not an object/],
  ["overlapping", /overlapping data_offsets/],
  ["out-of-range", /past the end of the data area/],
  ["size-mismatch", /needs 12/],
  ["bad-dtype", /unknown dtype "F33"/],
  ["bad-shape", /non-negative integers/],
];

for (const [name, pattern] of corrupt) {
  test(`corrupt file ${name} is rejected`, () => {
    const path = `${fixtures}corrupt/${name}.safetensors`;
    const error = errorCode(() => readSafetensorsHeader(path));
    assert.is(error.code, "invalid-safetensors");
    assert.is(error.file, path);
    assert.match(error.message, pattern);
  });
}

test("missing safetensors file is file-not-found", () => {
  assert.is(errorCode(() => readSafetensorsHeader(`${fixtures}valid/absent.safetensors`)).code, "file-not-found");
});

test("single safetensors file imports modules", () => {
  const graph = loadGraph(`${fixtures}valid/small.safetensors`);
  const byName = new Map(graph.modules.map((m) => [m.name, m]));
  assert.equal(byName.get("embed"), { name: "embed", type: "Embedding", num_embeddings: 10, embedding_dim: 4, inferred: ["type"], parameters: 40 });
  const proj = byName.get("proj")!;
  assert.is(proj.type, "Linear");
  assert.is(proj.in_features, 4);
  assert.is(proj.out_features, 3);
  assert.is(proj.bias, true);
  assert.is(proj.parameters, 3 * 4 + 3);
  assert.is(byName.get("norm")!.parameters, 4);
  // `step` and `empty` are root-level tensors: parameters of the root, not modules.
  assert.not.ok(byName.has("step"));
  assert.not.ok(byName.has("empty"));
});

test("sharded directory reads every shard header", () => {
  const dir = `${fixtures}tiny-llama`;
  const { graph, stats } = loadGraphWithStats(dir);
  assert.is(stats.headersRead, 2);
  let headerBytes = 0;
  for (const shard of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
    headerBytes += 8 + Number(readFileSync(`${dir}/${shard}`).readBigUInt64LE(0));
  }
  assert.is(stats.headerBytesRead, headerBytes);
  const q = graph.modules.find((m) => m.name === "model.layers.1.self_attn.q_proj")!;
  assert.is(q.in_features, 16);
  assert.is(q.out_features, 4 * 4);
  assert.is(q.inferred, undefined, "shapes read from the header are not inferred");
  const k = graph.modules.find((m) => m.name === "model.layers.1.self_attn.k_proj")!;
  assert.is(k.out_features, 2 * 4);
  const lmHead = graph.modules.find((m) => m.name === "lm_head")!;
  assert.ok(lmHead.inferred!.includes("name"));
  const { parameters } = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8")) as { parameters: number };
  assert.is(graph.parameters, parameters);
});

test.run();

import { test } from "uvu";
import * as assert from "uvu/assert";
import { SafetensorsFormatError, halfToFloat, readSafetensors, writeSafetensors } from "../../runtime/safetensors.js";

/** Builds a safetensors file by hand: u64 header length, header JSON, data. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test("reads a hand-made F32 file", () => {
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0 (little-endian IEEE 754)
  const bytes = handMade({ __metadata__: { format: "pt" }, w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
  const file = readSafetensors(bytes);
  assert.equal(file.metadata, { format: "pt" });
  assert.equal(file.tensors.get("w"), { dtype: "F32", shape: [2], data: new Float32Array([1, -2]) });
});

test("reads F16 and BF16 as float32", () => {
  // F16: 0x3c00 = 1, 0xc000 = -2, 0x3555 ~ 0.33325; BF16: 0x3f80 = 1, 0xc040 = -3
  const bytes = handMade(
    {
      h: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
      b: { dtype: "BF16", shape: [2], data_offsets: [6, 10] },
    },
    [0x00, 0x3c, 0x00, 0xc0, 0x55, 0x35, 0x80, 0x3f, 0x40, 0xc0],
  );
  const file = readSafetensors(bytes);
  assert.equal(Array.from(file.tensors.get("h")!.data!), [1, -2, Math.fround(0.333251953125)]);
  assert.equal(Array.from(file.tensors.get("b")!.data!), [1, -3]);
});

test("halfToFloat handles subnormals and specials", () => {
  assert.is(halfToFloat(0x0001), 2 ** -24);
  assert.is(halfToFloat(0x7c00), Infinity);
  assert.is(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.is(halfToFloat(0x7bff), 65504);
});

test("other dtypes are listed without data", () => {
  const bytes = handMade({ i: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(readSafetensors(bytes).tensors.get("i"), { dtype: "I64", shape: [1], data: null });
});

test("writer output has an aligned header and sorted keys", () => {
  const bytes = writeSafetensors([
    { name: "b", shape: [1], data: new Float32Array([2]) },
    { name: "a", shape: [2, 1], data: new Float32Array([0.5, -1]) },
  ], { format: "pt" });
  const view = new DataView(bytes.buffer);
  const headerLength = Number(view.getBigUint64(0, true));
  assert.is(headerLength % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  assert.equal(header, {
    __metadata__: { format: "pt" },
    a: { dtype: "F32", shape: [2, 1], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
  });
  assert.is(bytes.length, 8 + headerLength + 12);
  assert.is(view.getFloat32(8 + headerLength, true), 0.5);
  assert.is(view.getFloat32(8 + headerLength + 8, true), 2);
});

test("round trip keeps every bit", () => {
  const data = new Float32Array([Math.PI, -0, 1e-38, 3.4e38, -7.25]);
  const back = readSafetensors(writeSafetensors([{ name: "x", shape: [5], data }])).tensors.get("x")!.data!;
  assert.equal(new Uint32Array(back.buffer), new Uint32Array(data.buffer));
});

test("malformed files are rejected", () => {
  const cases: Array<[string, Uint8Array]> = [
    ["short", new Uint8Array(4)],
    ["header past end", (() => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, 100n, true); return b; })()],
    ["bad json", handMade({}, []).map((v, i) => (i === 8 ? 0x7b + 1 : v))],
    ["size mismatch", handMade({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0))],
    ["offset past data", handMade({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, [0, 0, 0, 0])],
    ["unknown dtype", handMade({ w: { dtype: "F7", shape: [1], data_offsets: [0, 1] } }, [0])],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => readSafetensors(bytes), (err: unknown) => err instanceof SafetensorsFormatError, name);
  }
});

test.run();

/**
 * The safetensors file format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON header, then the raw tensor bytes. Each header
 * entry gives `dtype`, `shape` and `data_offsets` [begin, end) relative to the end of the header;
 * `__metadata__` is an optional string → string map.
 */

/** Element types this reader decodes to float32. Other dtypes are listed with `data: null`. */
export const READABLE_DTYPES = { F32: 4, F16: 2, BF16: 2 } as const;
export type ReadableDtype = keyof typeof READABLE_DTYPES;

/** Bytes per element for the dtypes safetensors defines, used to check data lengths. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Values decoded to float32; `null` for a dtype outside READABLE_DTYPES. */
  data: Float32Array | null;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** A malformed file. The message names the problem, and the caller adds the file name. */
export class SafetensorsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsFormatError";
  }
}

/** Encodes float32 tensors as a safetensors file. Tensors are written sorted by name. */
export function writeSafetensors(
  tensors: Iterable<{ name: string; shape: number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const list = [...tensors].sort(byName);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header["__metadata__"] = metadata;
  let offset = 0;
  for (const t of list) {
    if (t.name in header) throw new Error(`duplicate tensor name ${t.name}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: shape [${t.shape}] needs ${count} values, got ${t.data.length}`);
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces to a multiple of 8 bytes, so the data starts aligned.
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) {
    const withPadding = new Uint8Array(padded).fill(0x20);
    withPadding.set(headerBytes);
    headerBytes = withPadding;
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const t of list) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(position + 4 * i, t.data[i]!, true);
    position += 4 * t.data.length;
  }
  return out;
}

function byName(a: { name: string }, b: { name: string }): number {
  if (a.name === b.name) return 0;
  return a.name < b.name ? -1 : 1;
}

/** Decodes a safetensors file. Throws SafetensorsFormatError for a malformed one. */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsFormatError(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw new SafetensorsFormatError(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    throw new SafetensorsFormatError(`header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) throw new SafetensorsFormatError("header is not a JSON object");
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const entry = parseEntry(name, raw, dataLength);
    const begin = dataStart + entry.offsets[0];
    tensors.set(name, { dtype: entry.dtype, shape: entry.shape, data: decode(entry.dtype, bytes, begin, entry.count) });
  }
  return { tensors, metadata };
}

function parseEntry(name: string, raw: unknown, dataLength: number): { dtype: string; shape: number[]; offsets: [number, number]; count: number } {
  const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (entry === null || typeof entry !== "object") throw new SafetensorsFormatError(`tensor ${name}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== "string" || !(dtype in DTYPE_SIZES)) throw new SafetensorsFormatError(`tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new SafetensorsFormatError(`tensor ${name}: shape must be a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new SafetensorsFormatError(`tensor ${name}: data_offsets must be [begin, end] with 0 <= begin <= end`);
  }
  if (offsets[1] > dataLength) throw new SafetensorsFormatError(`tensor ${name}: data_offsets end ${offsets[1]} is past the data (${dataLength} bytes)`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const expected = count * DTYPE_SIZES[dtype]!;
  if (offsets[1] - offsets[0] !== expected) {
    throw new SafetensorsFormatError(`tensor ${name}: ${dtype} [${shape}] needs ${expected} bytes, data_offsets span ${offsets[1] - offsets[0]}`);
  }
  return { dtype, shape: shape as number[], offsets: [offsets[0], offsets[1]], count };
}

function decode(dtype: string, bytes: Uint8Array, begin: number, count: number): Float32Array | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset + begin, count * (DTYPE_SIZES[dtype] ?? 0));
  const out = new Float32Array(count);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case "F16":
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    case "BF16": {
      // bfloat16 is the upper half of a float32.
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(2 * i, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
    default:
      return null;
  }
}

/** IEEE 754 binary16 → number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

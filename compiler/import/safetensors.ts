import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { PeftcError } from "../errors.js";

/**
 * Reader for the header of a `.safetensors` file: an 8-byte little-endian u64 length N, then N bytes
 * of UTF-8 JSON mapping tensor names to `{dtype, shape, data_offsets}` (plus an optional
 * `__metadata__` string map), then the tensor data. Only the header is read, never the data.
 */

/** Largest header accepted; the reference implementation rejects headers over 100 MB too. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of each dtype the format defines; sub-byte types are given in bits. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  C64: 64,
};

export interface TensorInfo {
  dtype: string;
  shape: number[];
}

export interface SafetensorsHeader {
  /** Tensors in the order the header lists them. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string> | null;
  /** Bytes read from the file: the 8-byte length prefix plus the JSON header. */
  bytesRead: number;
}

function invalid(path: string, message: string): PeftcError {
  return new PeftcError("invalid-safetensors", `${message}; the file is not a valid safetensors file (re-download or re-save it)`, {
    file: path,
  });
}

function readExactly(fd: number, buffer: Buffer, position: number): number {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Reads and validates the header of the safetensors file at `path`. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new PeftcError("file-not-found", `safetensors file not found`, { file: path });
    throw new PeftcError("file-unreadable", `cannot read safetensors file: ${code ?? (err as Error).message}`, { file: path });
  }
  try {
    const fileSize = fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    if (readExactly(fd, prefix, 0) < 8) {
      throw invalid(path, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
    }
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(MAX_HEADER_BYTES)) {
      throw invalid(path, `header length ${length} is over the ${MAX_HEADER_BYTES}-byte limit`);
    }
    const headerLength = Number(length);
    if (8 + headerLength > fileSize) {
      throw invalid(path, `header length ${headerLength} goes past the end of the file (${fileSize} bytes)`);
    }
    const raw = Buffer.alloc(headerLength);
    const got = readExactly(fd, raw, 8);
    if (got < headerLength) throw invalid(path, `file truncated inside the header (${got} of ${headerLength} bytes)`);
    const header = parseHeaderJson(path, raw);
    const dataSize = fileSize - 8 - headerLength;
    const { tensors, metadata } = validateEntries(path, header, dataSize);
    return { tensors, metadata, bytesRead: 8 + headerLength };
  } finally {
    closeSync(fd);
  }
}

function parseHeaderJson(path: string, raw: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw invalid(path, "header is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(path, `header is not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalid(path, "header JSON is not an object");
  }
  return parsed as Record<string, unknown>;
}

function validateEntries(
  path: string,
  header: Record<string, unknown>,
  dataSize: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> | null } {
  const tensors = new Map<string, TensorInfo>();
  const ranges: Array<[number, number, string]> = [];
  let metadata: Record<string, string> | null = null;

  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = validateMetadata(path, entry);
      continue;
    }
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw invalid(path, `tensor '${name}' is not an object`);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in DTYPE_BITS)) {
      throw invalid(path, `tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalid(path, `tensor '${name}' has shape ${JSON.stringify(shape)}; expected a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw invalid(path, `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataSize) {
      throw invalid(path, `tensor '${name}' data_offsets [${begin}, ${end}] go past the end of the data area (${dataSize} bytes)`);
    }
    const bits = (shape as number[]).reduce((n, d) => n * d, 1) * DTYPE_BITS[dtype]!;
    const expected = Math.ceil(bits / 8);
    if (end - begin !== expected) {
      throw invalid(
        path,
        `tensor '${name}' spans ${end - begin} bytes but ${dtype} with shape [${(shape as number[]).join(", ")}] needs ${expected}`,
      );
    }
    tensors.set(name, { dtype, shape: shape as number[] });
    if (end > begin) ranges.push([begin, end, name]);
  }

  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    const previous = ranges[i - 1]!;
    const current = ranges[i]!;
    if (current[0] < previous[1]) {
      throw invalid(path, `tensors '${previous[2]}' and '${current[2]}' have overlapping data_offsets`);
    }
  }
  return { tensors, metadata };
}

function validateMetadata(path: string, entry: unknown): Record<string, string> {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw invalid(path, "__metadata__ is not an object");
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== "string") throw invalid(path, `__metadata__ value for '${key}' is not a string`);
  }
  return entry as Record<string, string>;
}

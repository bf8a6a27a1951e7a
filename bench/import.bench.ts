/**
 * Import benchmark: importing a Hugging Face checkpoint directory must read the safetensors
 * headers only, never tensor data. The script writes a Llama-3-70B checkpoint in 100 shards.
 * Each shard is a real safetensors file (length prefix, JSON header, a data section of the size
 * the header describes), made sparse with ftruncate so that it takes almost no disk. It then
 * imports the directory and prints a markdown section with the bytes read against the
 * checkpoint's size.
 *
 *   node --import tsx bench/import.bench.ts [--shards 100]
 *
 * Bytes read are counted twice: by the importer's own counter (safetensors headers) and by the
 * kernel (`rchar` in /proc/self/io: every byte any read call returned, config and index included).
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { loadGraphWithStats } from "../compiler/import/index.js";
import { LLAMA3_70B, type LlamaShape } from "./graphs.js";
import { formatBytes, formatCount, formatMs, machineLine } from "./machine.js";

interface Tensor {
  name: string;
  shape: number[];
}

const DTYPE = "BF16";
const BYTES_PER_ELEMENT = 2;

/** Lists the tensors of a LlamaForCausalLM checkpoint, in the order transformers saves them. */
function llamaTensors(shape: LlamaShape): Tensor[] {
  const { hidden, intermediate } = shape;
  const kv = (hidden / shape.heads) * shape.kvHeads;
  const tensors: Tensor[] = [{ name: "model.embed_tokens.weight", shape: [shape.vocab, hidden] }];
  for (let i = 0; i < shape.layers; i++) {
    const p = `model.layers.${i}`;
    tensors.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [hidden, hidden] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, hidden] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, hidden] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [hidden, hidden] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [intermediate, hidden] },
      { name: `${p}.mlp.up_proj.weight`, shape: [intermediate, hidden] },
      { name: `${p}.mlp.down_proj.weight`, shape: [hidden, intermediate] },
      { name: `${p}.input_layernorm.weight`, shape: [hidden] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [hidden] },
    );
  }
  tensors.push({ name: "model.norm.weight", shape: [hidden] }, { name: "lm_head.weight", shape: [shape.vocab, hidden] });
  return tensors;
}

function byteSize(t: Tensor): number {
  return t.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT;
}

/** Splits the tensors, in order, into `count` shards of consecutive tensors (every shard non-empty). */
function splitIntoShards(tensors: Tensor[], count: number): Tensor[][] {
  if (count > tensors.length) throw new Error(`cannot split ${tensors.length} tensors into ${count} shards`);
  return Array.from({ length: count }, (_, k) => tensors.slice(Math.floor((k * tensors.length) / count), Math.floor(((k + 1) * tensors.length) / count)));
}

/**
 * Writes one safetensors file: the header as written by the reference implementation (padded
 * with spaces to a multiple of 8 bytes), then a sparse data section of the described size.
 * Returns the file's size.
 */
function writeShard(path: string, tensors: Tensor[]): number {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of tensors) {
    const end = offset + byteSize(t);
    header[t.name] = { dtype: DTYPE, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const size = 8 + headerBytes.length + offset;
  const fd = openSync(path, "w");
  try {
    writeSync(fd, prefix);
    writeSync(fd, headerBytes);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return size;
}

function llamaConfig(shape: LlamaShape): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    num_hidden_layers: shape.layers,
    vocab_size: shape.vocab,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: false,
    torch_dtype: "bfloat16",
  };
}

/** Writes the checkpoint directory; returns its total size in bytes and the bytes it occupies on disk. */
function writeCheckpoint(dir: string, shape: LlamaShape, shardCount: number): { files: number; totalBytes: number; diskBytes: number } {
  const shards = splitIntoShards(llamaTensors(shape), shardCount);
  const weightMap: Record<string, string> = {};
  let dataBytes = 0;
  const paths: string[] = [];
  shards.forEach((tensors, k) => {
    const file = `model-${String(k + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    const path = join(dir, file);
    writeShard(path, tensors);
    paths.push(path);
    for (const t of tensors) {
      weightMap[t.name] = file;
      dataBytes += byteSize(t);
    }
  });
  writeFileSync(join(dir, "config.json"), JSON.stringify(llamaConfig(shape), null, 2) + "\n");
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: dataBytes }, weight_map: weightMap }, null, 2) + "\n");
  paths.push(join(dir, "config.json"), join(dir, "model.safetensors.index.json"));
  let totalBytes = 0;
  let diskBytes = 0;
  for (const path of paths) {
    const st = statSync(path);
    totalBytes += st.size;
    diskBytes += st.blocks * 512;
  }
  return { files: paths.length, totalBytes, diskBytes };
}

/** Bytes this process has read through read calls so far, or null where /proc is not available. */
function bytesReadByProcess(): number | null {
  try {
    const match = /^rchar:\s*(\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function main(): void {
  const { values } = parseArgs({ options: { shards: { type: "string", default: "100" } } });
  const shardCount = Number(values.shards);
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`--shards must be a positive integer, got '${values.shards}'`);

  const dir = mkdtempSync(join(tmpdir(), "peftc-bench-hf-"));
  try {
    const checkpoint = writeCheckpoint(dir, LLAMA3_70B, shardCount);
    // The difference includes one read of /proc/self/io itself, a few hundred bytes.
    const before = bytesReadByProcess();
    const start = performance.now();
    const { graph, stats } = loadGraphWithStats(dir);
    const importMs = performance.now() - start;
    const after = bytesReadByProcess();
    const kernelBytes = before === null || after === null ? null : after - before;

    const lines = [
      "## Importing a Hugging Face checkpoint",
      "",
      `Command: \`node --import tsx bench/import.bench.ts --shards ${shardCount}\`. Machine: ${machineLine()}.`,
      "",
      `A Llama-3-70B checkpoint (BF16) in ${shardCount} safetensors shards plus config.json and model.safetensors.index.json; ` +
        "every shard has a real header and a data section of the size its header describes, written as a sparse file.",
      "",
      "| measure | value |",
      "| --- | ---: |",
      `| files | ${checkpoint.files} |`,
      `| checkpoint size | ${formatBytes(checkpoint.totalBytes)} |`,
      `| disk space used (sparse) | ${formatBytes(checkpoint.diskBytes)} |`,
      `| safetensors headers read | ${stats.headersRead} |`,
      `| header bytes read (importer's counter) | ${formatBytes(stats.headerBytesRead)} |`,
      `| bytes read by the process during import (kernel rchar) | ${kernelBytes === null ? "not available" : formatBytes(kernelBytes)} |`,
      `| bytes read ÷ checkpoint size | ${((kernelBytes ?? stats.headerBytesRead) / checkpoint.totalBytes).toExponential(2)} |`,
      `| modules imported | ${formatCount(graph.modules.length)} |`,
      `| import time | ${formatMs(importMs)} ms |`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();

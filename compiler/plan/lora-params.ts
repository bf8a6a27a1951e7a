/** LoRA parameter counts per module kind, as PEFT's layers allocate them. */
import type { GraphModule } from "../graph/types.js";
import type { TargetKind } from "./types.js";

export function targetKind(type: string): TargetKind {
  switch (type) {
    case "Linear":
      return "linear";
    case "Embedding":
      return "embedding";
    case "Conv1d":
      return "conv1d";
    case "Conv2d":
      return "conv2d";
    case "Conv3d":
      return "conv3d";
    case "Conv1D":
      return "conv1d_gpt2";
    default:
      return "mha";
  }
}

/** in/out sizes as the plan reports them (Embedding: num_embeddings/embedding_dim; Conv: channels). */
export function featureSizes(m: GraphModule): { in: number | null; out: number | null } {
  switch (m.type) {
    case "Embedding":
      return { in: m.num_embeddings ?? null, out: m.embedding_dim ?? null };
    case "Conv1d":
    case "Conv2d":
    case "Conv3d":
      return { in: m.in_channels ?? null, out: m.out_channels ?? null };
    case "MultiheadAttention":
      return { in: m.embed_dim ?? null, out: m.embed_dim != null ? 3 * m.embed_dim : null };
    default:
      return { in: m.in_features ?? null, out: m.out_features ?? null };
  }
}

/**
 * Trainable parameters a LoRA adapter of rank r adds to `m`: A is r x in and B is out x r for
 * Linear and Conv1D; Embedding has lora_embedding_A (r x num_embeddings) and lora_embedding_B
 * (embedding_dim x r); Conv has an A kernel of in x r x k... and a 1x1 B; MultiheadAttention adapts
 * in_proj (embed -> 3 embed) and out_proj (embed -> embed). DoRA adds one magnitude per output,
 * lora_bias a bias on B. Returns null when a size is unknown.
 */
export function loraParameters(m: GraphModule, r: number, options: LoraOptions): number | null {
  const { in: inF, out: outF } = featureSizes(m);
  if (inF === null || outF === null) return null;
  const extra = extraParameters(outF, options);
  switch (m.type) {
    case "Conv1d":
    case "Conv2d":
    case "Conv3d": {
      if (!m.kernel_size) return null;
      const kernel = m.kernel_size.reduce((a, b) => a * b, 1);
      const groups = m.groups ?? 1;
      return r * (inF / groups) * kernel + outF * r + extra;
    }
    case "MultiheadAttention": {
      const embed = inF;
      return r * (embed + 3 * embed) + r * (embed + embed) + extra;
    }
    default:
      return lowRankParameters(inF, outF, r, options);
  }
}

/** The adapter options that add parameters on top of the two low-rank factors. */
export interface LoraOptions {
  dora: boolean;
  loraBias: boolean;
}

/** Counts DoRA's magnitude (one per output) and lora_bias (a bias on B, one per output). */
function extraParameters(outF: number, options: LoraOptions): number {
  return (options.dora ? outF : 0) + (options.loraBias ? outF : 0);
}

/**
 * Counts the parameters of an r x in factor A and an out x r factor B, plus DoRA and lora_bias:
 * the count of Linear, GPT-2 Conv1D and Embedding targets.
 */
export function lowRankParameters(inF: number, outF: number, r: number, options: LoraOptions): number {
  return r * (inF + outF) + extraParameters(outF, options);
}

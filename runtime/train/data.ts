import { readFileSync } from "node:fs";
import { RuntimeInputError } from "../errors.js";

/** Token ids cut into training sequences of one length. */
export interface TokenBlocks {
  seqLen: number;
  blocks: Int32Array[];
}

/**
 * Reads a token-id file: whitespace-separated non-negative integers, any number per line, every
 * id below `vocabSize`. The lines are concatenated in order into one token stream. A bad entry
 * is reported at its `file:line:col`.
 */
export function readTokenFile(path: string, vocabSize: number): Int32Array {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RuntimeInputError(code === "ENOENT" ? "data-not-found" : "data-unreadable", code === "ENOENT" ? "training data file not found" : `cannot read the file: ${code ?? (err as Error).message}`, { file: path });
  }
  const ids: number[] = [];
  const lines = text.split("\n");
  for (let line = 0; line < lines.length; line++) {
    const pattern = /\S+/g;
    for (let match = pattern.exec(lines[line]!); match !== null; match = pattern.exec(lines[line]!)) {
      const word = match[0];
      const id = /^\d+$/.test(word) ? Number(word) : NaN;
      if (!(id < vocabSize)) {
        const where = `${path}:${line + 1}:${match.index + 1}`;
        const problem = Number.isNaN(id) ? `"${word}" is not a token id (a non-negative integer)` : `token id ${word} is out of range; the vocabulary has ${vocabSize} ids (0 to ${vocabSize - 1})`;
        throw new RuntimeInputError("data-invalid", problem, { file: where });
      }
      ids.push(id);
    }
  }
  return Int32Array.from(ids);
}

/**
 * Cuts a token stream into consecutive blocks of `seqLen` tokens, as transformers' causal-LM
 * examples group texts; the tokens after the last whole block are dropped.
 */
export function toBlocks(tokens: Int32Array, seqLen: number): TokenBlocks {
  const blocks: Int32Array[] = [];
  for (let start = 0; start + seqLen <= tokens.length; start += seqLen) blocks.push(tokens.slice(start, start + seqLen));
  return { seqLen, blocks };
}

/**
 * Holds out the last `fraction` of the blocks (at least one) for evaluation. With a single
 * block there is nothing left to train on, so that is an error.
 */
export function splitBlocks(data: TokenBlocks, fraction: number): { train: TokenBlocks; eval: TokenBlocks } {
  const count = data.blocks.length;
  const held = Math.max(1, Math.round(count * fraction));
  if (count - held < 1) {
    throw new RuntimeInputError("data-too-small", `the data makes ${count} block(s) of ${data.seqLen} tokens, too few to hold out ${held} for evaluation; add data, lower --seq-len or pass --eval-data`);
  }
  return {
    train: { seqLen: data.seqLen, blocks: data.blocks.slice(0, count - held) },
    eval: { seqLen: data.seqLen, blocks: data.blocks.slice(count - held) },
  };
}

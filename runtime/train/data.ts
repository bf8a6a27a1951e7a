import { Tokenizer } from "@huggingface/tokenizers";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
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
  const text = readDataFile(path);
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

/** Checks that a data file exists and is a file, so a wrong path is reported before any work starts. */
export function checkDataFile(path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    throw dataFileError(path, err as NodeJS.ErrnoException);
  }
  if (!isFile) throw new RuntimeInputError("data-unreadable", "the data path is a directory, not a file", { file: path });
}

function dataFileError(path: string, err: NodeJS.ErrnoException): RuntimeInputError {
  if (err.code === "ENOENT") return new RuntimeInputError("data-not-found", "training data file not found", { file: path });
  return new RuntimeInputError("data-unreadable", `cannot read the file: ${err.code ?? err.message}`, { file: path });
}

/** Returns `count noun`, adding "s" to the noun unless the count is 1: `1 step`, `2 steps`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function readDataFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw dataFileError(path, err as NodeJS.ErrnoException);
  }
}

function readJson(path: string): object {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as object;
  } catch (err) {
    throw new RuntimeInputError("tokenizer-invalid", `cannot read the tokenizer: ${(err as Error).message}`, { file: path });
  }
}

/**
 * Reads a raw text file and tokenizes it with the model directory's `tokenizer.json` (and
 * `tokenizer_config.json` when present), using Hugging Face's JavaScript tokenizers. Each
 * non-empty line is encoded on its own, special tokens included as the tokenizer adds them (a
 * Llama tokenizer starts each line with its BOS token), and the lines are concatenated.
 */
export function readTextFile(path: string, modelDir: string, vocabSize: number): Int32Array {
  const tokenizerPath = join(modelDir, "tokenizer.json");
  if (!existsSync(tokenizerPath)) {
    throw new RuntimeInputError("tokenizer-missing", "--text needs the model directory's tokenizer.json, which is missing; pass token ids instead", { file: tokenizerPath });
  }
  const configPath = join(modelDir, "tokenizer_config.json");
  const tokenizer = new Tokenizer(readJson(tokenizerPath), existsSync(configPath) ? readJson(configPath) : {});
  const ids: number[] = [];
  for (const line of readDataFile(path).split("\n")) {
    if (line.trim() === "") continue;
    for (const id of tokenizer.encode(line).ids) {
      if (id >= vocabSize) throw new RuntimeInputError("tokenizer-invalid", `the tokenizer produced id ${id}, outside the model's vocabulary of ${vocabSize}`, { file: tokenizerPath });
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
 * block there is nothing left to train on, so that is an error naming `file`, the data's source.
 */
export function splitBlocks(data: TokenBlocks, fraction: number, file?: string): { train: TokenBlocks; eval: TokenBlocks } {
  const count = data.blocks.length;
  const held = Math.max(1, Math.round(count * fraction));
  if (count - held < 1) {
    const found = count === 0 ? `fewer than ${data.seqLen} tokens, not one sequence of --seq-len ${data.seqLen}` : `only ${plural(count, "sequence")} of ${data.seqLen} tokens`;
    const message = `the data makes ${found}, too few to hold out ${held} for evaluation and train on the rest; add data, lower --seq-len or pass --eval-data`;
    throw new RuntimeInputError("data-too-small", message, file === undefined ? {} : { file });
  }
  return {
    train: { seqLen: data.seqLen, blocks: data.blocks.slice(0, count - held) },
    eval: { seqLen: data.seqLen, blocks: data.blocks.slice(count - held) },
  };
}

/**
 * Writes train.txt: deterministic token ids for the SmolLM2 example, no downloads. Each line is
 * a walk through a 512-id slice of the vocabulary with a per-line stride (1 to 7), so the next
 * token follows from the previous two and a small adapter can learn it in a few dozen steps.
 *
 *   node --import tsx examples/train-smollm2/make-data.ts [OUT]
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Rng } from "../../runtime/random.js";

export const FIRST_ID = 1000;
export const SPAN = 512;

export function exampleData(lines = 160, tokensPerLine = 64, seed = 2024): string {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let line = 0; line < lines; line++) {
    const stride = 1 + Math.floor(rng.next() * 7);
    let offset = Math.floor(rng.next() * SPAN);
    const ids: number[] = [];
    for (let i = 0; i < tokensPerLine; i++) {
      ids.push(FIRST_ID + offset);
      offset = (offset + stride) % SPAN;
    }
    out.push(ids.join(" "));
  }
  return out.join("\n") + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2] ?? fileURLToPath(new URL("train.txt", import.meta.url));
  writeFileSync(target, exampleData());
  process.stderr.write(`wrote ${target}\n`);
}

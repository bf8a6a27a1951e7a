import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { exampleData } from "../../examples/train-smollm2/make-data.js";
import { runExample } from "../../examples/train-smollm2/run.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/train-smollm2/", import.meta.url));

function sink(): { write(text: string): boolean; text: string } {
  return {
    text: "",
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

test("example data regenerates byte for byte", () => {
  assert.is(exampleData(), readFileSync(join(EXAMPLE, "train.txt"), "utf8"));
});

test("smollm2 example keeps the tie through training and merging", async () => {
  const output = mkdtempSync(join(tmpdir(), "peftc-smollm2-"));
  const stderr = sink();
  const stdout = sink();
  const { checks, evalLoss } = await runExample({ steps: 2, layers: 1, seqLen: 8, batchSize: 1, evalFraction: 0.002, output, backend: "cpu" }, { stdout, stderr });
  assert.ok(Number.isFinite(evalLoss));
  assert.ok(checks.length >= 9, `${checks.length} checks`);
  for (const check of checks) assert.ok(check.ok, `${check.name}: ${check.detail}`);
  assert.match(stdout.text, /eval loss \d+\.\d+/);
  rmSync(output, { recursive: true });
});

test.run();

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { exampleData } from "../../examples/train-smollm2/make-data.js";
import { DEFAULT_OUTPUT, parseExampleArgs, runExample } from "../../examples/train-smollm2/run.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/train-smollm2/", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Runs the example script as a user would, from the repository root. */
function runScript(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", join(EXAMPLE, "run.ts"), ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Drops the banner tfjs prints on import when the tfjs-node backend is not installed. */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.startsWith("error"));
}

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

test("example defaults match the README", () => {
  const options = parseExampleArgs([]);
  assert.equal(options, { steps: 40, layers: 2, seqLen: 16, batchSize: 2, learningRate: 0.002, output: DEFAULT_OUTPUT });
  assert.is(DEFAULT_OUTPUT, join(tmpdir(), "peftc-smollm2-adapter"));
});

test("example rejects a non-numeric --steps", () => {
  const result = runScript(["--steps", "abc"]);
  assert.is(result.status, 1);
  assert.equal(errorLines(result.stderr), ['error[usage]: --steps must be a positive integer, got "abc"; see --help']);
  assert.not.match(result.stderr, "    at ");
});

test("example rejects an unknown option", () => {
  const result = runScript(["--stepz", "3"]);
  assert.is(result.status, 1);
  assert.equal(errorLines(result.stderr), ["error[usage]: unknown option '--stepz'; see --help"]);
  assert.not.match(result.stderr, "    at ");
});

test("example prints its options for --help", () => {
  const result = runScript(["--help"]);
  assert.is(result.status, 0);
  assert.match(result.stdout, /^Usage: /);
  assert.match(result.stdout, "--output DIR");
});

test.run();

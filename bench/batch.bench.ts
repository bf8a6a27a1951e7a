/**
 * Many-specs benchmark: a repository of 200 specs for one model, compiled one `peftc plan`
 * process per spec (what a shell loop or a make rule does) and in one `peftc plan --write` run,
 * and then checked with `--verify`. Prints a markdown section to stdout.
 *
 *   npm run build && node --import tsx bench/batch.bench.ts [--specs N]
 *
 * Both ways run the `peftc` command on the built package in dist/, and must write the same
 * plans byte for byte, or the benchmark fails.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { countModules, deepseekModel, llamaModel, writeGraphFile, type BenchModel } from "./graphs.js";
import { formatBytes, formatCount, machineLine } from "./machine.js";
import { targetCases } from "./specs.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const PEFTC = join(HERE, "..", "bin", "peftc.js");
const BUILT_CLI = join(HERE, "..", "dist", "compiler", "cli", "main.js");

/** Runs `peftc ARGS`, returns the wall time in milliseconds and throws when the command fails. */
function peftc(args: string[]): number {
  const start = performance.now();
  const child = spawnSync(process.execPath, [PEFTC, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  const ms = performance.now() - start;
  if (child.status !== 0) throw new Error(`peftc ${args.slice(0, 3).join(" ")} ... exited with ${child.status}: ${child.stderr}`);
  return ms;
}

interface BatchRow {
  model: BenchModel;
  specs: number;
  modules: number;
  planBytes: number;
  perProcessMs: number;
  writeMs: number;
  verifyMs: number;
}

/**
 * Writes `count` specs for the model: the compile benchmark's seven target forms, each at
 * several ranks, so no two specs are alike.
 */
function writeSpecs(model: BenchModel, dir: string, count: number): string[] {
  const cases = targetCases(model);
  const paths: string[] = [];
  for (let k = 0; k < count; k++) {
    const target = cases[k % cases.length]!;
    const r = 4 * (1 + Math.floor(k / cases.length));
    const path = join(dir, `${String(k).padStart(3, "0")}-${target.id}.yaml`);
    writeFileSync(path, target.yaml.replace(/^r: \d+$/m, `r: ${r}`));
    paths.push(path);
  }
  return paths;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function benchModel(model: BenchModel, root: string, count: number, log: (line: string) => void): BatchRow {
  const dir = join(root, model.id);
  mkdirSync(dir, { recursive: true });
  const graph = join(dir, "graph.json");
  writeGraphFile(model, graph);
  const specs = writeSpecs(model, dir, count);

  log(`${model.id}: ${count} specs, one process each`);
  let perProcessMs = 0;
  // Only each plan's hash is kept, so that hundreds of large plans do not fill the disk.
  const separate = join(dir, "one-by-one.plan.json");
  const hashes = specs.map((spec) => {
    perProcessMs += peftc(["plan", spec, "--model", graph, "-o", separate, "-q"]);
    return sha256(readFileSync(separate));
  });

  log(`${model.id}: ${count} specs, one --write run, then --verify`);
  const writeMs = peftc(["plan", ...specs, "--model", graph, "--write", "-q"]);
  const verifyMs = peftc(["plan", ...specs, "--model", graph, "--verify", "-q"]);

  let planBytes = 0;
  specs.forEach((spec, k) => {
    const batch = readFileSync(spec.replace(/\.yaml$/, ".plan.json"));
    if (sha256(batch) !== hashes[k]) throw new Error(`the --write plan of ${spec} differs from the one-process plan`);
    planBytes += batch.length;
  });
  rmSync(dir, { recursive: true, force: true });
  return { model, specs: count, modules: countModules(model).total, planBytes, perProcessMs, writeMs, verifyMs };
}

function renderTable(rows: BatchRow[]): string {
  const seconds = (ms: number): string => (ms / 1000).toFixed(2);
  const lines = [
    "| model | modules | specs | plans written | one process per spec, s | `--write`, s | one process per spec ÷ `--write` | `--verify`, s | ms per spec, `--write` |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.model.title} | ${formatCount(r.modules)} | ${r.specs} | ${formatBytes(r.planBytes)} | ${seconds(r.perProcessMs)} | ${seconds(r.writeMs)} | ${(r.perProcessMs / r.writeMs).toFixed(1)}x | ${seconds(r.verifyMs)} | ${(r.writeMs / r.specs).toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

function main(): void {
  const { values } = parseArgs({ options: { specs: { type: "string", default: "200" } } });
  const count = Number(values.specs);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--specs must be a positive integer, got '${values.specs}'`);
  if (!existsSync(BUILT_CLI)) throw new Error("dist/ is missing: run `npm run build` first (bench/run.ts does)");
  const log = (line: string): void => void process.stderr.write(line + "\n");

  const root = mkdtempSync(join(tmpdir(), "peftc-batch-bench-"));
  const rows: BatchRow[] = [];
  try {
    for (const model of [llamaModel(), deepseekModel()]) rows.push(benchModel(model, root, count, log));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const out = [
    "## Many specs for one model",
    "",
    `Command: \`node --import tsx bench/batch.bench.ts --specs ${count}\` (on the built dist/). Machine: ${machineLine()}.`,
    "",
    `${count} specs for one model (the seven target forms above, each at several ranks), with \`--model\` pointing at the graph file. ` +
      "*One process per spec* runs `peftc plan SPEC -o PLAN` once for each, one after the other, as a shell loop does. " +
      "`--write` compiles them all in one `peftc plan SPEC... --write` run, which imports the model once, and `--verify` then checks " +
      "every plan it wrote. Both ways wrote the same plans byte for byte. Times are wall-clock, process start included.",
    "",
    renderTable(rows),
    "",
  ];
  process.stdout.write(out.join("\n"));
}

main();

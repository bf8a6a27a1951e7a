/**
 * Hostile regexes through `peftc plan`: catastrophic patterns against long module names end in
 * bounded time, and invalid or unsupported patterns are reported at the character at fault.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runCli, type CliRun } from "../cli/run.js";
import { assertNothingWritten, assertOneLineError, scratch, smallGraph } from "./helpers.js";

/** Writes the small graph plus a 3,000-character name segment and a name of 500 one-letter segments. */
function longNameGraph(dir: string): string {
  const graph = smallGraph();
  const modules = graph["modules"] as Array<Record<string, unknown>>;
  modules.push({ name: `model.${"a".repeat(3000)}.q_proj`, type: "Linear", in_features: 8, out_features: 8, bias: false });
  modules.push({ name: `model.${Array(500).fill("x").join(".")}.v_proj`, type: "Linear", in_features: 8, out_features: 8, bias: false });
  const path = join(dir, "graph.json");
  writeFileSync(path, JSON.stringify(graph));
  return path;
}

async function planWith(dir: string, specText: string): Promise<{ run: CliRun; spec: string; out: string; ms: number }> {
  const spec = join(dir, "spec.yaml");
  writeFileSync(spec, specText);
  const out = join(dir, "plan.json");
  const started = Date.now();
  const run = await runCli(["plan", spec, "--model", longNameGraph(dir), "-o", out]);
  return { run, spec, out, ms: Date.now() - started };
}

// Nested quantifiers and the like. Each either ends in ordinary time or is stopped by the matching
// deadline (1 s by default) and reported as regex-timeout at the pattern.
const CATASTROPHIC = ["(a+)+b", "(.*)*x", "(a|aa)+$", "(x+x+)+y", "^(\\w+\\.)*\\w+!$", "(.*a){20}", "(.*\\.)*q_proj!", "((a+)|(b+))*c"];

for (const pattern of CATASTROPHIC) {
  test(`catastrophic ${pattern} ends`, async () => {
    const dir = scratch("regex-bomb");
    const { run, spec, out, ms } = await planWith(dir, `target_modules: '${pattern}'\n`);
    assert.ok(ms < 5000, `finished in ${ms} ms`);
    // Column 18 is the first character inside the quotes of `target_modules: '...'`.
    if (run.stderr.includes("regex-timeout")) {
      assertOneLineError(run, { file: spec, code: "regex-timeout", line: 1, col: 18, message: "catastrophic backtracking" });
    } else {
      assertOneLineError(run, { file: spec, code: "no-target-match", line: 1 });
    }
    assertNothingWritten(dir, out);
  });
}

test("catastrophic exclude_modules ends", async () => {
  const dir = scratch("regex-exclude");
  const { run, spec, out, ms } = await planWith(dir, "target_modules: [q_proj]\nexclude_modules: '(.*)*x'\n");
  assert.ok(ms < 5000, `finished in ${ms} ms`);
  assertOneLineError(run, { file: spec, code: "regex-timeout", line: 2, col: 19, message: "exclude_modules" });
  assertNothingWritten(dir, out);
});

// Offsets and messages of the regex-invalid rows are CPython's: `re.compile(pattern)` raises re.error
// with this message at this position (Python 3.12). The regex-unsupported row is valid Python that
// JavaScript cannot express. The column adds the offset to where the pattern text starts.
const INVALID: Array<[string, number, string, string]> = [
  ["a{2,1}", 2, "regex-invalid", "min repeat greater than max repeat"],
  ["a**", 2, "regex-invalid", "multiple repeat"],
  ["[z-a]", 1, "regex-invalid", "bad character range z-a"],
  ["(?P<1x>a)", 4, "regex-invalid", "bad character in group name '1x'"],
  ["(?P=nope)", 4, "regex-invalid", "unknown group name 'nope'"],
  ["x\\8", 2, "regex-invalid", "invalid group reference 8"],
  ["(?L)x", 3, "regex-invalid", "bad inline flags: cannot use 'L' flag with a str pattern"],
  ["(q_proj", 0, "regex-invalid", "missing ), unterminated subpattern"],
  ["\\p{L}", 0, "regex-invalid", "bad escape \\p"],
  ["(a)?(?(1)b|c)", 4, "regex-unsupported", "conditional groups"],
];

for (const [pattern, offset, code, message] of INVALID) {
  test(`invalid ${pattern} in each regex field`, async () => {
    const dir = scratch("regex-invalid");
    const sites: Array<[string, number, number]> = [
      [`target_modules: '${pattern}'\n`, 1, 18],
      [`target_modules: [q_proj]\nexclude_modules: '${pattern}'\n`, 2, 19],
      [`target_modules: [q_proj]\nmodules_to_save: ['${pattern}']\n`, 2, 20],
      [`target_modules: [q_proj]\nrank_pattern: {'${pattern}': 4}\n`, 2, 17],
      [`target_modules: [q_proj]\nlayers_to_transform: [0]\nlayers_pattern: '${pattern}'\n`, 3, 18],
    ];
    for (const [text, line, start] of sites) {
      const { run, spec, out } = await planWith(dir, text);
      assertOneLineError(run, { file: spec, code, line, col: start + offset, message });
      assert.ok(run.stderr.includes(`at offset ${offset}`), run.stderr);
      assertNothingWritten(dir, out);
    }
  });
}

test("lookbehind of varying width", async () => {
  const dir = scratch("regex-lookbehind");
  const { run, spec, out } = await planWith(dir, "target_modules: '(?<=a+)q_proj'\n");
  assertOneLineError(run, { file: spec, code: "regex-invalid", line: 1, message: "look-behind requires fixed-width pattern" });
  assertNothingWritten(dir, out);
});

test.run();

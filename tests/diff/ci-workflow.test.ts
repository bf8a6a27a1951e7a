/**
 * Runs the diff step of examples/ci/peftc-diff.yml in a scratch git repository, with a stand-in
 * `peftc` on PATH: `plan` copies the spec (which contains a plan) to `-o`, and `diff` runs the real diff
 * command on the two plan files.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { layeredAdapter, plan } from "./plans.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const workflow = parse(readFileSync(join(root, "examples/ci/peftc-diff.yml"), "utf8")) as {
  on: unknown;
  permissions: Record<string, string>;
  env: Record<string, string>;
  jobs: { diff: { steps: { id?: string; run?: string; uses?: string }[] } };
};
const diffStep = workflow.jobs.diff.steps.find((s) => s.id === "diff")!;

const runner = `
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createDiffCommand } from ${JSON.stringify(join(root, "compiler/cli/diff-command.ts"))};
const loadPlan = (path, { cwd }) => JSON.parse(readFileSync(resolve(cwd, path), "utf8"));
const compileSpecFile = () => { throw new Error("the stand-in peftc diffs plan files only"); };
const io = { stdout: process.stdout, stderr: process.stderr, env: {}, cwd: process.cwd() };
process.exitCode = await createDiffCommand({ loadPlan, compileSpecFile }).run(process.argv.slice(2), io);
`;

const fakePeftc = `#!/usr/bin/env bash
set -euo pipefail
command="$1"; shift
if [ "$command" = diff ]; then
  exec node --import "$TSX_LOADER" "$(dirname "$0")/diff-runner.mts" "$@"
fi
spec="$1"; shift
out=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift 2 ;; *) shift ;; esac
done
if grep -q BROKEN "$spec"; then
  echo "$spec:1:1: error[no-target-match]: target_modules matched no module" >&2
  exit 1
fi
cp "$spec" "$out"
echo "plan: 44 targets" >&2
`;

function scratchRepo(): { dir: string; git: (...args: string[]) => string; write: (path: string, text: string) => void } {
  const dir = mkdtempSync(join(tmpdir(), "peftc-ci-"));
  const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" };
  const git = (...args: string[]): string => execFileSync("git", ["-C", join(dir, "repo"), ...args], { env, encoding: "utf8" }).trim();
  mkdirSync(join(dir, "repo", "configs"), { recursive: true });
  mkdirSync(join(dir, "bin"));
  mkdirSync(join(dir, "runner-temp"));
  writeFileSync(join(dir, "bin", "peftc"), fakePeftc);
  chmodSync(join(dir, "bin", "peftc"), 0o755);
  writeFileSync(join(dir, "bin", "diff-runner.mts"), runner);
  git("init", "--quiet");
  const write = (path: string, text: string): void => writeFileSync(join(dir, "repo", path), text);
  return { dir, git, write };
}

function runStep(dir: string, baseSha: string, headSha: string): { status: number | null; comment: string; outputs: Record<string, string>; stderr: string } {
  const outputFile = join(dir, "github-output");
  writeFileSync(outputFile, "");
  const result = spawnSync("bash", ["-c", diffStep.run!], {
    cwd: join(dir, "repo"),
    encoding: "utf8",
    env: {
      ...process.env,
      ...workflow.env,
      PATH: `${join(dir, "bin")}:${process.env["PATH"]}`,
      // The repository under test is elsewhere, so tsx is passed by its resolved URL.
      TSX_LOADER: import.meta.resolve("tsx"),
      BASE_SHA: baseSha,
      HEAD_SHA: headSha,
      RUNNER_TEMP: join(dir, "runner-temp"),
      GITHUB_OUTPUT: outputFile,
    },
  });
  const outputs = Object.fromEntries(
    readFileSync(outputFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const comment = outputs["body"] ? readFileSync(outputs["body"], "utf8") : "";
  return { status: result.status, comment, outputs, stderr: result.stderr };
}

const planText = (r: number): string => JSON.stringify(plan([layeredAdapter({ r })]), null, 2);

test("workflow runs on pull requests and may comment", () => {
  assert.equal(Object.keys(workflow.on as object), ["pull_request"]);
  assert.is(workflow.permissions["pull-requests"], "write");
  assert.ok(workflow.jobs.diff.steps.some((s) => s.uses?.startsWith("actions/github-script@")));
});

test("diff step comments on changed specs only", () => {
  const { dir, git, write } = scratchRepo();
  try {
    write("configs/changed.peftc.yaml", planText(8));
    write("configs/deleted.peftc.yaml", planText(8));
    write("configs/same.peftc.yaml", planText(8));
    write("notes.txt", "one\n");
    git("add", ".");
    git("commit", "--quiet", "-m", "base");
    const base = git("rev-parse", "HEAD");

    write("configs/changed.peftc.yaml", planText(16));
    write("configs/added.peftc.yaml", planText(8));
    write("notes.txt", "two\n");
    git("rm", "--quiet", "configs/deleted.peftc.yaml");
    git("add", ".");
    git("commit", "--quiet", "-m", "head");
    const head = git("rev-parse", "HEAD");

    const run = runStep(dir, base, head);
    assert.is(run.status, 0, run.stderr);
    assert.is(run.outputs["specs"], "3");
    assert.is(run.outputs["failed"], "0", run.comment);
    assert.ok(run.comment.startsWith("<!-- peftc-diff -->\n"));
    assert.match(run.comment, "#### `configs/changed.peftc.yaml`\n\n+0 targets · 44 changed · −0 removed · trainable +1.4M (+0.13%)\n\n<details>");
    assert.match(run.comment, "#### `configs/added.peftc.yaml`\n\nNew spec:\n\n```\nplan: 44 targets\n```\n");
    assert.match(run.comment, "#### `configs/deleted.peftc.yaml`\n\nSpec deleted.\n");
    assert.not.match(run.comment, "same.peftc.yaml");
    assert.not.match(run.comment, "notes.txt");
    // The base worktree is removed again.
    assert.not.match(git("worktree", "list"), "runner-temp");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("diff step compares with the merge base", () => {
  const { dir, git, write } = scratchRepo();
  try {
    write("configs/ours.peftc.yaml", planText(8));
    write("configs/theirs.peftc.yaml", planText(8));
    git("add", ".");
    git("commit", "--quiet", "-m", "start");
    git("branch", "--quiet", "feature");

    // The base branch moves on after the pull request starts.
    write("configs/theirs.peftc.yaml", planText(4));
    git("commit", "--quiet", "-am", "base branch change");
    const baseTip = git("rev-parse", "HEAD");

    git("checkout", "--quiet", "feature");
    write("configs/ours.peftc.yaml", planText(16));
    git("commit", "--quiet", "-am", "pull request change");
    const head = git("rev-parse", "HEAD");

    const run = runStep(dir, baseTip, head);
    assert.is(run.status, 0, run.stderr);
    assert.is(run.outputs["specs"], "1");
    assert.match(run.comment, "#### `configs/ours.peftc.yaml`\n\n+0 targets · 44 changed");
    assert.not.match(run.comment, "theirs.peftc.yaml");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("diff step reports a spec that stopped compiling", () => {
  const { dir, git, write } = scratchRepo();
  try {
    write("configs/a.peftc.yaml", planText(8));
    git("add", ".");
    git("commit", "--quiet", "-m", "base");
    const base = git("rev-parse", "HEAD");
    write("configs/a.peftc.yaml", "BROKEN\n");
    git("commit", "--quiet", "-am", "head");
    const head = git("rev-parse", "HEAD");

    const run = runStep(dir, base, head);
    assert.is(run.status, 0, run.stderr);
    assert.is(run.outputs["failed"], "1");
    assert.match(run.comment, "Does not compile at the head revision:\n\n```\nconfigs/a.peftc.yaml:1:1: error[no-target-match]");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("diff step notes when no spec changed", () => {
  const { dir, git, write } = scratchRepo();
  try {
    write("configs/a.peftc.yaml", planText(8));
    git("add", ".");
    git("commit", "--quiet", "-m", "base");
    const base = git("rev-parse", "HEAD");
    write("README.md", "docs\n");
    git("add", ".");
    git("commit", "--quiet", "-m", "head");
    const run = runStep(dir, base, git("rev-parse", "HEAD"));
    assert.is(run.status, 0, run.stderr);
    assert.is(run.outputs["specs"], "0");
    assert.match(run.comment, "No spec changed.");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CliIo } from "../../compiler/cli/io.js";
import { validateCommand } from "../../compiler/cli/validate-command.js";
import { FIXTURES } from "./helpers.js";

interface Captured {
  io: CliIo;
  stdout: () => string;
  stderr: () => string;
}

function capture(cwd: string): Captured {
  let out = "";
  let err = "";
  return {
    io: { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env: {}, cwd },
    stdout: () => out,
    stderr: () => err,
  };
}

const dir = mkdtempSync(join(tmpdir(), "peftc-validate-"));

test("valid PEFT file", async () => {
  const c = capture(fileURLToPath(FIXTURES));
  const code = await validateCommand.run(["vit-base-food101/adapter_config.json"], c.io);
  assert.is(code, 0);
  assert.is(c.stdout(), "vit-base-food101/adapter_config.json: valid (1 adapter: default)\n");
  assert.is(c.stderr(), "");
});

test("valid spec with named adapters", async () => {
  writeFileSync(join(dir, "multi.yaml"), "lora_alpha: 16\nadapters:\n  a: {r: 4}\n  b: {r: 8}\n");
  const c = capture(dir);
  assert.is(await validateCommand.run(["multi.yaml"], c.io), 0);
  assert.is(c.stdout(), "multi.yaml: valid (2 adapters: a, b)\n");
});

test("warnings go to stderr", async () => {
  writeFileSync(join(dir, "adapter_config.json"), '{"peft_type": "LORA",\n "newer_field": 1}');
  const c = capture(dir);
  assert.is(await validateCommand.run(["adapter_config.json"], c.io), 0);
  assert.ok(c.stderr().startsWith("adapter_config.json:2:2: warning[unknown-field]: unknown field `newer_field`"), c.stderr());
  assert.is(c.stdout(), "adapter_config.json: valid (1 adapter: default)\n");
});

test("every error is printed, exit 1", async () => {
  writeFileSync(join(dir, "bad.yaml"), "r: 0\nlora_aplha: 16\n");
  const c = capture(dir);
  assert.is(await validateCommand.run(["bad.yaml"], c.io), 1);
  const lines = c.stderr().trimEnd().split("\n");
  assert.is(lines.length, 2);
  assert.ok(lines[0]!.startsWith("bad.yaml:1:4: error[invalid-value]: r: expected an integer >= 1"), lines[0]);
  assert.is(lines[1], "bad.yaml:2:1: error[unknown-field]: unknown field `lora_aplha`; did you mean `lora_alpha`?");
  assert.is(c.stdout(), "");
});

test("missing file", async () => {
  const c = capture(dir);
  assert.is(await validateCommand.run(["missing.yaml"], c.io), 1);
  assert.is(c.stderr(), "missing.yaml: error[spec-not-found]: cannot read spec missing.yaml: file not found\n");
});

test("usage errors", async () => {
  const c = capture(dir);
  assert.is(await validateCommand.run([], c.io), 1);
  assert.ok(c.stderr().includes("error[usage]"), c.stderr());
  const help = capture(dir);
  assert.is(await validateCommand.run(["--help"], help.io), 0);
  assert.ok(help.stdout().startsWith("Usage: peftc validate SPEC"));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

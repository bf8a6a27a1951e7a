/** Where `-o` writes when the output path is a symbolic link or a pipe rather than a regular file. */
import { spawn, spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runCli } from "./run.js";

const spec = new URL("../../examples/llama-3.2-3b/spec.yaml", import.meta.url).pathname;

test("-o through a symbolic link writes the link's target", async () => {
  const dir = mkdtempSync(join(tmpdir(), "peftc-out-"));
  writeFileSync(join(dir, "real.json"), "old\n");
  symlinkSync("real.json", join(dir, "link.json"));
  const run = await runCli(["plan", spec, "-o", join(dir, "link.json"), "-q"]);
  assert.is(run.code, 0, run.stderr);
  assert.ok(lstatSync(join(dir, "link.json")).isSymbolicLink(), "the link is kept");
  assert.is(readlinkSync(join(dir, "link.json")), "real.json");
  assert.match(readFileSync(join(dir, "real.json"), "utf8"), '"format": "peftc-plan/1"');
});

test("-o to a named pipe writes into the pipe and keeps it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "peftc-out-"));
  const fifo = join(dir, "plan.fifo");
  if (spawnSync("mkfifo", [fifo]).status !== 0) return; // no mkfifo on this system
  // A reader must hold the pipe open, or opening it for writing would wait forever.
  const reader = spawn("cat", [fifo]);
  let received = "";
  reader.stdout.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
  const done = new Promise((resolve) => reader.on("close", resolve));
  const run = await runCli(["plan", spec, "-o", fifo, "-q"]);
  // Had the pipe been replaced by a file, the reader would wait forever: stop it after 10 s.
  const stop = setTimeout(() => reader.kill(), 10_000);
  await done;
  clearTimeout(stop);
  assert.is(run.code, 0, run.stderr);
  assert.ok(lstatSync(fifo).isFIFO(), "the pipe is still a pipe");
  assert.match(received, '"format": "peftc-plan/1"');
});

test.run();

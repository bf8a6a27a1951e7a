#!/usr/bin/env node
// The `peftc` command. `train` runs in the TensorFlow.js runtime, every other command in the
// compiler; this file is the only place that loads both, so the compiler never imports the runtime.
const argv = process.argv.slice(2);

if (argv[0] === "train") {
  process.exitCode = await train(argv.slice(1));
} else {
  const { main } = await import("../dist/compiler/cli/main.js");
  process.exitCode = await main(argv);
}

/** `peftc train`: with `--spec SPEC`, compiles the spec against `--model` first. */
async function train(args) {
  const { runTrain } = await import("../dist/runtime/cli/train.js");
  const io = { stdout: process.stdout, stderr: process.stderr };
  const at = args.indexOf("--spec");
  if (at < 0) return runTrain(args, io);

  const specPath = args[at + 1];
  const rest = [...args.slice(0, at), ...args.slice(at + 2)];
  if (specPath === undefined) {
    process.stderr.write("error[usage]: --spec needs a SPEC path; see `peftc train --help`\n");
    return 1;
  }
  const { compileSpecFile } = await import("../dist/compiler/compile.js");
  const { PeftcError, formatDiagnostic } = await import("../dist/compiler/errors.js");
  const modelAt = rest.indexOf("--model");
  const model = modelAt >= 0 ? rest[modelAt + 1] : undefined;
  let plan;
  try {
    const result = compileSpecFile(specPath, model !== undefined ? { model } : {});
    for (const d of result.diagnostics) process.stderr.write(formatDiagnostic(d) + "\n");
    plan = result.plan;
  } catch (err) {
    if (!(err instanceof PeftcError)) throw err;
    process.stderr.write(formatDiagnostic(err.diagnostic) + "\n");
    return 1;
  }
  return runTrain(rest, io, { plan, planSource: specPath });
}

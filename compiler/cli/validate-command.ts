/** `peftc validate SPEC`: checks a spec against the schema without reading a model. */
import { parseArgs } from "node:util";
import { formatDiagnostic, PeftcError } from "../errors.js";
import { loadSpec, SpecError } from "../spec/load.js";
import type { CliIo, Command } from "./io.js";

const HELP = `Usage: peftc validate SPEC

Checks SPEC (a YAML spec or a PEFT adapter_config.json) against the spec schema:
field names, types and ranges. Does not read the model; use \`peftc plan\` for that.
Prints warnings to stderr and \`SPEC: valid (N adapters: NAMES)\` to stdout.
Exit status: 0 when the spec is valid, 1 otherwise.
`;

export const validateCommand: Command = {
  name: "validate",
  usage: "validate SPEC",
  summary: "check a spec against the schema (no model needed)",
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseArgs({ args, options: { help: { type: "boolean", short: "h" } }, allowPositionals: true });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      io.stderr.write("error[usage]: peftc validate takes exactly one SPEC path; see `peftc validate --help`\n");
      return 1;
    }
    const path = positionals[0]!;
    try {
      const spec = loadSpec(path, { cwd: io.cwd });
      for (const d of spec.diagnostics) io.stderr.write(formatDiagnostic(d) + "\n");
      const names = spec.adapters.map((a) => a.name).join(", ");
      const count = spec.adapters.length === 1 ? "1 adapter" : `${spec.adapters.length} adapters`;
      io.stdout.write(`${path}: valid (${count}: ${names})\n`);
      return 0;
    } catch (err) {
      // Every problem in the spec is listed, not only the first one that main() would print.
      if (err instanceof SpecError) {
        for (const d of err.diagnostics) io.stderr.write(formatDiagnostic(d) + "\n");
        return 1;
      }
      if (err instanceof PeftcError) {
        io.stderr.write(formatDiagnostic(err.diagnostic) + "\n");
        return 1;
      }
      throw err;
    }
  },
};

import { formatDiagnostic, PeftcError } from "../errors.js";
import { commands } from "./commands.js";
import { processIo, type CliIo, type Command } from "./io.js";
import { suggestKey } from "../match/suggest.js";

function usage(): string {
  const width = Math.max(...commands.map((c) => c.usage.length));
  const lines = commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`);
  // `train` runs in the TensorFlow.js runtime; bin/peftc.js dispatches it there.
  lines.push(`  ${"train --plan PLAN --model DIR ...".padEnd(width)}  fine-tune a plan's adapter with the TensorFlow.js runtime`);
  return ["Usage: peftc <command> [options]", "", "Commands:", ...lines, "", "Run `peftc <command> --help` for a command's options."].join("\n") + "\n";
}

/** Rewords Node's parseArgs errors, whose advice about `--` rarely applies, into one short sentence. */
function usageProblem(err: Error): string {
  const option = /'(-{1,2}[^'\s]+)[^']*'/.exec(err.message)?.[1];
  const code = (err as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) return `unknown option '${option}'`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option !== undefined) return `option '${option}' needs a value`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument: ${err.message.replace(/^Unexpected argument '([^']*)'.*$/s, "'$1'")}`;
  return err.message.replace(/\.$/, "");
}

/** Lists the long options in a command's help text, for a did-you-mean on a misspelled one. */
async function optionsOf(command: Command, io: CliIo): Promise<string[]> {
  let help = "";
  const sink = { write: (text: string) => (help += text) };
  await command.run(["--help"], { stdout: sink, stderr: sink, env: io.env, cwd: io.cwd });
  return [...new Set(help.match(/--[a-z][a-z-]*/g) ?? [])];
}

/** Runs the CLI and returns the exit code: 0 success, 1 error (`diff`: 2 when the plans differ). */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === "--version" || name === "-V") {
    const { readFileSync } = await import("node:fs");
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
    io.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    const names = [...commands.map((c) => c.name), "train"];
    io.stderr.write(`error[unknown-command]: unknown command '${name}'; commands are ${names.join(", ")}; see \`peftc --help\`\n`);
    return 1;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof PeftcError) {
      io.stderr.write(formatDiagnostic(err.diagnostic) + "\n");
      return 1;
    }
    const code = (err as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      let problem = usageProblem(err as Error);
      const option = /^unknown option '(--[^']+)'/.exec(problem)?.[1];
      const suggestion = option !== undefined ? suggestKey(option, await optionsOf(command, io)) : undefined;
      const help = `peftc ${name} --help`;
      problem += suggestion !== undefined ? `; did you mean '${suggestion}'? See \`${help}\`` : `; see \`${help}\``;
      io.stderr.write(`error[usage]: ${problem}\n`);
      return 1;
    }
    throw err;
  }
}

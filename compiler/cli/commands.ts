import { diffCommand } from "./diff-command.js";
import { explainCommand } from "./explain-command.js";
import { graphCommand } from "./graph-command.js";
import type { Command } from "./io.js";
import { planCommand } from "./plan-command.js";
import { validateCommand } from "./validate-command.js";

/** Every subcommand, in the order `peftc --help` lists them. */
export const commands: Command[] = [planCommand, diffCommand, explainCommand, graphCommand, validateCommand];

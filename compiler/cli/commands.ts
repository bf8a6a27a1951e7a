import type { Command } from "./io.js";

/** Every subcommand, in the order `peftc --help` lists them. */
export const commands: Command[] = [];

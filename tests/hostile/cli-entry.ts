/** Runs the CLI in a child process for tests that need a real process: signals, exit status. */
import { main } from "../../compiler/cli/main.js";

process.exitCode = await main(process.argv.slice(2));

/**
 * An error caused by the caller's input to the runtime: a plan that does not fit the model, an
 * adapter file that does not fit the plan. Its `diagnostic` has the same shape as the compiler's
 * Diagnostic, so the CLI prints it as one `error[code]: message` line. The runtime does not
 * import the compiler, so the class is its own.
 */
export class RuntimeInputError extends Error {
  readonly diagnostic: { severity: "error"; code: string; message: string; file?: string };
  /** Every problem found, one entry each, when the error collects several. */
  readonly problems: string[];

  constructor(code: string, message: string, options: { file?: string; problems?: string[] } = {}) {
    super(message);
    this.name = "RuntimeInputError";
    this.problems = options.problems ?? [];
    this.diagnostic = { severity: "error", code, message };
    if (options.file !== undefined) this.diagnostic.file = options.file;
  }
}

const LISTED_PROBLEMS = 20;

/** Builds one error that names every problem: `summary: p1; p2; ...` (the first 20, then a count). */
export function collectedError(code: string, summary: string, problems: string[], file?: string): RuntimeInputError {
  const listed = problems.slice(0, LISTED_PROBLEMS);
  const unlisted = problems.length - listed.length;
  const tail = unlisted > 0 ? `; and ${unlisted} more` : "";
  const options = file === undefined ? { problems } : { problems, file };
  return new RuntimeInputError(code, `${summary}: ${listed.join("; ")}${tail}`, options);
}

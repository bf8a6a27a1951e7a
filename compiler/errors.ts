/** A problem found in user input, reported as `file:line:col: severity[code]: message`. */
export interface Diagnostic {
  severity: "error" | "warning";
  /** Stable kebab-case identifier, part of the public contract (e.g. `no-target-match`). */
  code: string;
  message: string;
  /** Path of the input file the problem is in, as the user gave it. */
  file?: string;
  /** 1-based line and column in `file`, when known. */
  line?: number;
  col?: number;
  /** Adapter the diagnostic belongs to, for specs with several adapters. */
  adapter?: string;
}

/**
 * An error caused by user input. The CLI prints it as one line and exits with 1;
 * anything else that is thrown is a bug in peftc and keeps its stack trace.
 */
export class PeftcError extends Error {
  readonly diagnostic: Diagnostic;

  constructor(code: string, message: string, where: Omit<Diagnostic, "severity" | "code" | "message"> = {}) {
    super(message);
    this.name = "PeftcError";
    this.diagnostic = { severity: "error", code, message, ...where };
  }
}

/** Formats a diagnostic the way compilers do: `file:line:col: error[code]: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  let location = "";
  if (d.file !== undefined) {
    location = d.file;
    if (d.line !== undefined) {
      location += `:${d.line}`;
      if (d.col !== undefined) location += `:${d.col}`;
    }
    location += ": ";
  }
  const adapter = d.adapter !== undefined && d.adapter !== "default" ? ` (adapter ${d.adapter})` : "";
  return `${location}${d.severity}[${d.code}]: ${d.message}${adapter}`;
}

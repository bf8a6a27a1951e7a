/** Shared helpers for the spec tests. */
import * as assert from "uvu/assert";
import type { Diagnostic } from "../../compiler/errors.js";
import { PeftcError } from "../../compiler/errors.js";
import { parseSpec, SpecError } from "../../compiler/spec/load.js";

export const FIXTURES = new URL("../fixtures/adapters/", import.meta.url);

/** Parses `text` and returns every error diagnostic; fails the test when parsing succeeds. */
export function specErrors(text: string, file = "spec.yaml"): Diagnostic[] {
  try {
    parseSpec(text, file);
  } catch (err) {
    if (err instanceof SpecError) return err.diagnostics;
    if (err instanceof PeftcError) return [err.diagnostic];
    throw err;
  }
  assert.unreachable(`expected an error for:\n${text}`);
  return [];
}

/** Asserts one diagnostic's code, position and that its message names `field`. */
export function assertDiagnostic(d: Diagnostic | undefined, code: string, line: number, col: number, field: string): void {
  assert.ok(d, `expected a ${code} diagnostic`);
  assert.is(d!.code, code);
  assert.is(d!.line, line, `line of ${code}: ${d!.message}`);
  assert.is(d!.col, col, `column of ${code}: ${d!.message}`);
  assert.ok(d!.message.includes(field), `message names ${field}: ${d!.message}`);
}

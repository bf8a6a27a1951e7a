import { readFileSync } from "node:fs";

import { test } from "uvu";
import * as assert from "uvu/assert";

import { PeftcError } from "../../compiler/errors.js";
import { compilePyRegex, type MatchMode } from "../../compiler/match/pyregex.js";

// Random patterns and CPython's verdicts on them, recorded by fixtures/gen_pyregex_cases.py.
interface RecordedCase {
  pattern: string;
  /** Offset of Python's re.error, or null when Python gives no position. */
  errorOffset?: number | null;
  /** Per mode, "1" or "0" for each test string. */
  results?: Record<MatchMode, string>;
}

const fixture = JSON.parse(readFileSync(new URL("fixtures/pyregex-cases.json", import.meta.url), "utf8")) as {
  python: string;
  strings: string[];
  cases: RecordedCase[];
};

const MODES: MatchMode[] = ["fullmatch", "match", "search"];

function compileOrError(pattern: string, mode: MatchMode): ReturnType<typeof compilePyRegex> | PeftcError {
  try {
    return compilePyRegex(pattern, { mode, location: { line: 1, col: 1 } });
  } catch (error) {
    if (error instanceof PeftcError) return error;
    throw error;
  }
}

test("fixture has cases of both kinds", () => {
  assert.ok(fixture.cases.some((c) => c.errorOffset !== undefined));
  assert.ok(fixture.cases.some((c) => c.results !== undefined));
});

test("invalid random patterns at Python's offset", () => {
  for (const c of fixture.cases) {
    if (c.errorOffset === undefined) continue;
    const compiled = compileOrError(c.pattern, "fullmatch");
    assert.instance(compiled, PeftcError, c.pattern);
    const error = compiled as PeftcError;
    assert.is(error.diagnostic.code, "regex-invalid", `${c.pattern}: ${error.message}`);
    if (c.errorOffset !== null) assert.is(error.diagnostic.col, 1 + c.errorOffset, c.pattern);
  }
});

test("valid random patterns match like Python", () => {
  let compared = 0;
  for (const c of fixture.cases) {
    if (c.results === undefined) continue;
    for (const mode of MODES) {
      const compiled = compileOrError(c.pattern, mode);
      if (compiled instanceof PeftcError) {
        // JavaScript cannot express some constructs exactly; those must be reported, never mistranslated.
        assert.is(compiled.diagnostic.code, "regex-unsupported", `${c.pattern}: ${compiled.message}`);
        break;
      }
      const selected = new Set(compiled.selectMatching(fixture.strings));
      const actual = fixture.strings.map((_, i) => (selected.has(i) ? "1" : "0")).join("");
      assert.is(actual, c.results[mode], `${mode} ${JSON.stringify(c.pattern)} as ${compiled.regexp}`);
      assert.is(compiled.test(fixture.strings[0]!) ? "1" : "0", c.results[mode][0], `${mode} test()`);
      compared++;
    }
  }
  // Most valid patterns must be supported, or this test would prove little.
  assert.ok(compared > 600, `compared only ${compared} pattern-mode pairs`);
});

test.run();

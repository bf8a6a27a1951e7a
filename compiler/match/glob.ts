/**
 * Glob targets: `{glob: "model.layers.*.self_attn.{q,v}_proj"}` matched against fully-qualified
 * module names with `.` as the separator. `*` matches within one name segment, `**` matches any
 * number of segments (zero included), and braces, ranges (`{1..3}`), character classes and
 * extglobs work as in micromatch.
 *
 * micromatch works on `/`-separated paths, so both the glob and each name are rewritten: `.`
 * becomes `/`, and a literal `/` becomes U+FFFF so that it stays inside its segment.
 */
import { createRequire } from "node:module";
import { PeftcError } from "../errors.js";
import { DEFAULT_TIME_BUDGET, MatchTimeoutError, selectWithDeadline, type TimeBudget } from "./bounded.js";
import type { NameMatcher, PatternLocation } from "./pyregex.js";

type Micromatch = typeof import("micromatch");
let micromatchModule: Micromatch | null = null;

/** Loads micromatch on first use, because a spec without globs never needs it and loading it takes about 13 ms. */
function micromatch(): Micromatch {
  micromatchModule ??= createRequire(import.meta.url)("micromatch") as Micromatch;
  return micromatchModule;
}

// A noncharacter replaces `/` in names and globs, here and in the "slashed" name form of bounded.ts. NOTE: a
// name that contains U+FFFF itself matches a glob as if that character were `/`; Unicode
// reserves U+FFFF for internal use, so names should not have it.
const SLASH_STAND_IN = "\uffff";

// picomatch 2.3 turns a brace range into a character class by itself, so `{10..12}` would
// read as `[10-12]`. The braces library behind micromatch.braces compiles ranges correctly.
function expandRange(...args: unknown[]): string {
  const bounds = args.filter((arg): arg is string => typeof arg === "string");
  return micromatch().braces(`{${bounds.join("..")}}`)[0]!;
}

const MICROMATCH_OPTIONS = Object.freeze({ dot: true, strictBrackets: true, expandRange });

/** Reason a glob is invalid, with a 0-based offset into it. */
interface GlobProblem {
  message: string;
  offset: number;
}

const CLOSERS: Record<string, string> = { "[": "]", "{": "}", "(": ")" };

/**
 * Finds unbalanced brackets, braces and parentheses, and empty name segments, which micromatch
 * either rejects without a position or accepts as a glob that can never match a module name.
 */
function findProblem(glob: string): GlobProblem | null {
  if (glob === "") return { message: "empty glob", offset: 0 };
  const open: Array<{ char: string; offset: number }> = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "[") {
      const end = findClassEnd(glob, i);
      if (end < 0) return { message: `missing "]" for the "[" at offset ${i}`, offset: i };
      i = end;
    } else if (c === "{" || c === "(") {
      open.push({ char: c, offset: i });
    } else if (c === "}" || c === ")") {
      const top = open.pop();
      if (top === undefined || CLOSERS[top.char] !== c) {
        return { message: `unbalanced "${c}"`, offset: i };
      }
    } else if (c === "]") {
      return { message: `unbalanced "]"; write "\\]" for a literal bracket`, offset: i };
    } else if (c === "." && open.length === 0) {
      if (i === 0 || i === glob.length - 1 || glob[i + 1] === ".") {
        return { message: "empty name segment; module names never contain one", offset: i };
      }
    }
  }
  const unclosed = open.pop();
  if (unclosed !== undefined) {
    return { message: `missing "${CLOSERS[unclosed.char]}" for the "${unclosed.char}" at offset ${unclosed.offset}`, offset: unclosed.offset };
  }
  return null;
}

/** Offset of the `]` that closes the class opened at `start`, or -1. A `]` right after `[`, `[!` or `[^` is literal. */
function findClassEnd(glob: string, start: number): number {
  let i = start + 1;
  if (glob[i] === "!" || glob[i] === "^") i++;
  if (glob[i] === "]") i++;
  for (; i < glob.length; i++) {
    if (glob[i] === "\\") i++;
    else if (glob[i] === "]") return i;
  }
  return -1;
}

/** Rewrites a dotted glob to micromatch's `/` form, keeping `..` inside braces as a range. */
function toSlashGlob(glob: string): string {
  let out = "";
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "\\" && i + 1 < glob.length) {
      const next = glob[i + 1]!;
      // An escaped dot is still the separator, because no name segment contains a dot.
      if (next === "/") out += SLASH_STAND_IN;
      else if (next === ".") out += "/";
      else out += c + next;
      i++;
    } else if (c === "[" && glob[i + 1] === "!") {
      // Shells negate a class with `[!...]`, but picomatch 2.3 reads that `!` as a literal.
      out += "[^";
      i++;
    } else if (c === "{") {
      braces++;
      out += c;
    } else if (c === "}") {
      braces = Math.max(0, braces - 1);
      out += c;
    } else if (c === "." && braces > 0 && glob[i + 1] === ".") {
      out += "..";
      i++;
    } else if (c === ".") {
      out += "/";
    } else if (c === "/") {
      out += SLASH_STAND_IN;
    } else {
      out += c;
    }
  }
  return out;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

function globError(glob: string, problem: GlobProblem, location: PatternLocation): PeftcError {
  const { file, line, field, adapter, columnAt, singleLine = true } = location;
  let col = location.col;
  if (columnAt !== undefined) col = columnAt(problem.offset);
  else if (col !== undefined && singleLine) col += problem.offset;
  const where = field !== undefined ? ` in ${field}` : "";
  return new PeftcError("glob-invalid", `invalid glob ${quote(glob)}${where} at offset ${problem.offset}: ${problem.message}`, {
    file,
    line,
    col,
    adapter,
  });
}

/** A glob compiled once for matching module names. */
export class GlobMatcher implements NameMatcher {
  constructor(
    readonly glob: string,
    /** RegExp over names rewritten to the `/` form. */
    readonly regexp: RegExp,
    private readonly budget: TimeBudget,
    private readonly location: PatternLocation,
  ) {}

  test(name: string): boolean {
    return this.selectMatching([name]).length === 1;
  }

  selectMatching(names: readonly string[]): Uint32Array {
    try {
      return selectWithDeadline(this.regexp, names, this.budget, "slashed");
    } catch (error) {
      if (!(error instanceof MatchTimeoutError)) throw error;
      const { file, line, col, field, adapter } = this.location;
      const where = field !== undefined ? ` in ${field}` : "";
      throw new PeftcError("glob-timeout", `glob ${quote(this.glob)}${where} took longer than ${error.timeoutMs} ms to match; simplify it`, {
        file,
        line,
        col,
        adapter,
      });
    }
  }
}

/** Throws PeftcError `glob-invalid` when `glob` is not a valid dotted glob. compileGlob calls it first. */
export function checkGlob(glob: string, location: PatternLocation = {}): void {
  const problem = findProblem(glob);
  if (problem !== null) throw globError(glob, problem, location);
}

/**
 * Compiles a dotted glob. Throws PeftcError `glob-invalid` with the offset of the problem.
 *
 * @example
 * compileGlob("model.layers.*.self_attn.{q,v}_proj").test("model.layers.3.self_attn.v_proj") //=> true
 */
export function compileGlob(glob: string, location: PatternLocation = {}, budget: TimeBudget = DEFAULT_TIME_BUDGET): GlobMatcher {
  checkGlob(glob, location);
  let regexp: RegExp;
  try {
    regexp = micromatch().makeRe(toSlashGlob(glob), MICROMATCH_OPTIONS);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw globError(glob, { message: error.message, offset: 0 }, location);
  }
  return new GlobMatcher(glob, regexp, budget, location);
}

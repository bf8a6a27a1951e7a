/**
 * Python `re` patterns, translated to JavaScript RegExps that match the same strings.
 *
 * Users copy patterns from Python PEFT configs, so a pattern means what Python's `re` makes of
 * it: `$` also matches before a final newline, `.` excludes only `\n`, `\d`/`\w`/`\s`/`\b` are
 * Unicode-aware, `(?P<name>...)` and `(?P=name)` name groups, `{,n}` is a repeat. The parser
 * (pyregex-parse.ts) accepts exactly Python's grammar. This file emits a RegExp with the `u`
 * flag in which every construct is spelled out, so that no JavaScript default leaks in.
 *
 * The `v` flag would allow nested classes, but V8 11.3 (Node 20) mishandles it: a negated class
 * in a lookaround inside a repeated group never matches (`/(?:x(?=[^\n]))+/v.test("xy")` is
 * false). So a class with `\D`, `\W` or `\S` among other items becomes an alternation or a
 * lookahead instead.
 */
import { PeftcError } from "../errors.js";
import { DEFAULT_TIME_BUDGET, MatchTimeoutError, selectWithDeadline, type TimeBudget } from "./bounded.js";
import { PatternError, parsePyRegex, widthOf, type Category, type ClassItem, type Node, type ParsedPattern } from "./pyregex-parse.js";

/** Python's `re.fullmatch`, `re.match` (anchored at the start) and `re.search`. */
export type MatchMode = "fullmatch" | "match" | "search";

/** Position of a pattern in the user's input, for error messages. */
export interface PatternLocation {
  file?: string;
  /** 1-based line and column of the pattern's first character. */
  line?: number;
  col?: number;
  /** Spec field the pattern comes from, such as `target_modules` or `rank_pattern`. */
  field?: string;
  adapter?: string;
  /**
   * Maps a code-point offset in the pattern to a 1-based column, for a pattern written as a
   * quoted scalar with escapes. Without it the column is `col + offset` when the pattern sits
   * on one line, and `col` otherwise.
   */
  columnAt?: (offset: number) => number;
  /** Default: true. Set to false for a pattern that spans several lines in the file. */
  singleLine?: boolean;
}

export interface CompileOptions {
  /** Default: "fullmatch". */
  mode?: MatchMode;
  /**
   * Python pattern text around the user's pattern, as PEFT builds it: for rank_pattern
   * `prefix: "(.*\\.)?("`, `suffix: ")$"` with mode "match". The three parts are parsed as one
   * pattern, the way Python parses them, but errors point into the user's text.
   */
  prefix?: string;
  suffix?: string;
  location?: PatternLocation;
  budget?: TimeBudget;
}

/** A compiled pattern that selects module names. */
export interface NameMatcher {
  /** Whether `name` matches. */
  test(name: string): boolean;
  /** Indices, ascending, of the names that match. */
  selectMatching(names: readonly string[]): Uint32Array;
}

// Python's \s for str patterns: the characters for which str.isspace() is true.
const PY_SPACE = "\\t\\n\\v\\f\\r\\u{1c}-\\u{1f} \\u{85}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}\\u{2029}\\u{202f}\\u{205f}\\u{3000}";
// Python's \w for str patterns is str.isalnum() plus "_": Unicode letters and numbers.
const PY_WORD = "\\p{L}\\p{N}_";
const ASCII_SPACE = "\\t\\n\\v\\f\\r ";
const ASCII_WORD = "a-zA-Z0-9_";

// Feature check: scoped modifiers such as (?i:...) arrived in V8 12.5 (Node 23); Node 20 lacks them.
// NOTE: the tests run on Node 20, so the branch that emits modifiers has not been run.
const SUPPORTS_MODIFIERS = ((): boolean => {
  try {
    new RegExp("(?i:a)", "u");
    return true;
  } catch {
    return false;
  }
})();

function escapeCodePoint(cp: number): string {
  const c = String.fromCodePoint(cp);
  if (/^[A-Za-z0-9_]$/.test(c)) return c;
  return `\\u{${cp.toString(16)}}`;
}

function categoryBody(name: Category, ascii: boolean): { body: string; negated: boolean } {
  const lower = name.toLowerCase();
  const negated = name !== lower;
  if (lower === "d") return { body: ascii ? "0-9" : "\\p{Nd}", negated };
  if (lower === "w") return { body: ascii ? ASCII_WORD : PY_WORD, negated };
  return { body: ascii ? ASCII_SPACE : PY_SPACE, negated };
}

function categoryClass(name: Category, ascii: boolean): string {
  const { body, negated } = categoryBody(name, ascii);
  return negated ? `[^${body}]` : `[${body}]`;
}

/**
 * Emits a character class. Items go into one JavaScript class, except negated categories
 * (`\D`, `\W`, `\S`), which JavaScript cannot put inside a class without the `v` flag:
 * `[a\W]` becomes `(?:[a]|[^W])`, and `[^a\W]` becomes `(?![a])[W]`.
 */
function emitClass(node: Extract<Node, { type: "class" }>): string {
  let plain = "";
  const negatedBodies: string[] = [];
  for (const item of node.items) {
    if (item.type === "char") plain += escapeCodePoint(item.cp);
    else if (item.type === "range") plain += `${escapeCodePoint(item.lo)}-${escapeCodePoint(item.hi)}`;
    else {
      const { body, negated } = categoryBody(item.name, node.ascii);
      if (negated) negatedBodies.push(body);
      else plain += body;
    }
  }

  if (negatedBodies.length === 0) return `[${node.negated ? "^" : ""}${plain}]`;
  if (!node.negated) {
    const parts = negatedBodies.map((body) => `[^${body}]`);
    if (plain !== "") parts.unshift(`[${plain}]`);
    return `(?:${parts.join("|")})`;
  }
  // Not in `plain` and not in any negated category: in every category's positive set.
  const exclude = plain !== "" ? `(?![${plain}])` : "";
  const last = negatedBodies.pop()!;
  return `(?:${exclude}${negatedBodies.map((body) => `(?=[${body}])`).join("")}[${last}])`;
}

/** Returns the other case of an ASCII letter, or null for any other code point. */
function otherAsciiCase(cp: number): number | null {
  if (cp >= 0x61 && cp <= 0x7a) return cp - 0x20;
  if (cp >= 0x41 && cp <= 0x5a) return cp + 0x20;
  return null;
}

/** Adds the other ASCII case of every letter a class contains. */
function foldClassItems(node: Extract<Node, { type: "class" }>): Extract<Node, { type: "class" }> {
  const items: ClassItem[] = [...node.items];
  for (const item of node.items) {
    if (item.type === "char") {
      const other = otherAsciiCase(item.cp);
      if (other !== null) items.push({ type: "char", cp: other });
    } else if (item.type === "range") {
      for (const [from, to, shift] of [[0x61, 0x7a, -0x20], [0x41, 0x5a, 0x20]] as const) {
        const lo = Math.max(item.lo, from);
        const hi = Math.min(item.hi, to);
        if (lo <= hi) items.push({ type: "range", lo: lo + shift, hi: hi + shift });
      }
    }
  }
  return { ...node, items };
}

/** Translates a parse tree to RegExp source, numbering JavaScript groups as it goes. */
class Emitter {
  /** JavaScript group number of each Python group, by Python group number. */
  readonly groupMap: number[] = [];
  private jsGroups = 0;

  constructor(
    private ignoreCase: boolean,
    /**
     * Whether case is folded for ASCII letters only, as Python does under `(?ai)`. JavaScript's
     * `i` flag folds all of Unicode (`k` matches the Kelvin sign), so the emitter spells out
     * `[kK]` instead and the RegExp has no `i` flag.
     */
    private readonly asciiFold: boolean,
  ) {}

  emit(node: Node): string {
    switch (node.type) {
      case "seq":
        return node.items.map((item) => this.emit(item)).join("");
      case "alt":
        return `(?:${node.branches.map((b) => this.emit(b)).join("|")})`;
      case "char":
        return this.asciiFold ? this.emitFoldedChar(node.cp) : escapeCodePoint(node.cp);
      case "any":
        return node.dotAll ? "[^]" : "[^\\n]";
      case "class":
        return emitClass(this.asciiFold ? foldClassItems(node) : node);
      case "category":
        return categoryClass(node.name, node.ascii);
      case "anchor":
        return this.emitAnchor(node.kind, node.ascii);
      case "group":
        return this.emitGroup(node);
      case "atomic":
        return this.emitAtomic(() => this.emit(node.body));
      case "look":
        return `(?${node.behind ? "<" : ""}${node.negated ? "!" : "="}${this.emit(node.body)})`;
      case "repeat":
        return this.emitRepeat(node);
      case "backref":
        if (this.asciiFold) {
          throw new PatternError("unsupported", "backreferences under (?ai) are not supported, because JavaScript cannot compare them ignoring ASCII case only", node.offset);
        }
        // The group keeps a following digit from reading as part of the group number.
        return `(?:\\${this.groupMap[node.index]})`;
    }
  }

  private emitFoldedChar(cp: number): string {
    const other = otherAsciiCase(cp);
    return other === null ? escapeCodePoint(cp) : `[${escapeCodePoint(cp)}${escapeCodePoint(other)}]`;
  }

  private emitAnchor(kind: Extract<Node, { type: "anchor" }>["kind"], ascii: boolean): string {
    const word = ascii ? ASCII_WORD : PY_WORD;
    switch (kind) {
      case "start":
      case "string-start":
        return "^";
      case "string-end":
        return "$";
      case "end":
        // Without re.MULTILINE, Python's $ also matches just before a newline that ends the string.
        return "(?=\\n?$)";
      case "line-start":
        return "(?<![^\\n])";
      case "line-end":
        return "(?=\\n|$)";
      case "boundary":
        return `(?:(?<=[${word}])(?![${word}])|(?<![${word}])(?=[${word}]))`;
      case "non-boundary":
        // Python's \B never matches in an empty string.
        return `(?:(?<=[${word}])(?=[${word}])|(?<![${word}])(?![${word}])(?:(?=[^])|(?<=[^])))`;
    }
  }

  private emitGroup(node: Extract<Node, { type: "group" }>): string {
    if (node.ignoreCase !== null && node.ignoreCase !== this.ignoreCase) {
      if (!SUPPORTS_MODIFIERS) {
        const written = node.ignoreCase ? "(?i:...)" : "(?-i:...)";
        throw new PatternError("unsupported", `scoped case flag ${written} is not supported by this Node.js version; set (?i) for the whole pattern instead`, node.offset);
      }
      const outer = this.ignoreCase;
      this.ignoreCase = node.ignoreCase;
      try {
        return `(?${node.ignoreCase ? "i" : "-i"}:${this.emit(node.body)})`;
      } finally {
        this.ignoreCase = outer;
      }
    }
    if (node.index === null) return `(?:${this.emit(node.body)})`;
    const js = ++this.jsGroups;
    const body = this.emit(node.body);
    this.groupMap[node.index] = js;
    return `(${body})`;
  }

  // JavaScript has no atomic groups, but a lookahead is atomic: `(?=(X))\N` matches what X
  // first matches and never backtracks into it, which is exactly `(?>X)`.
  private emitAtomic(emitBody: () => string): string {
    const js = ++this.jsGroups;
    return `(?:(?=(${emitBody()}))\\${js})`;
  }

  private emitRepeat(node: Extract<Node, { type: "repeat" }>): string {
    const { min, max } = node;
    let quantifier: string;
    if (min === 0 && max === Infinity) quantifier = "*";
    else if (min === 1 && max === Infinity) quantifier = "+";
    else if (min === 0 && max === 1) quantifier = "?";
    else if (max === Infinity) quantifier = `{${min},}`;
    else if (min === max) quantifier = `{${min}}`;
    else quantifier = `{${min},${max}}`;
    if (node.mode === "lazy") quantifier += "?";

    const emitQuantified = (): string => {
      const body = this.emit(node.body);
      const single = ["char", "any", "class", "category", "group"].includes(node.body.type);
      return `${single ? body : `(?:${body})`}${quantifier}`;
    };
    return node.mode === "possessive" ? this.emitAtomic(emitQuantified) : emitQuantified();
  }
}

/**
 * Rejects backreferences to a group that may not have taken part in the match. Python fails
 * such a reference; JavaScript matches it as an empty string. A group may be skipped when it
 * sits, below the nearest node it shares with the reference, in one branch of an alternation,
 * in a repeat that allows zero times, or in a negative lookaround.
 */
function checkBackreferences(root: Node): void {
  const groupPaths = new Map<number, Node[]>();
  const walk = (node: Node, path: Node[]): void => {
    const nodePath = [...path, node];
    if (node.type === "backref") {
      const groupPath = groupPaths.get(node.index)!;
      let shared = 0;
      while (shared < groupPath.length && shared < nodePath.length && groupPath[shared] === nodePath[shared]) shared++;
      for (let i = Math.max(shared, 1); i < groupPath.length; i++) {
        const parent = groupPath[i - 1]!;
        const child = groupPath[i]!;
        const optional =
          parent.type === "alt" || (child.type === "repeat" && child.min === 0) || (child.type === "look" && child.negated);
        if (optional) {
          throw new PatternError("unsupported", `backreference to group ${node.index}, which may not take part in the match (JavaScript would match it as empty)`, node.offset);
        }
      }
      return;
    }
    if (node.type === "seq") node.items.forEach((item) => walk(item, nodePath));
    else if (node.type === "alt") node.branches.forEach((branch) => walk(branch, nodePath));
    else if ("body" in node) walk(node.body, nodePath);
    if (node.type === "group" && node.index !== null) groupPaths.set(node.index, nodePath);
  };
  walk(root, []);
}

/**
 * Rejects, inside an atomic group or a possessive repeat, a repeat of something that can match
 * the empty string. Python accepts an empty iteration where JavaScript rejects it and backtracks
 * for a longer one, so the two engines find different first matches, and atomic grouping keeps
 * whichever came first: `(a*?x*+)?+` never matches "a" in Python but does in JavaScript.
 */
function checkAtomicRepeats(root: Node): void {
  const walk = (node: Node, atomic: boolean): void => {
    if (node.type === "repeat") {
      const inside = atomic || node.mode === "possessive";
      if (inside && node.max > node.min && widthOf(node.body, new Map()).min === 0) {
        throw new PatternError("unsupported", "a repeat of something that can match the empty string, inside an atomic group or possessive repeat, has no exact JavaScript equivalent", node.offset);
      }
      walk(node.body, inside);
      return;
    }
    if (node.type === "seq") node.items.forEach((item) => walk(item, atomic));
    else if (node.type === "alt") node.branches.forEach((branch) => walk(branch, atomic));
    else if ("body" in node) walk(node.body, atomic || node.type === "atomic");
  };
  walk(root, false);
}

/** RegExp source and flags with the meaning of a Python pattern under a match mode. */
export interface Translation {
  source: string;
  flags: string;
  parsed: ParsedPattern;
  /** JavaScript group number of each Python group, by Python group number (index 0 unused). */
  groupMap: readonly number[];
}

/** Translates a Python pattern without location handling; throws PatternError. */
export function translatePyRegex(pattern: string, mode: MatchMode = "fullmatch"): Translation {
  const parsed = parsePyRegex(pattern);
  checkBackreferences(parsed.root);
  checkAtomicRepeats(parsed.root);
  const asciiFold = parsed.globalFlags.i && parsed.globalFlags.a;
  const ignoreCase = parsed.globalFlags.i && !asciiFold;
  const emitter = new Emitter(ignoreCase, asciiFold);
  const body = emitter.emit(parsed.root);
  const flags = ignoreCase ? "iu" : "u";
  const { groupMap } = emitter;
  // Without the m flag, JavaScript's ^ and $ match only at the ends of the input.
  if (mode === "fullmatch") return { source: `^(?:${body})$`, flags, parsed, groupMap };
  if (mode === "match") return { source: `^(?:${body})`, flags, parsed, groupMap };
  return { source: body, flags, parsed, groupMap };
}

// A pattern whose matching time is at most cubic in the name length runs without a deadline on
// names up to this length. Anything else goes through the bounded runner.
const DIRECT_NAME_LENGTH = 256;
const DIRECT_MAX_VARIABLE_REPEATS = 2;

/**
 * Reports whether backtracking is at worst polynomial of low degree: no backreferences, no
 * repeat of something that itself repeats or alternates, and at most two repeats of variable count.
 */
function isLowRisk(root: Node): boolean {
  let variable = 0;
  let safe = true;
  const visit = (node: Node, insideRepeat: boolean): void => {
    if (node.type === "backref") safe = false;
    if (node.type === "alt" && insideRepeat) safe = false;
    if (node.type === "repeat") {
      if (insideRepeat && node.max > node.min) safe = false;
      if (node.max > node.min) variable++;
      visit(node.body, insideRepeat || node.max > 1);
      return;
    }
    if (node.type === "seq") node.items.forEach((item) => visit(item, insideRepeat));
    else if (node.type === "alt") node.branches.forEach((branch) => visit(branch, insideRepeat));
    else if ("body" in node) visit(node.body, insideRepeat);
  };
  visit(root, false);
  return safe && variable <= DIRECT_MAX_VARIABLE_REPEATS;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

// Module names in messages are cut to this many characters, so a huge name cannot flood the output.
const MAX_QUOTED_NAME = 80;

function quoteName(name: string): string {
  return quote(name.length > MAX_QUOTED_NAME ? `${name.slice(0, MAX_QUOTED_NAME)}...` : name);
}

/** A Python pattern compiled for one match mode. */
export class PyRegex implements NameMatcher {
  private readonly lowRisk: boolean;

  constructor(
    /** The user's pattern, without prefix and suffix. */
    readonly pattern: string,
    /** The whole Python pattern that was compiled. */
    readonly pythonSource: string,
    readonly mode: MatchMode,
    readonly regexp: RegExp,
    private readonly translation: Translation,
    private readonly budget: TimeBudget,
    private readonly location: PatternLocation,
  ) {
    this.lowRisk = isLowRisk(translation.parsed.root);
  }

  /** Python group number of each named group. */
  get groupNames(): ReadonlyMap<string, number> {
    return this.translation.parsed.groupNames;
  }

  test(name: string): boolean {
    if (this.lowRisk && name.length <= DIRECT_NAME_LENGTH) return this.regexp.test(name);
    return this.selectMatching([name]).length === 1;
  }

  /**
   * Returns the match as Python numbers its groups: index 0 is the whole match, index i is
   * group i, undefined for a group that took no part. Returns null when `name` does not match.
   *
   * @example
   * compilePyRegex(".*?\\.layers\\.(\\d+)\\.", { mode: "match" }).exec("model.layers.7.mlp")?.[1] //=> "7"
   */
  exec(name: string): Array<string | undefined> | null {
    // A bounded test comes first. exec then backtracks exactly as far as that test did, because
    // both stop at the same first match, so it cannot hang either.
    if (!this.test(name)) return null;
    const match = this.regexp.exec(name)!;
    const groups: Array<string | undefined> = [match[0]];
    for (let i = 1; i <= this.translation.parsed.groupCount; i++) groups.push(match[this.translation.groupMap[i]!]);
    return groups;
  }

  selectMatching(names: readonly string[]): Uint32Array {
    try {
      return selectWithDeadline(this.regexp, names, this.budget);
    } catch (error) {
      if (!(error instanceof MatchTimeoutError)) throw error;
      const { file, line, col, field, adapter } = this.location;
      const where = field !== undefined ? ` in ${field}` : "";
      throw new PeftcError(
        "regex-timeout",
        `regex ${quote(this.pattern)}${where} took longer than ${error.timeoutMs} ms on names starting at ${quoteName(error.firstName)} (catastrophic backtracking); rewrite it without nested repeats such as (a+)+ or (.*x)*`,
        { file, line, col, adapter },
      );
    }
  }
}

/** Turns a PatternError at `offset` in the whole pattern into a PeftcError located in the user's text. */
function toPeftcError(error: PatternError, pattern: string, prefixLength: number, location: PatternLocation): PeftcError {
  const length = Array.from(pattern).length;
  const offset = Math.min(Math.max(error.offset - prefixLength, 0), length);
  const { file, line, field, adapter, columnAt, singleLine = true } = location;
  let col = location.col;
  if (columnAt !== undefined) col = columnAt(offset);
  else if (col !== undefined && singleLine) col += offset;

  const code = error.kind === "invalid" ? "regex-invalid" : "regex-unsupported";
  const summary = error.kind === "invalid" ? "invalid regex" : "unsupported regex construct";
  const where = field !== undefined ? ` in ${field}` : "";
  return new PeftcError(code, `${summary} ${quote(pattern)}${where} at offset ${offset}: ${error.message}`, { file, line, col, adapter });
}

/**
 * Compiles a Python pattern. Throws PeftcError `regex-invalid` where Python's `re.compile`
 * would fail, and `regex-unsupported` where JavaScript cannot express the same meaning.
 *
 * @example
 * compilePyRegex("^(?!.*vision).*q_proj", { mode: "match" }).test("model.layers.0.self_attn.q_proj") //=> true
 */
export function compilePyRegex(pattern: string, options: CompileOptions = {}): PyRegex {
  const { mode = "fullmatch", prefix = "", suffix = "", location = {}, budget = DEFAULT_TIME_BUDGET } = options;
  const pythonSource = prefix + pattern + suffix;
  let translation: Translation;
  try {
    translation = translatePyRegex(pythonSource, mode);
  } catch (error) {
    if (error instanceof PatternError) throw toPeftcError(error, pattern, Array.from(prefix).length, location);
    throw error;
  }
  const regexp = new RegExp(translation.source, translation.flags);
  return new PyRegex(pattern, pythonSource, mode, regexp, translation, budget, location);
}

/**
 * Parser for Python `re` patterns (str patterns, the grammar of CPython 3.11's `re._parser`).
 *
 * It accepts and rejects the same patterns as Python and reports errors at the same 0-based
 * offset (counted in code points, as Python counts them). The result is a syntax tree with the
 * flags that apply at each node already resolved, which `pyregex.ts` turns into a JavaScript RegExp.
 */

/** Inline flags of a Python pattern. `a` is re.ASCII; re.UNICODE is the default for str patterns. */
export interface PyFlags {
  i: boolean;
  m: boolean;
  s: boolean;
  x: boolean;
  a: boolean;
}

export type Category = "d" | "D" | "s" | "S" | "w" | "W";

export type ClassItem =
  | { type: "char"; cp: number }
  | { type: "range"; lo: number; hi: number }
  | { type: "category"; name: Category };

export type Node =
  | { type: "seq"; items: Node[] }
  | { type: "alt"; branches: Node[] }
  | { type: "char"; cp: number }
  | { type: "any"; dotAll: boolean }
  | { type: "class"; negated: boolean; items: ClassItem[]; ascii: boolean }
  | { type: "category"; name: Category; ascii: boolean }
  | { type: "anchor"; kind: "start" | "end" | "line-start" | "line-end" | "string-start" | "string-end" | "boundary" | "non-boundary"; ascii: boolean }
  /** `index` is the 1-based Python group number, or null for a non-capturing group. */
  | { type: "group"; index: number | null; body: Node; ignoreCase: boolean | null; offset: number }
  | { type: "atomic"; body: Node; offset: number }
  | { type: "look"; behind: boolean; negated: boolean; body: Node; offset: number }
  | { type: "repeat"; min: number; max: number; mode: "greedy" | "lazy" | "possessive"; body: Node; offset: number }
  | { type: "backref"; index: number; offset: number };

export interface ParsedPattern {
  root: Node;
  /** Flags set by `(?...)` at the start of the pattern. */
  globalFlags: PyFlags;
  groupCount: number;
  groupNames: Map<string, number>;
}

/** Why a pattern cannot be used: Python rejects it, or JavaScript cannot express its meaning. */
export class PatternError extends Error {
  constructor(
    readonly kind: "invalid" | "unsupported",
    message: string,
    /** 0-based code-point offset in the pattern. */
    readonly offset: number,
  ) {
    super(message);
    this.name = "PatternError";
  }
}

// Python's re.MAXREPEAT on 64-bit builds; a count at or above it overflows.
const MAX_REPEAT = 4294967295;
const MAX_GROUPS = 1073741823;
// Python 3.11 compiles 400 nested groups and fails with RecursionError at 1000; peftc stops at
// 400 so that its own recursive parser and emitter stay far from the stack limit.
const MAX_NESTING = 400;
const WHITESPACE = new Set([" ", "\t", "\n", "\r", "\v", "\f"]);
const SPECIAL_CHARS = new Set([".", "\\", "[", "{", "(", ")", "*", "+", "?", "^", "$", "|"]);
const FLAG_LETTERS = new Set(["i", "L", "m", "s", "x", "a", "t", "u"]);
const SIMPLE_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92 };
// Number of hex digits after \x, \u and \U.
const HEX_ESCAPE_DIGITS: Record<string, number> = { x: 2, u: 4, U: 8 };

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "7";
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

function isAsciiLetter(c: string): boolean {
  return /^[A-Za-z]$/.test(c);
}

// Python's str.isidentifier(), close enough for group names: ID_Start followed by ID_Continue.
function isIdentifier(name: string): boolean {
  return /^[\p{ID_Start}_][\p{ID_Continue}]*$/u.test(name);
}

/** Widths a node can match, as Python computes them for its look-behind check. */
interface Width {
  min: number;
  max: number;
}

/** Parses a Python str pattern; throws PatternError. */
export function parsePyRegex(pattern: string): ParsedPattern {
  return new Parser(pattern).parse();
}

class Parser {
  private readonly chars: string[];
  private pos = 0;
  private flags: PyFlags = { i: false, m: false, s: false, x: false, a: false };
  private globalFlags: PyFlags = { ...this.flags };
  private groupCount = 0;
  private readonly groupNames = new Map<string, number>();
  /** Width of each closed group, by Python group number; a missing entry is an open group. */
  private readonly groupWidths = new Map<number, Width>();
  /** First group number opened inside the innermost look-behind, or null outside look-behinds. */
  private lookbehindGroups: number | null = null;

  constructor(pattern: string) {
    this.chars = Array.from(pattern);
  }

  parse(): ParsedPattern {
    const root = this.parseAlternation(this.flags.x, 0);
    if (this.pos < this.chars.length) {
      throw this.invalid("unbalanced parenthesis", this.pos);
    }
    return { root, globalFlags: this.globalFlags, groupCount: this.groupCount, groupNames: this.groupNames };
  }

  private invalid(message: string, offset: number): PatternError {
    return new PatternError("invalid", message, offset);
  }

  private unsupported(message: string, offset: number): PatternError {
    return new PatternError("unsupported", message, offset);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private accept(c: string): boolean {
    if (this.chars[this.pos] === c) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Reads up to `max` characters that satisfy `test`. */
  private readWhile(max: number, test: (c: string | undefined) => boolean): string {
    let text = "";
    while (text.length < max && test(this.peek())) text += this.chars[this.pos++];
    return text;
  }

  /** Reads a name up to `terminator`, as Python's Tokenizer.getuntil does. */
  private readUntil(terminator: string, missingLabel: string): string {
    const start = this.pos;
    let name = "";
    for (;;) {
      const c = this.chars[this.pos];
      if (c === undefined) {
        if (name === "") throw this.invalid(`missing ${missingLabel}`, this.pos);
        throw this.invalid(`missing ${terminator}, unterminated name`, start);
      }
      this.pos++;
      if (c === terminator) {
        if (name === "") throw this.invalid(`missing ${missingLabel}`, this.pos - 1);
        return name;
      }
      name += c;
    }
  }

  private parseAlternation(verbose: boolean, depth: number): Node {
    const branches: Node[] = [];
    for (;;) {
      branches.push(this.parseSequence(verbose, depth, depth === 0 && branches.length === 0));
      if (!this.accept("|")) break;
      if (depth === 0) verbose = this.flags.x;
    }
    return branches.length === 1 ? branches[0]! : { type: "alt", branches };
  }

  private parseSequence(verbose: boolean, depth: number, first: boolean): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === "|" || c === ")") break;
      const start = this.pos++;

      if (verbose && WHITESPACE.has(c)) continue;
      if (verbose && c === "#") {
        while (this.pos < this.chars.length && this.chars[this.pos++] !== "\n");
        continue;
      }

      if (c === "\\") {
        items.push(this.parseEscape(start));
      } else if (!SPECIAL_CHARS.has(c)) {
        items.push({ type: "char", cp: c.codePointAt(0)! });
      } else if (c === "[") {
        items.push(this.parseClass(start));
      } else if (c === "*" || c === "+" || c === "?" || c === "{") {
        if (!this.parseRepeat(c, start, items)) items.push({ type: "char", cp: c.codePointAt(0)! });
      } else if (c === ".") {
        items.push({ type: "any", dotAll: this.flags.s });
      } else if (c === "^") {
        items.push({ type: "anchor", kind: this.flags.m ? "line-start" : "start", ascii: false });
      } else if (c === "$") {
        items.push({ type: "anchor", kind: this.flags.m ? "line-end" : "end", ascii: false });
      } else if (c === "(") {
        // Global flag groups and comments leave `items` empty, so more global flags may follow them.
        const node = this.parseParen(start, verbose, depth, first && items.length === 0);
        if (node === "global-flags") {
          verbose = this.flags.x;
          continue;
        }
        if (node !== null) items.push(node);
      }
    }
    return items.length === 1 ? items[0]! : { type: "seq", items };
  }

  // Returns false when `{` does not start a valid repeat count, so it is a literal.
  private parseRepeat(c: string, start: number, items: Node[]): boolean {
    let min = 0;
    let max = Infinity;
    if (c === "?") max = 1;
    else if (c === "+") min = 1;
    else if (c === "{") {
      if (this.peek() === "}") return false;
      const lo = this.readWhile(Infinity, isDigit);
      let hi = lo;
      if (this.accept(",")) hi = this.readWhile(Infinity, isDigit);
      if (!this.accept("}")) {
        this.pos = start + 1;
        return false;
      }
      if (lo !== "") min = Number(lo);
      if (hi !== "") max = Number(hi);
      if (min >= MAX_REPEAT || (max !== Infinity && max >= MAX_REPEAT)) {
        throw this.invalid("the repetition number is too large", start);
      }
      if (max < min) throw this.invalid("min repeat greater than max repeat", start + 1);
    }

    const target = items[items.length - 1];
    if (target === undefined || target.type === "anchor") throw this.invalid("nothing to repeat", start);
    if (target.type === "repeat") throw this.invalid("multiple repeat", start);
    let mode: "greedy" | "lazy" | "possessive" = "greedy";
    if (this.accept("?")) mode = "lazy";
    else if (this.accept("+")) mode = "possessive";
    items[items.length - 1] = { type: "repeat", min, max, mode, body: target, offset: start };
    return true;
  }

  private parseEscape(start: number): Node {
    const c = this.chars[this.pos++];
    if (c === undefined) throw this.invalid("bad escape (end of pattern)", start);
    const ascii = this.flags.a;
    switch (c) {
      case "A":
        return { type: "anchor", kind: "string-start", ascii };
      case "Z":
        return { type: "anchor", kind: "string-end", ascii };
      case "b":
        return { type: "anchor", kind: "boundary", ascii };
      case "B":
        return { type: "anchor", kind: "non-boundary", ascii };
      case "d":
      case "D":
      case "s":
      case "S":
      case "w":
      case "W":
        return { type: "category", name: c, ascii };
    }
    if (c in SIMPLE_ESCAPES) return { type: "char", cp: SIMPLE_ESCAPES[c]! };
    const code = this.parseCodeEscape(c, start);
    if (code !== null) return { type: "char", cp: code };

    if (c === "0") return { type: "char", cp: parseInt(c + this.readWhile(2, isOctal), 8) };
    if (isDigit(c)) {
      let digits = c;
      if (isDigit(this.peek())) {
        digits += this.chars[this.pos++];
        if (isOctal(digits[0]) && isOctal(digits[1]) && isOctal(this.peek())) {
          digits += this.chars[this.pos++];
          const value = parseInt(digits, 8);
          if (value > 0o377) throw this.invalid(`octal escape value \\${digits} outside of range 0-0o377`, start);
          return { type: "char", cp: value };
        }
      }
      const index = Number(digits);
      if (index > this.groupCount) throw this.invalid(`invalid group reference ${index}`, start + 1);
      this.checkGroupReference(index, start);
      return { type: "backref", index, offset: start };
    }
    if (isAsciiLetter(c)) throw this.invalid(`bad escape \\${c}`, start);
    return { type: "char", cp: c.codePointAt(0)! };
  }

  /** `\x`, `\u`, `\U` and `\N{...}`, shared by escapes inside and outside classes; null for other letters. */
  private parseCodeEscape(c: string, start: number): number | null {
    const hexDigits = HEX_ESCAPE_DIGITS[c];
    if (hexDigits !== undefined) {
      const hex = this.readWhile(hexDigits, isHex);
      if (hex.length !== hexDigits) throw this.invalid(`incomplete escape \\${c}${hex}`, start);
      const value = parseInt(hex, 16);
      if (value > 0x10ffff) throw this.invalid(`bad escape \\${c}${hex}`, start);
      return value;
    }
    if (c === "N") {
      // Node ships no Unicode character-name table, so \N{...} cannot be resolved.
      throw this.unsupported("named Unicode escapes (\\N{...}) are not supported; write the character or \\uXXXX", start);
    }
    return null;
  }

  private checkGroupReference(index: number, offset: number): void {
    if (!this.groupWidths.has(index)) throw this.invalid("cannot refer to an open group", offset);
    if (this.lookbehindGroups !== null && index >= this.lookbehindGroups) {
      throw this.invalid("cannot refer to group defined in the same lookbehind subpattern", this.pos);
    }
  }

  private parseClass(start: number): Node {
    const items: ClassItem[] = [];
    const negated = this.accept("^");
    for (;;) {
      const c = this.chars[this.pos++];
      if (c === undefined) throw this.invalid("unterminated character set", start);
      if (c === "]" && items.length > 0) break;
      const itemStart = this.pos - 1;
      const first = c === "\\" ? this.parseClassEscape(itemStart) : ({ type: "char", cp: c.codePointAt(0)! } as const);

      if (!this.accept("-")) {
        items.push(first);
        continue;
      }
      const d = this.chars[this.pos++];
      if (d === undefined) throw this.invalid("unterminated character set", start);
      if (d === "]") {
        items.push(first, { type: "char", cp: 0x2d });
        break;
      }
      const last = d === "\\" ? this.parseClassEscape(this.pos - 1) : ({ type: "char", cp: d.codePointAt(0)! } as const);
      const text = this.chars.slice(itemStart, this.pos).join("");
      if (first.type !== "char" || last.type !== "char" || last.cp < first.cp) {
        throw this.invalid(`bad character range ${text}`, itemStart);
      }
      items.push({ type: "range", lo: first.cp, hi: last.cp });
    }
    return { type: "class", negated, items, ascii: this.flags.a };
  }

  private parseClassEscape(start: number): ClassItem {
    const c = this.chars[this.pos++];
    if (c === undefined) throw this.invalid("bad escape (end of pattern)", start);
    if (c === "b") return { type: "char", cp: 8 };
    if (c in SIMPLE_ESCAPES) return { type: "char", cp: SIMPLE_ESCAPES[c]! };
    if ("dDsSwW".includes(c)) return { type: "category", name: c as Category };
    const code = this.parseCodeEscape(c, start);
    if (code !== null) return { type: "char", cp: code };
    if (isOctal(c)) {
      const digits = c + this.readWhile(2, isOctal);
      const value = parseInt(digits, 8);
      if (value > 0o377) throw this.invalid(`octal escape value \\${digits} outside of range 0-0o377`, start);
      return { type: "char", cp: value };
    }
    if (isDigit(c) || isAsciiLetter(c)) throw this.invalid(`bad escape \\${c}`, start);
    return { type: "char", cp: c.codePointAt(0)! };
  }

  /**
   * Parses what follows `(`. Returns the node, null for a comment, or "global-flags" after a
   * `(?flags)` group, which changes the parser's flags for the rest of the pattern.
   */
  private parseParen(start: number, verbose: boolean, depth: number, first: boolean): Node | null | "global-flags" {
    if (!this.accept("?")) return this.parseGroupBody(start, this.openGroup(null, start), null, verbose, depth);

    const c = this.chars[this.pos++];
    if (c === undefined) throw this.invalid("unexpected end of pattern", this.chars.length);
    if (c === "P") return this.parsePythonExtension(start, verbose, depth);
    if (c === ":") return this.parseGroupBody(start, null, null, verbose, depth);
    if (c === "#") {
      for (;;) {
        const d = this.chars[this.pos++];
        if (d === undefined) throw this.invalid("missing ), unterminated comment", start);
        if (d === ")") return null;
      }
    }
    if (c === "=" || c === "!") return this.parseLook(start, false, c === "!", verbose, depth);
    if (c === "<") {
      const d = this.chars[this.pos++];
      if (d === undefined) throw this.invalid("unexpected end of pattern", this.chars.length);
      if (d !== "=" && d !== "!") throw this.invalid(`unknown extension ?<${d}`, start + 1);
      return this.parseLook(start, true, d === "!", verbose, depth);
    }
    if (c === "(") {
      this.checkCondition(start);
      throw this.unsupported("conditional groups (?(id)yes|no) have no JavaScript equivalent", start);
    }
    if (c === ">") {
      const body = this.parseGroupContents(start, verbose, depth);
      return { type: "atomic", body, offset: start };
    }
    if (FLAG_LETTERS.has(c) || c === "-") return this.parseFlags(start, c, verbose, depth, first);
    throw this.invalid(`unknown extension ?${c}`, start + 1);
  }

  /** Rejects the condition of `(?(id)...)` as Python does, before the group is reported as unsupported. */
  private checkCondition(start: number): void {
    const name = this.readUntil(")", "group name");
    const nameOffset = start + 3;
    if (isIdentifier(name)) {
      if (!this.groupNames.has(name)) throw this.invalid(`unknown group name '${name}'`, nameOffset);
      return;
    }
    if (!/^\d+$/.test(name)) throw this.invalid(`bad character in group name '${name}'`, nameOffset);
    const index = Number(name);
    if (index === 0) throw this.invalid("bad group number", nameOffset);
    // Python checks this once the whole pattern is parsed, so an error later in the pattern wins there.
    if (index > this.groupCount) throw this.invalid(`invalid group reference ${index}`, nameOffset);
  }

  private parsePythonExtension(start: number, verbose: boolean, depth: number): Node {
    if (this.accept("<")) {
      const name = this.readUntil(">", "group name");
      if (!isIdentifier(name)) throw this.invalid(`bad character in group name '${name}'`, start + 4);
      return this.parseGroupBody(start, this.openGroup(name, start + 4), null, verbose, depth);
    }
    if (this.accept("=")) {
      const name = this.readUntil(")", "group name");
      if (!isIdentifier(name)) throw this.invalid(`bad character in group name '${name}'`, start + 4);
      const index = this.groupNames.get(name);
      if (index === undefined) throw this.invalid(`unknown group name '${name}'`, start + 4);
      this.checkGroupReference(index, start + 4);
      return { type: "backref", index, offset: start };
    }
    const c = this.chars[this.pos++];
    if (c === undefined) throw this.invalid("unexpected end of pattern", this.chars.length);
    throw this.invalid(`unknown extension ?P${c}`, start + 1);
  }

  private openGroup(name: string | null, nameOffset: number): number {
    const index = this.groupCount + 1;
    if (index > MAX_GROUPS) throw this.invalid("too many groups", nameOffset);
    if (name !== null) {
      const previous = this.groupNames.get(name);
      if (previous !== undefined) {
        throw this.invalid(`redefinition of group name '${name}' as group ${index}; was group ${previous}`, nameOffset);
      }
      this.groupNames.set(name, index);
    }
    this.groupCount = index;
    return index;
  }

  private parseGroupContents(start: number, verbose: boolean, depth: number): Node {
    if (depth >= MAX_NESTING) throw this.unsupported(`groups nested more than ${MAX_NESTING} deep are not supported`, start);
    const body = this.parseAlternation(verbose, depth + 1);
    if (!this.accept(")")) throw this.invalid("missing ), unterminated subpattern", start);
    return body;
  }

  private parseGroupBody(
    start: number,
    index: number | null,
    ignoreCase: boolean | null,
    verbose: boolean,
    depth: number,
  ): Node {
    const body = this.parseGroupContents(start, verbose, depth);
    if (index !== null) this.groupWidths.set(index, widthOf(body, this.groupWidths));
    return { type: "group", index, body, ignoreCase, offset: start };
  }

  private parseLook(start: number, behind: boolean, negated: boolean, verbose: boolean, depth: number): Node {
    const outer = this.lookbehindGroups;
    if (behind && outer === null) this.lookbehindGroups = this.groupCount + 1;
    const body = this.parseGroupContents(start, verbose, depth);
    if (behind) {
      this.lookbehindGroups = outer;
      const width = widthOf(body, this.groupWidths);
      if (width.min !== width.max) throw this.invalid("look-behind requires fixed-width pattern", start);
    }
    return { type: "look", behind, negated, body, offset: start };
  }

  private parseFlags(start: number, c: string, verbose: boolean, depth: number, first: boolean): Node | "global-flags" {
    const added = new Set<string>();
    const removed = new Set<string>();
    if (c !== "-") {
      for (;;) {
        if (c === "L") throw this.invalid("bad inline flags: cannot use 'L' flag with a str pattern", this.pos);
        added.add(c);
        const typeFlags = ["a", "u", "L"].filter((f) => added.has(f));
        if (typeFlags.length > 1) throw this.invalid("bad inline flags: flags 'a', 'u' and 'L' are incompatible", this.pos);
        const next = this.chars[this.pos++];
        if (next === undefined) throw this.invalid("missing -, : or )", this.chars.length);
        c = next;
        if (c === ")" || c === "-" || c === ":") break;
        if (!FLAG_LETTERS.has(c)) throw this.invalid(/\p{L}/u.test(c) ? "unknown flag" : "missing -, : or )", this.pos - 1);
      }
    }

    if (c === ")") {
      if (!first) throw this.invalid("global flags not at the start of the expression", start);
      if (added.has("t")) throw this.unsupported("the TEMPLATE flag (?t) is not supported", start);
      this.setFlags(added, true);
      this.globalFlags = { ...this.flags };
      return "global-flags";
    }
    if (added.has("t")) throw this.invalid("bad inline flags: cannot turn on global flag", this.pos - 1);

    if (c === "-") {
      let next = this.chars[this.pos++];
      if (next === undefined) throw this.invalid("missing flag", this.chars.length);
      if (!FLAG_LETTERS.has(next)) throw this.invalid(/\p{L}/u.test(next) ? "unknown flag" : "missing flag", this.pos - 1);
      for (;;) {
        if (next === "a" || next === "u" || next === "L") {
          throw this.invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'", this.pos);
        }
        removed.add(next);
        next = this.chars[this.pos++];
        if (next === undefined) throw this.invalid("missing :", this.chars.length);
        if (next === ":") break;
        if (!FLAG_LETTERS.has(next)) throw this.invalid(/\p{L}/u.test(next) ? "unknown flag" : "missing :", this.pos - 1);
      }
      if (removed.has("t")) throw this.invalid("bad inline flags: cannot turn off global flag", this.pos - 1);
      for (const f of added) {
        if (removed.has(f)) throw this.invalid("bad inline flags: flag turned on and off", this.pos - 1);
      }
    }
    return this.parseScopedFlags(start, added, removed, verbose, depth);
  }

  private parseScopedFlags(start: number, added: Set<string>, removed: Set<string>, verbose: boolean, depth: number): Node {
    const saved = this.flags;
    this.flags = { ...saved };
    this.setFlags(added, true);
    this.setFlags(removed, false);
    const ignoreCase = this.flags.i !== saved.i ? this.flags.i : null;
    if (this.flags.a && this.flags.i && !(saved.a && saved.i)) {
      // pyregex.ts folds ASCII-only case with explicit classes, which works for the whole pattern only.
      throw this.unsupported("re.ASCII with re.IGNORECASE in a scoped group is not supported; set (?ai) for the whole pattern", start);
    }
    const innerVerbose = (verbose || added.has("x")) && !removed.has("x");
    try {
      return this.parseGroupBody(start, null, ignoreCase, innerVerbose, depth);
    } finally {
      this.flags = saved;
    }
  }

  private setFlags(letters: Set<string>, value: boolean): void {
    for (const f of letters) {
      if (f === "i" || f === "m" || f === "s" || f === "x" || f === "a") this.flags[f] = value;
    }
  }
}

/** Min and max width of a node, as Python's SubPattern.getwidth computes them. */
export function widthOf(node: Node, groupWidths: ReadonlyMap<number, Width>): Width {
  switch (node.type) {
    case "seq": {
      let min = 0;
      let max = 0;
      for (const item of node.items) {
        const w = widthOf(item, groupWidths);
        min += w.min;
        max += w.max;
      }
      return { min, max };
    }
    case "alt": {
      const widths = node.branches.map((b) => widthOf(b, groupWidths));
      return { min: Math.min(...widths.map((w) => w.min)), max: Math.max(...widths.map((w) => w.max)) };
    }
    case "char":
    case "any":
    case "class":
    case "category":
      return { min: 1, max: 1 };
    case "anchor":
    case "look":
      return { min: 0, max: 0 };
    case "group":
    case "atomic":
      return widthOf(node.body, groupWidths);
    case "repeat": {
      const w = widthOf(node.body, groupWidths);
      return { min: w.min * node.min, max: w.max === 0 ? 0 : w.max * node.max };
    }
    case "backref":
      return groupWidths.get(node.index) ?? { min: 0, max: 0 };
  }
}

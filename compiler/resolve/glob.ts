import { checkGlob, compileGlob, type GlobMatcher } from "../match/glob.js";
import { flagsOf, locationOf, type NameMatcher, type PatternSite } from "./regex.js";

/** Glob over dotted module names: `*` is one name segment, `**` any number. */
export function compileGlobMatcher(pattern: string, site: PatternSite): NameMatcher {
  const glob = compileGlob(pattern, locationOf(site));
  return {
    matchAll: (names) => flagsOf(glob.selectMatching(names), names.length),
    test: (name) => glob.test(name),
    exec: (name) => (glob.test(name) ? [name] : null),
  };
}

// Characters a glob matches only as themselves; everything else (`*`, `?`, braces, brackets,
// extglob parentheses, `!`, escapes) may stand for other text.
const LITERAL_CHAR = /[A-Za-z0-9_.-]/;

/** Conditions that a glob's literal ends put on the names it can match. */
interface LiteralBounds {
  /** The whole glob is literal: it matches only the name equal to it. */
  exact: boolean;
  /** Every match starts with this. */
  prefix: string;
  /** Every match ends with this. */
  suffix: string;
  /** Every match has this last name segment; null when the last segment is not literal. */
  lastSegment: string | null;
}

/**
 * Reads the literal text at both ends of a glob. A `.` next to a wildcard is dropped from the
 * bounds, because `**` may match zero segments together with its separator
 * (`model.**` matches `model`, `**.q_proj` matches `q_proj`). Returns null for a glob whose
 * meaning is not read this way: a negation or any backslash escape.
 */
function literalBounds(glob: string): LiteralBounds | null {
  if (glob.startsWith("!") || glob.includes("\\")) return null;
  let start = 0;
  while (start < glob.length && LITERAL_CHAR.test(glob[start]!)) start++;
  if (start === glob.length) {
    return { exact: true, prefix: glob, suffix: glob, lastSegment: glob.slice(glob.lastIndexOf(".") + 1) };
  }
  let end = glob.length;
  while (end > start && LITERAL_CHAR.test(glob[end - 1]!)) end--;
  const head = glob.slice(0, start);
  const tail = glob.slice(end);
  const tailDot = tail.lastIndexOf(".");
  return {
    exact: false,
    prefix: head.endsWith(".") ? head.slice(0, -1) : head,
    suffix: tail.startsWith(".") ? tail.slice(1) : tail,
    lastSegment: tailDot >= 0 ? tail.slice(tailDot + 1) : null,
  };
}

/**
 * For a glob `**.` followed by literal segments (`**.q_proj`, `**.mlp.up_proj`), returns those
 * segments; otherwise null.
 */
function globstarTail(glob: string): string | null {
  if (!glob.startsWith("**.")) return null;
  const tail = glob.slice(3);
  if (tail === "" || tail.startsWith(".") || tail.endsWith(".") || tail.includes("..")) return null;
  for (const ch of tail) if (!LITERAL_CHAR.test(ch)) return null;
  return tail;
}

/** Name indexes shared by the globs of one target list, each built on first use. */
class NameIndex {
  private byLastSegment: Map<string, number[]> | null = null;
  private byExactName: Map<string, number[]> | null = null;

  constructor(
    private readonly names: readonly string[],
    private readonly exactNames: readonly string[],
  ) {}

  withLastSegment(segment: string): readonly number[] {
    if (this.byLastSegment === null) {
      const index = new Map<string, number[]>();
      for (let i = 0; i < this.names.length; i++) {
        const name = this.names[i]!;
        const last = name.slice(name.lastIndexOf(".") + 1);
        const list = index.get(last);
        if (list === undefined) index.set(last, [i]);
        else list.push(i);
      }
      this.byLastSegment = index;
    }
    return this.byLastSegment.get(segment) ?? [];
  }

  /** Indices of the names equal to `name`, which must be one of `exactNames`. */
  equalTo(name: string): readonly number[] {
    if (this.byExactName === null) {
      const index = new Map<string, number[]>(this.exactNames.map((n) => [n, []]));
      for (let i = 0; i < this.names.length; i++) index.get(this.names[i]!)?.push(i);
      this.byExactName = index;
    }
    return this.byExactName.get(name) ?? [];
  }
}

/**
 * Indices, ascending, of the names that can match a glob with these bounds: a superset of its
 * matches, found through the shared indexes where the bounds allow.
 */
function candidatesFor(bounds: LiteralBounds | null, names: readonly string[], index: NameIndex): readonly number[] {
  if (bounds === null) return names.map((_, i) => i);
  if (bounds.exact) return index.equalTo(bounds.prefix);
  const { prefix, suffix } = bounds;
  const fits = (name: string): boolean => name.startsWith(prefix) && name.endsWith(suffix);
  if (bounds.lastSegment !== null) return index.withLastSegment(bounds.lastSegment).filter((i) => fits(names[i]!));
  const out: number[] = [];
  for (let i = 0; i < names.length; i++) if (fits(names[i]!)) out.push(i);
  return out;
}

/**
 * Matches several globs against all module names and returns, for each glob in order, the
 * indices (ascending) of the names it matches. The result equals running each glob over every
 * name. Each glob's regex runs only on the names its literal text allows. A glob of literal
 * characters only is looked up by name, and `**.` followed by literal segments by its last
 * segment, both without a regex. So a list of hundreds of globs costs
 * about one pass over the names instead of one pass per glob.
 * Globs are compiled and matched one after the other, so the first invalid or too slow glob
 * raises its error as a glob-by-glob scan would.
 */
export function selectGlobMatches(patterns: readonly string[], names: readonly string[], siteOf: (k: number) => PatternSite): Uint32Array[] {
  const bounds = patterns.map(literalBounds);
  const exactNames = patterns.filter((_, k) => bounds[k]?.exact === true);
  const index = new NameIndex(names, exactNames);
  return patterns.map((pattern, k) => {
    const bound = bounds[k] ?? null;
    if (bound !== null && bound.exact) {
      // A glob of literal characters only matches the one name equal to it: no regex to run.
      checkGlob(pattern, locationOf(siteOf(k)));
      return Uint32Array.from(index.equalTo(bound.prefix));
    }
    const tail = globstarTail(pattern);
    if (tail !== null && bound !== null && bound.lastSegment !== null) {
      // `**.a.b` matches `a.b` and every name ending in `.a.b`: no regex to run either.
      checkGlob(pattern, locationOf(siteOf(k)));
      const dotted = "." + tail;
      return Uint32Array.from(index.withLastSegment(bound.lastSegment).filter((i) => names[i] === tail || names[i]!.endsWith(dotted)));
    }
    const glob: GlobMatcher = compileGlob(pattern, locationOf(siteOf(k)));
    const candidates = candidatesFor(bound, names, index);
    if (candidates.length === names.length) return glob.selectMatching(names);
    const hits = glob.selectMatching(candidates.map((i) => names[i]!));
    return hits.map((position) => candidates[position]!);
  });
}

/**
 * The regex operations target resolution needs, in one place: every user pattern is compiled
 * once, with Python semantics and a time bound, and run over all module names in one batch.
 */
import { compilePyRegex, type PatternLocation } from "../match/pyregex.js";
import type { SourcePos } from "../spec/types.js";

export type MatchMode = "fullmatch" | "match";

export interface PatternSite {
  file: string;
  pos: SourcePos | undefined;
  field: string;
}

export interface NameMatcher {
  /** 1 for each name the pattern matches, in the order given. */
  matchAll(names: readonly string[]): Uint8Array;
  test(name: string): boolean;
  /** The capturing groups of the first match (index 0 is the whole match), or null. */
  exec(name: string): Array<string | undefined> | null;
}

export function locationOf(site: PatternSite): PatternLocation {
  return { file: site.file, field: site.field, ...(site.pos ? { line: site.pos.line, col: site.pos.col } : {}) };
}

/** Spreads ascending match indices into a flag per name. */
export function flagsOf(indices: Uint32Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (const i of indices) out[i] = 1;
  return out;
}

/**
 * Compiles `prefix + userPattern + suffix` (Python syntax) for matching names in `mode`.
 * Errors point into `userPattern` at `site`.
 */
export function compileNameMatcher(userPattern: string, mode: MatchMode, site: PatternSite, prefix = "", suffix = ""): NameMatcher {
  const regex = compilePyRegex(userPattern, { mode, prefix, suffix, location: locationOf(site) });
  return {
    matchAll: (names) => flagsOf(regex.selectMatching(names), names.length),
    test: (name) => regex.test(name),
    exec: (name) => regex.exec(name),
  };
}

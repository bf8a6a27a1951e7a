/**
 * The regex operations target resolution needs, in one place: every user pattern is compiled
 * once and run over all module names in one batch.
 */
import type { SourcePos } from "../spec/types.js";

export type MatchMode = "fullmatch" | "match";

export interface PatternSite {
  file: string;
  pos: SourcePos | undefined;
  field: string;
}

export interface NameMatcher {
  /** True for each name the pattern matches, in the order given. */
  matchAll(names: readonly string[]): Uint8Array;
  test(name: string): boolean;
  /** The capturing groups of the first match (index 0 is the whole match), or null. */
  exec(name: string): Array<string | undefined> | null;
}

/**
 * Compiles `prefix + userPattern + suffix` (Python syntax) for matching names in `mode`.
 * Errors point into `userPattern` at `site`.
 */
export function compileNameMatcher(userPattern: string, mode: MatchMode, site: PatternSite, prefix = "", suffix = ""): NameMatcher {
  const regex = new RegExp(`^(?:${prefix}${userPattern}${suffix})${mode === "fullmatch" ? "$" : ""}`, "u");
  void site;
  return {
    matchAll(names) {
      const out = new Uint8Array(names.length);
      for (let i = 0; i < names.length; i++) if (regex.test(names[i]!)) out[i] = 1;
      return out;
    },
    test: (name) => regex.test(name),
    exec: (name) => {
      const m = regex.exec(name);
      return m === null ? null : Array.from(m);
    },
  };
}

import { compileGlob } from "../match/glob.js";
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

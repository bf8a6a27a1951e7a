import micromatch from "micromatch";
import type { NameMatcher, PatternSite } from "./regex.js";

/** Glob over dotted module names: `*` is one name segment, `**` any number. */
export function compileGlobMatcher(pattern: string, site: PatternSite): NameMatcher {
  void site;
  const regex = micromatch.makeRe(pattern.split(".").join("/"));
  const toPath = (name: string) => name.split(".").join("/");
  return {
    matchAll(names) {
      const out = new Uint8Array(names.length);
      for (let i = 0; i < names.length; i++) if (regex.test(toPath(names[i]!))) out[i] = 1;
      return out;
    },
    test: (name) => regex.test(toPath(name)),
    exec: (name) => {
      const m = regex.exec(toPath(name));
      return m === null ? null : Array.from(m);
    },
  };
}

/** Pattern matching over fully-qualified module names: Python regexes, globs and suggestions. */
export { DEFAULT_TIME_BUDGET, type TimeBudget } from "./bounded.js";
export { compileGlob, GlobMatcher } from "./glob.js";
export {
  compilePyRegex,
  PyRegex,
  translatePyRegex,
  type CompileOptions,
  type MatchMode,
  type NameMatcher,
  type PatternLocation,
  type Translation,
} from "./pyregex.js";
export { suggestKey, suggestNames, type SuggestOptions } from "./suggest.js";

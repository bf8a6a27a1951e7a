export { collapseModules, expandCollapsed, writeIndexSet, type CollapsedNames } from "./collapse.js";
export { diffIsEmpty, diffPlans } from "./diff.js";
export { DIFF_FORMATS, renderDiff, shouldColor, type DiffFormat, type RenderOptions } from "./render.js";
export * from "./types.js";

/**
 * Target resolution for one adapter, rule by rule as PEFT's `inject_adapter` and
 * `check_target_module_exists` do it: exclusions, targets, layers, patterns, saved modules. Each rule runs once
 * over all module names, so the cost grows with modules + entries, not modules x entries.
 */
import { PeftcError, type Diagnostic } from "../errors.js";
import type { Graph } from "../graph/types.js";
import { ADAPTABLE_TYPES } from "../graph/types.js";
import type { AdapterSpec, SourcePos } from "../spec/types.js";
import { compileNameMatcher, type NameMatcher } from "./regex.js";
import { escapeRegex, looksLikeRegex, SuffixSet } from "./names.js";
import { selectGlobMatches } from "./glob.js";

/** The selector of the spec that decided a module's fate, with `entry` the list entry or pattern. */
export interface Reason {
  field: "target_modules" | "exclude_modules" | "modules_to_save" | "all-linear" | "default_target_modules" | "task_type";
  entry: string;
}

export interface SelectorCount {
  entry: string;
  /** Modules whose name the entry matched. */
  matched: number;
}

export interface ResolvedAdapter {
  adapter: AdapterSpec;
  /** Indices into graph.modules of the modules that get a LoRA adapter (before tie handling), in module order. */
  targets: number[];
  /** The reason each targeted module was selected. */
  targetReason: Map<number, Reason>;
  /** Modules excluded by rule 1 or 2, with the entry that excluded them. */
  excluded: Map<number, Reason>;
  /** Modules the target selector matched but an exclusion removed. */
  excludedTargets: number[];
  /** Modules wrapped as trainable copies (rule 8), outermost only, in module order. */
  saved: number[];
  savedReason: Map<number, Reason>;
  /** Default target list used when target_modules was absent. */
  defaultTargets: string[] | null;
  /** Module indices whose name the target selector matched but layers_to_transform filtered out. */
  layerFiltered: number[];
  /**
   * r and alpha of the targets that a rank_pattern or alpha_pattern key matched. A target missing
   * here gets the adapter's r and lora_alpha.
   */
  rank: Map<number, { r: number; rKey: string | null; alpha: number; alphaKey: string | null }>;
  counts: {
    target_modules: SelectorCount[];
    exclude_modules: SelectorCount[];
    modules_to_save: SelectorCount[];
    rank_pattern: SelectorCount[];
    alpha_pattern: SelectorCount[];
  };
  diagnostics: Diagnostic[];
}

export interface ResolveOptions {
  specFile: string;
  /** PEFT's default target_modules for a model type. */
  defaultTargetModules(modelType: string): string[] | undefined;
  /** Closest existing names for a list entry that matched nothing. */
  suggestNames?(entry: string, names: readonly string[]): string[];
}

const TASK_HEADS: Record<string, string[]> = {
  SEQ_CLS: ["classifier", "score"],
  TOKEN_CLS: ["classifier", "score"],
  QUESTION_ANS: ["qa_outputs"],
};

/** PEFT's SEQ_CLS_HEAD_NAMES, checked in this order for all-linear on a model without an output embedding. */
const SEQ_CLS_HEAD_NAMES = ["score", "classifier"];

export function taskHeads(taskType: string | null): string[] {
  return taskType !== null ? (TASK_HEADS[taskType] ?? []) : [];
}

function where(adapter: AdapterSpec, file: string, path: Array<string | number>): { file: string; line?: number; col?: number; adapter: string } {
  const pos: SourcePos | undefined = adapter.positionOf(path);
  return pos ? { file, line: pos.line, col: pos.col, adapter: adapter.name } : { file, adapter: adapter.name };
}

function warning(adapter: AdapterSpec, file: string, code: string, message: string, path: Array<string | number>): Diagnostic {
  return { severity: "warning", code, message, ...where(adapter, file, path) };
}

/** Reads the layer index PEFT reads from a key (rule 4), or null when it finds none. */
export function layerIndexOf(name: string, layerPatterns: NameMatcherWithGroup[] | null): number | null {
  if (layerPatterns === null) {
    const m = DEFAULT_LAYER_REGEX.exec(name);
    return m ? Number.parseInt(m[1]!, 10) : null;
  }
  for (const p of layerPatterns) {
    const index = p.index(name);
    if (index !== null) return index;
  }
  return null;
}

/** Reads the layer index PEFT reads from `name` with this adapter's layers_pattern, or returns null. */
export function layerIndexFor(adapter: AdapterSpec, name: string, file: string): number | null {
  const patterns = adapter.layers_pattern !== null ? adapter.layers_pattern.map((p, i) => compileLayerPattern(p, adapter, file, i)) : null;
  return layerIndexOf(name, patterns);
}

/** Lazy: the first dotted segment followed by a numeric segment, as PEFT's `.*?\.[^.]*\.(\d+)\.`. */
const DEFAULT_LAYER_REGEX = /^.*?\.[^.]*\.(\d+)\./;

export interface NameMatcherWithGroup {
  index(name: string): number | null;
}

/**
 * Returns where the text of the first of `paths` found in the spec starts, so that an error at an
 * offset in a regex points at that character. Falls back to the first path's position.
 */
function patternPosition(adapter: AdapterSpec, ...paths: Array<Array<string | number>>): SourcePos | undefined {
  for (const path of paths) {
    const pos = adapter.patternPositionOf?.(path);
    if (pos !== undefined) return pos;
  }
  return adapter.positionOf(paths[0]!);
}

function compileLayerPattern(pattern: string, adapter: AdapterSpec, file: string, i: number): NameMatcherWithGroup {
  // PEFT: re.match(rf".*?\.{pattern}\.(\d+)\.", key), group 1. The digits group is the last capturing
  // group of the composite, whatever groups the user's fragment has.
  const site = { file, pos: patternPosition(adapter, ["layers_pattern", i], ["layers_pattern"]), field: "layers_pattern" };
  const matcher = compileNameMatcher(pattern, "match", site, ".*?\\.(?:", ")\\.(\\d+)\\.");
  return {
    index(name) {
      const groups = matcher.exec(name);
      if (groups === null) return null;
      return Number.parseInt(groups[groups.length - 1]!, 10);
    },
  };
}

/** Resolves which modules one adapter targets, excludes and saves (rules 1-10, before weight tying). */
export function resolveAdapter(graph: Graph, adapter: AdapterSpec, options: ResolveOptions): ResolvedAdapter {
  const file = options.specFile;
  const modules = graph.modules;
  const names = modules.map((m) => m.name);
  const n = names.length;
  const diagnostics: Diagnostic[] = [];

  checkConfigCombinations(adapter, file);

  // Task-type heads join modules_to_save, as PeftModelForSequenceClassification & co. do.
  const userSave = adapter.modules_to_save ?? [];
  const heads = taskHeads(adapter.task_type);
  const saveEntries = [...userSave, ...heads.filter((h) => !userSave.includes(h))];

  // Rule 1: exclude_modules.
  const excluded = new Map<number, Reason>();
  const excludeCounts: SelectorCount[] = [];
  const ex = adapter.exclude_modules;
  if (ex !== null && ex.kind === "regex") {
    const hits = compileNameMatcher(ex.pattern, "fullmatch", { file, pos: patternPosition(adapter, ["exclude_modules"]), field: "exclude_modules" }).matchAll(names);
    let count = 0;
    for (let i = 0; i < n; i++) if (hits[i]) (excluded.set(i, { field: "exclude_modules", entry: ex.pattern }), count++);
    excludeCounts.push({ entry: ex.pattern, matched: count });
  } else if (ex !== null && ex.entries.length > 0) {
    const set = new SuffixSet(ex.entries);
    const counts = new Array<number>(ex.entries.length).fill(0);
    for (let i = 0; i < n; i++) {
      const name = names[i]!;
      let first = -1;
      const note = (idx: readonly number[]) => {
        for (const k of idx) {
          counts[k]!++;
          if (first < 0 || k < first) first = k;
        }
      };
      const exact = set.exact(name);
      if (exact) note(exact);
      set.forEachSuffixMatch(name, note);
      if (first >= 0) excluded.set(i, { field: "exclude_modules", entry: ex.entries[first]! });
    }
    ex.entries.forEach((entry, k) => excludeCounts.push({ entry, matched: counts[k]! }));
  }

  // Rule 2: a module to save, and everything inside it, never gets a LoRA adapter.
  saveEntries.forEach((entry, k) => {
    const isHead = k >= userSave.length;
    const pos = isHead ? adapter.positionOf(["task_type"]) : patternPosition(adapter, ["modules_to_save", k]);
    const hits = saveExclusionHits(entry, names, { file, pos, field: "modules_to_save" });
    for (let i = 0; i < n; i++) {
      if (hits[i] && !excluded.has(i)) excluded.set(i, { field: isHead ? "task_type" : "modules_to_save", entry });
    }
  });

  // Rules 3-5: the target selector.
  const selection = selectTargets(graph, names, adapter, options, diagnostics);
  const targets: number[] = [];
  const targetReason = new Map<number, Reason>();
  const excludedTargets: number[] = [];
  for (let i = 0; i < n; i++) {
    const reason = selection.reasons[i];
    if (reason === undefined) continue;
    if (excluded.has(i)) excludedTargets.push(i);
    else {
      targets.push(i);
      targetReason.set(i, reason);
    }
  }

  // Rule 6: compatibility, then fan_in_fan_out.
  const unsupported = targets.filter((i) => !ADAPTABLE_TYPES.has(modules[i]!.type));
  if (unsupported.length > 0) {
    const first = modules[unsupported[0]!]!;
    const reason = targetReason.get(unsupported[0]!)!;
    const more = unsupported.length > 1 ? ` (and ${unsupported.length - 1} more)` : "";
    throw new PeftcError(
      "unsupported-module",
      `module '${first.name}' of type ${first.type}${more} is selected by ${describeReason(reason)} but cannot take a LoRA adapter; ` +
        "LoRA wraps Linear, Embedding, Conv1d/2d/3d, Conv1D and MultiheadAttention modules, so narrow the selector to those layers",
      where(adapter, file, [reason.field === "target_modules" ? "target_modules" : "target_modules"]),
    );
  }

  // Rule 9: nothing targeted.
  const targetParametersMatched = false;
  if (targets.length === 0 && !targetParametersMatched) {
    let anyUnmatched = false;
    for (let i = 0; i < n && !anyUnmatched; i++) anyUnmatched = !excluded.has(i) && selection.reasons[i] === undefined;
    throw noTargetError(adapter, file, names, excluded.size > 0, anyUnmatched, selection, options);
  }
  if (ex !== null && excluded.size === 0 && hasEntries(ex)) {
    diagnostics.push(
      warning(adapter, file, "exclude-unused", `exclude_modules ${describeExclude(ex)} excluded no module; check the names against the model`, ["exclude_modules"]),
    );
  }

  // Rule 7: per-module rank and alpha.
  const rank = resolvePatterns(adapter, file, names, targets, diagnostics);

  // Rule 8: modules_to_save wrapping.
  const { saved, savedReason, saveCounts } = resolveSaved(adapter, file, names, saveEntries, userSave.length, diagnostics);

  // Rule 10: unused list entries and regex-looking entries.
  reportUnusedEntries(adapter, file, selection, excludeCounts, diagnostics, (entry) => options.suggestNames?.(entry, names) ?? []);

  return {
    adapter,
    targets,
    targetReason,
    excluded,
    excludedTargets,
    saved,
    savedReason,
    defaultTargets: selection.defaultTargets,
    layerFiltered: selection.layerFiltered,
    rank: rank.values,
    counts: {
      target_modules: selection.counts,
      exclude_modules: excludeCounts,
      modules_to_save: saveCounts,
      rank_pattern: rank.rankCounts,
      alpha_pattern: rank.alphaCounts,
    },
    diagnostics,
  };
}

function hasEntries(ex: NonNullable<AdapterSpec["exclude_modules"]>): boolean {
  return ex.kind === "regex" ? ex.pattern.length > 0 : ex.entries.length > 0;
}

function describeExclude(ex: NonNullable<AdapterSpec["exclude_modules"]>): string {
  return ex.kind === "regex" ? `'${ex.pattern}'` : JSON.stringify(ex.entries);
}

export function describeReason(reason: Reason): string {
  switch (reason.field) {
    case "all-linear":
      return "target_modules 'all-linear'";
    case "default_target_modules":
      return `PEFT's default target_modules entry '${reason.entry}'`;
    case "task_type":
      return `the task_type head '${reason.entry}'`;
    default:
      return `${reason.field} entry '${reason.entry}'`;
  }
}

/** PEFT's LoraConfig checks that concern the plan (raised in its `__post_init__`). */
function checkConfigCombinations(adapter: AdapterSpec, file: string): void {
  if (adapter.target_parameters !== null && adapter.target_parameters.length > 0) {
    throw new PeftcError(
      "unsupported-feature",
      "target_parameters (LoRA on bare parameters such as fused MoE expert weights) is not supported by this version of peftc, which plans module targets only; remove it or set it to null",
      where(adapter, file, ["target_parameters"]),
    );
  }
  const t = adapter.target_modules;
  const isString = t !== null && t.kind !== "list";
  if (isString && adapter.layers_to_transform !== null) {
    throw new PeftcError(
      "invalid-combination",
      "layers_to_transform cannot be used when target_modules is a string (a regex, a glob or 'all-linear'); list module names instead, or filter layers inside the pattern",
      where(adapter, file, ["layers_to_transform"]),
    );
  }
  if (isString && adapter.layers_pattern !== null) {
    throw new PeftcError(
      "invalid-combination",
      "layers_pattern cannot be used when target_modules is a string (a regex, a glob or 'all-linear'); list module names instead",
      where(adapter, file, ["layers_pattern"]),
    );
  }
  if (adapter.layers_pattern !== null && adapter.layers_to_transform === null) {
    throw new PeftcError(
      "invalid-combination",
      "layers_pattern is set but layers_to_transform is not; set layers_to_transform to the layer indices to adapt, or remove layers_pattern",
      where(adapter, file, ["layers_pattern"]),
    );
  }
}

interface Selection {
  /** Reason per module index for modules the selector matched (exclusions not applied). */
  reasons: Array<Reason | undefined>;
  counts: SelectorCount[];
  /** "list" selectors can report unused entries; regex and all-linear cannot. */
  kind: "list" | "regex" | "all-linear" | "glob" | "default";
  defaultTargets: string[] | null;
  layerFiltered: number[];
}

function selectTargets(graph: Graph, names: string[], adapter: AdapterSpec, options: ResolveOptions, diagnostics: Diagnostic[]): Selection {
  const file = options.specFile;
  const n = names.length;
  const reasons = new Array<Reason | undefined>(n);
  const t = adapter.target_modules;
  const layerFiltered: number[] = [];

  if (t !== null && t.kind === "all-linear") {
    const excludedHeads = allLinearExclusions(graph, adapter);
    // One Reason object per selector entry, shared by every module it selects.
    const reason: Reason = { field: "all-linear", entry: t.written };
    let count = 0;
    graph.modules.forEach((m, i) => {
      if ((m.type === "Linear" || m.type === "Conv1D") && !excludedHeads.has(m.name)) {
        reasons[i] = reason;
        count++;
      }
    });
    return { reasons, counts: [{ entry: t.written, matched: count }], kind: "all-linear", defaultTargets: null, layerFiltered };
  }

  if (t !== null && t.kind === "regex") {
    const hits = compileNameMatcher(t.pattern, "fullmatch", { file, pos: patternPosition(adapter, ["target_modules"]), field: "target_modules" }).matchAll(names);
    const reason: Reason = { field: "target_modules", entry: t.pattern };
    let count = 0;
    for (let i = 0; i < n; i++) if (hits[i]) ((reasons[i] = reason), count++);
    return { reasons, counts: [{ entry: t.pattern, matched: count }], kind: "regex", defaultTargets: null, layerFiltered };
  }

  if (t !== null && t.kind === "glob") {
    const counts: SelectorCount[] = [];
    // Positions point at the glob's text: the list entry, or the string when `glob:` has one.
    const siteOf = (k: number) => ({
      file,
      pos:
        adapter.patternPositionOf?.(["target_modules", "glob", k], "value") ??
        adapter.patternPositionOf?.(["target_modules", "glob"], "value") ??
        adapter.positionOf(["target_modules", "glob"]),
      field: "target_modules.glob",
    });
    selectGlobMatches(t.patterns, names, siteOf).forEach((hits, k) => {
      const reason: Reason = { field: "target_modules", entry: t.patterns[k]! };
      for (const i of hits) {
        if (reasons[i] === undefined) reasons[i] = reason;
      }
      counts.push({ entry: reason.entry, matched: hits.length });
    });
    return { reasons, counts, kind: "glob", defaultTargets: null, layerFiltered };
  }

  // List, written or PEFT's default for the model type (rule 5).
  let entries: string[];
  let field: Reason["field"] = "target_modules";
  let defaultTargets: string[] | null = null;
  if (t === null) {
    const modelType = graph.model_type;
    const defaults = modelType !== null ? options.defaultTargetModules(modelType) : undefined;
    if (defaults === undefined) {
      throw new PeftcError(
        "unknown-model-type",
        `target_modules is not set and PEFT has no default target modules for model type '${modelType ?? "unknown"}'; set target_modules explicitly`,
        where(adapter, file, []),
      );
    }
    entries = defaults;
    defaultTargets = defaults;
    field = "default_target_modules";
  } else {
    entries = t.entries;
  }

  const set = new SuffixSet(entries);
  const entryReasons: Reason[] = entries.map((entry) => ({ field, entry }));
  const counts = new Array<number>(entries.length).fill(0);
  const layers = adapter.layers_to_transform !== null ? new Set(adapter.layers_to_transform) : null;
  const layerPatterns = adapter.layers_pattern !== null ? adapter.layers_pattern.map((p, i) => compileLayerPattern(p, adapter, file, i)) : null;

  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    const exact = set.exact(name);
    if (exact) {
      // An exact full-name match is never filtered by layer.
      for (const k of exact) counts[k]!++;
      reasons[i] = entryReasons[Math.min(...exact)]!;
      continue;
    }
    let first = -1;
    const hitEntries: number[] = [];
    set.forEachSuffixMatch(name, (idx) => {
      for (const k of idx) {
        hitEntries.push(k);
        if (first < 0 || k < first) first = k;
      }
    });
    if (first < 0) continue;
    if (layers !== null) {
      const index = layerIndexOf(name, layerPatterns);
      if (index === null || !layers.has(index)) {
        layerFiltered.push(i);
        continue;
      }
    }
    for (const k of hitEntries) counts[k]!++;
    reasons[i] = entryReasons[first]!;
  }
  void diagnostics;
  return {
    reasons,
    counts: entries.map((entry, k) => ({ entry, matched: counts[k]! })),
    kind: t === null ? "default" : "list",
    defaultTargets,
    layerFiltered,
  };
}

/** Lists the modules all-linear leaves out: the output embedding, else a SEQ_CLS head at the top level. */
function allLinearExclusions(graph: Graph, adapter: AdapterSpec): Set<string> {
  const out = new Set<string>();
  if (graph.output_embeddings) out.add(graph.output_embeddings);
  else if (adapter.task_type === "SEQ_CLS") {
    const names = new Set(graph.modules.map((m) => m.name));
    const head = SEQ_CLS_HEAD_NAMES.find((h) => names.has(h));
    if (head !== undefined) out.add(head);
  }
  return out;
}

/** PEFT's `re.match(rf"(^|.*\.){entry}($|\..*)", key)`, with a set-based fast path for plain names. */
function saveExclusionHits(entry: string, names: readonly string[], site: { file: string; pos: SourcePos | undefined; field: string }): Uint8Array {
  if (escapeRegex(entry) === entry) {
    const out = new Uint8Array(names.length);
    const dotted = "." + entry;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (name === entry || name.startsWith(entry + ".") || name.endsWith(dotted) || name.includes(dotted + ".")) out[i] = 1;
    }
    return out;
  }
  return compileNameMatcher(entry, "match", site, "(^|.*\\.)(?:", ")($|\\..*)").matchAll(names);
}

/**
 * Returns the value of the first rank_pattern or alpha_pattern key that matches `name`, else
 * `fallback`. It checks one name, while resolvePatterns does all targets in one batch.
 */
export function patternValue(adapter: AdapterSpec, file: string, field: "rank_pattern" | "alpha_pattern", name: string, fallback: number): number {
  for (const [key, value] of adapter[field]) {
    if (compileNameMatcher(key, "match", { file, pos: adapter.positionOf([field, key]), field }, "(.*\\.)?(", ")$").test(name)) return value;
  }
  return fallback;
}

function resolvePatterns(adapter: AdapterSpec, file: string, names: string[], targets: number[], diagnostics: Diagnostic[]) {
  const values = new Map<number, { r: number; rKey: string | null; alpha: number; alphaKey: string | null }>();
  const targetNames = targets.map((i) => names[i]!);
  const firstKey = (field: "rank_pattern" | "alpha_pattern", pairs: Array<[string, number]>) => {
    const chosen = new Int32Array(targets.length).fill(-1);
    const counts: SelectorCount[] = [];
    pairs.forEach(([key], k) => {
      const hits = compileNameMatcher(key, "match", { file, pos: patternPosition(adapter, [field, key]), field }, "(.*\\.)?(", ")$").matchAll(targetNames);
      let count = 0;
      for (let j = 0; j < targets.length; j++) {
        if (!hits[j]) continue;
        count++;
        if (chosen[j] === -1) chosen[j] = k;
      }
      counts.push({ entry: key, matched: count });
      if (count === 0) {
        diagnostics.push(warning(adapter, file, "pattern-unused", `${field} key '${key}' matches no targeted module, so it changes nothing`, [field, key]));
      }
    });
    return { chosen, counts };
  };
  const rk = firstKey("rank_pattern", adapter.rank_pattern);
  const al = firstKey("alpha_pattern", adapter.alpha_pattern);
  targets.forEach((i, j) => {
    const rIdx = rk.chosen[j]!;
    const aIdx = al.chosen[j]!;
    // Most targets match no key, and a million-entry map would cost more than the rest of this step.
    if (rIdx < 0 && aIdx < 0) return;
    values.set(i, {
      r: rIdx >= 0 ? adapter.rank_pattern[rIdx]![1] : adapter.r,
      rKey: rIdx >= 0 ? adapter.rank_pattern[rIdx]![0] : null,
      alpha: aIdx >= 0 ? adapter.alpha_pattern[aIdx]![1] : adapter.lora_alpha,
      alphaKey: aIdx >= 0 ? adapter.alpha_pattern[aIdx]![0] : null,
    });
  });
  return { values, rankCounts: rk.counts, alphaCounts: al.counts };
}

function resolveSaved(adapter: AdapterSpec, file: string, names: string[], entries: string[], userCount: number, diagnostics: Diagnostic[]) {
  const saved: number[] = [];
  const savedReason = new Map<number, Reason>();
  const counts = new Array<number>(entries.length).fill(0);
  const partial = new Set<number>();
  let insideSaved: string | null = null;

  // Outermost matches only: a module inside a saved one is part of its copy.
  if (entries.length > 0) {
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (insideSaved !== null && name.startsWith(insideSaved)) continue;
      insideSaved = null;
      // PEFT's rule: a plain `endswith`, with no dot boundary.
      let first = -1;
      entries.forEach((entry, k) => {
        if (!name.endsWith(entry)) return;
        counts[k]!++;
        if (first < 0) first = k;
        if (name !== entry && !name.endsWith("." + entry)) partial.add(k);
      });
      if (first < 0) continue;
      saved.push(i);
      savedReason.set(i, { field: first >= userCount ? "task_type" : "modules_to_save", entry: entries[first]! });
      insideSaved = name + ".";
    }
  }

  for (const k of partial) {
    if (k >= userCount) continue;
    const entry = entries[k]!;
    const examples = saved.map((i) => names[i]!).filter((nm) => nm.endsWith(entry) && nm !== entry && !nm.endsWith("." + entry));
    diagnostics.push(
      warning(
        adapter,
        file,
        "save-partial-name",
        `modules_to_save entry '${entry}' also saves ${examples.slice(0, 3).map((e) => `'${e}'`).join(", ")} because PEFT matches the end of the name without a dot boundary; write the full name if that is not intended`,
        ["modules_to_save", k],
      ),
    );
  }

  const taskHeadNames = new Set(taskHeads(adapter.task_type));
  for (let k = 0; k < userCount; k++) {
    if (counts[k] !== 0) continue;
    const entry = entries[k]!;
    // A task head the user also listed may be absent, because the model has the other one.
    if (taskHeadNames.has(entry)) continue;
    diagnostics.push(warning(adapter, file, "save-unused", `modules_to_save entry '${entry}' matches no module, so nothing is saved for it`, ["modules_to_save", k]));
  }

  const saveCounts = entries.map((entry, k) => ({ entry, matched: counts[k]! }));
  return { saved, savedReason, saveCounts };
}

function reportUnusedEntries(
  adapter: AdapterSpec,
  file: string,
  selection: Selection,
  excludeCounts: SelectorCount[],
  diagnostics: Diagnostic[],
  closest: (entry: string) => string[],
): void {
  const t = adapter.target_modules;
  if (selection.kind === "list" && t !== null && t.kind === "list") {
    const anyMatched = selection.counts.some((c) => c.matched > 0);
    selection.counts.forEach((c, k) => {
      if (anyMatched && c.matched === 0) {
        const near = closest(c.entry).slice(0, 3);
        const hint = near.length > 0 ? `; closest names: ${near.map((name) => `'${name}'`).join(", ")}` : "";
        diagnostics.push(warning(adapter, file, "target-unused", `target_modules entry '${c.entry}' matches no module while the other entries do${hint}`, ["target_modules", k]));
      }
    });
    t.entries.forEach((entry, k) => {
      if (looksLikeRegex(entry)) {
        diagnostics.push(
          warning(
            adapter,
            file,
            "entry-looks-like-regex",
            `target_modules entry '${entry}' contains regex syntax, but PEFT compares list entries as plain names; write the whole target_modules as one regex string to match by pattern`,
            ["target_modules", k],
          ),
        );
      }
    });
  }
  const ex = adapter.exclude_modules;
  if (ex !== null && ex.kind === "list") {
    ex.entries.forEach((entry, k) => {
      if (looksLikeRegex(entry)) {
        diagnostics.push(
          warning(adapter, file, "entry-looks-like-regex", `exclude_modules entry '${entry}' contains regex syntax, but PEFT compares list entries as plain names; use one regex string for exclude_modules to match by pattern`, ["exclude_modules", k]),
        );
      }
    });
    void excludeCounts;
  }
}

function noTargetError(adapter: AdapterSpec, file: string, names: string[], anyExcluded: boolean, anyUnmatched: boolean, selection: Selection, options: ResolveOptions): PeftcError {
  const t = adapter.target_modules;
  const at = where(adapter, file, ["target_modules"]);
  if (anyExcluded && !anyUnmatched) {
    return new PeftcError("all-excluded", "every module of the model is excluded (by exclude_modules or modules_to_save); check target_modules, exclude_modules and modules_to_save", at);
  }
  const emptyTargets = t !== null && ((t.kind === "list" && t.entries.length === 0) || (t.kind === "glob" && t.patterns.length === 0));
  if (!anyExcluded && emptyTargets) {
    return new PeftcError("no-targets", "target_modules is empty and target_parameters is not set, so the adapter has nothing to train; list the modules to adapt", at);
  }
  if (!anyExcluded) {
    const described = describeTargets(adapter, selection);
    let message = `no module matches target_modules ${described}`;
    if (adapter.layers_to_transform !== null) message += ` with layers_to_transform ${JSON.stringify(adapter.layers_to_transform)}`;
    if (adapter.layers_pattern !== null) message += ` and layers_pattern ${JSON.stringify(adapter.layers_pattern)}`;
    if (selection.layerFiltered.length > 0) message += ` (${selection.layerFiltered.length} modules match by name but are in other layers)`;
    const closest = closestNames(adapter, selection, names, options);
    if (closest.length > 0) message += `; closest names: ${closest.map((c) => `'${c}'`).join(", ")}`;
    return new PeftcError("no-target-match", message, at);
  }
  let message = "no module is left to adapt: target_modules matches only modules that exclude_modules or modules_to_save exclude";
  if (adapter.layers_to_transform !== null) message += `, or modules outside layers_to_transform ${JSON.stringify(adapter.layers_to_transform)}`;
  return new PeftcError("no-target-after-exclude", message + "; check target_modules and exclude_modules", at);
}

function describeTargets(adapter: AdapterSpec, selection: Selection): string {
  const t = adapter.target_modules;
  if (t === null) return `(PEFT's default for ${adapter.name === "default" ? "this model type" : "the model type"}: ${JSON.stringify(selection.defaultTargets)})`;
  switch (t.kind) {
    case "list":
      return JSON.stringify(t.entries);
    case "regex":
      return `'${t.pattern}'`;
    case "glob":
      return `glob ${JSON.stringify(t.patterns)}`;
    default:
      return `'${t.written}'`;
  }
}

/** Lists the written target entries or patterns, to look for names close to them. */
function probesOf(t: AdapterSpec["target_modules"], defaults: string[] | null): string[] {
  if (t === null) return defaults ?? [];
  switch (t.kind) {
    case "list":
      return t.entries;
    case "regex":
      return [t.pattern];
    case "glob":
      return t.patterns;
    default:
      return [];
  }
}

function closestNames(adapter: AdapterSpec, selection: Selection, names: string[], options: ResolveOptions): string[] {
  if (!options.suggestNames) return [];
  const probes = probesOf(adapter.target_modules, selection.defaultTargets);
  const out: string[] = [];
  for (const probe of probes.slice(0, 5)) {
    for (const s of options.suggestNames(probe, names)) if (!out.includes(s)) out.push(s);
  }
  return out.slice(0, 5);
}


/**
 * Weight tying for one adapter. After targets are resolved, this decides which tie groups the
 * adapter touches and how each is shared.
 */
import { PeftcError, type Diagnostic } from "../errors.js";
import type { Graph } from "../graph/types.js";
import type { PlanTieGroup, TieRef } from "../plan/types.js";
import type { AdapterSpec } from "../spec/types.js";
import type { ResolvedAdapter } from "./targets.js";
import { indicesOfNames } from "./names.js";
import type { TieGroup } from "./tie-groups.js";

export interface TiedTarget {
  index: number;
  tie: TieRef;
  /** The source module whose r/alpha/scaling and tensors a member uses. */
  sourceIndex: number;
  /** True when the module was not selected by the spec and joins only because of its tie. */
  addedByTie: boolean;
  /** The exclude_modules entry the tie overrode, if any. */
  overridesExclude: string | null;
}

export interface TrainableTokens {
  index: number;
  indices: number[];
  tie: TieRef | null;
}

export interface TieOutcome {
  groups: Array<PlanTieGroup & { note?: string }>;
  /** Targets to add or annotate, by module index. */
  tiedTargets: Map<number, TiedTarget>;
  /** Targets dropped because their group is shared as a saved copy instead. */
  droppedTargets: Set<number>;
  /** Saved modules to add or annotate, by module index. */
  savedTies: Map<number, TieRef>;
  tokens: TrainableTokens[];
  /** Tied module indices of untied groups: each keeps its own adapter or copy. */
  untied: Map<number, string>;
  diagnostics: Diagnostic[];
}

function orientation(graph: Graph, source: number, member: number): "same" | "transposed" {
  const embedding = (i: number) => graph.modules[i]!.type === "Embedding";
  return embedding(source) === embedding(member) ? "same" : "transposed";
}

function at(adapter: AdapterSpec, file: string, path: Array<string | number>) {
  const pos = adapter.positionOf(path);
  return pos ? { file, line: pos.line, col: pos.col, adapter: adapter.name } : { file, adapter: adapter.name };
}

/** Resolves `trainable_token_indices` to module indices: a list means the input embedding. */
function tokenRequests(graph: Graph, adapter: AdapterSpec, file: string, indexOf: Map<string, number>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  const spec = adapter.trainable_token_indices;
  if (spec === null) return out;
  if (Array.isArray(spec)) {
    const input = graph.input_embeddings;
    if (!input || !indexOf.has(input)) {
      throw new PeftcError(
        "token-target-missing",
        "trainable_token_indices is a list, which applies to the input embedding, but the model graph names no input embedding; give a mapping from module name to indices",
        at(adapter, file, ["trainable_token_indices"]),
      );
    }
    out.set(indexOf.get(input)!, spec);
    return out;
  }
  for (const [key, indices] of Object.entries(spec)) {
    const hits = graph.modules.flatMap((m, i) => (m.name === key || m.name.endsWith("." + key) ? [i] : []));
    if (hits.length === 0) {
      throw new PeftcError("token-target-missing", `trainable_token_indices names '${key}', which matches no module; use a module name from \`peftc graph\``, at(adapter, file, ["trainable_token_indices", key]));
    }
    for (const i of hits) out.set(i, indices);
  }
  return out;
}

function sameIndices(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((v, i) => v === sb[i]);
}

/** Tells whether `value` is in `sorted`, an ascending array, by binary search. */
function includesSorted(sorted: readonly number[], value: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const found = sorted[middle]!;
    if (found === value) return true;
    if (found < value) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

export function applyTies(graph: Graph, groups: TieGroup[], resolved: ResolvedAdapter, file: string): TieOutcome {
  const adapter = resolved.adapter;
  const tiedNames = groups.flatMap((g) => [g.source, ...g.members]);
  const indexOf = indicesOfNames(graph.modules, graph.input_embeddings ? [...tiedNames, graph.input_embeddings] : tiedNames);
  // Only the few tied modules are looked up, so a binary search over the sorted targets is enough.
  const isTargeted = (i: number): boolean => includesSorted(resolved.targets, i);
  const saved = new Set(resolved.saved);
  const tokenByModule = tokenRequests(graph, adapter, file, indexOf);

  const outcome: TieOutcome = {
    groups: [],
    tiedTargets: new Map(),
    droppedTargets: new Set(),
    savedTies: new Map(),
    tokens: [],
    untied: new Map(),
    diagnostics: [],
  };
  // A warning points at the field that caused it, or at target_modules when that field was not written.
  const warn = (code: string, message: string, path: Array<string | number>) => {
    const where = adapter.positionOf(path) !== undefined ? path : ["target_modules"];
    outcome.diagnostics.push({ severity: "warning", code, message, ...at(adapter, file, where) });
  };
  const ensure = adapter.ensure_weight_tying;
  const tiedModules = new Set<number>();

  let involvedCount = 0;
  for (const group of groups) {
    const source = indexOf.get(group.source)!;
    const members = group.members.map((m) => indexOf.get(m)!);
    const all = [source, ...members];
    all.forEach((i) => tiedModules.add(i));
    const viaSave = all.filter((i) => saved.has(i));
    const viaTokens = all.filter((i) => tokenByModule.has(i));
    const selected = all.filter((i) => isTargeted(i));
    if (viaSave.length === 0 && selected.length === 0 && viaTokens.length === 0) continue;
    involvedCount++;
    const names = all.map((i) => graph.modules[i]!.name);

    if (!ensure) {
      const touched = [...new Set([...viaSave, ...selected, ...viaTokens])].map((i) => graph.modules[i]!.name);
      warn(
        "tie-not-ensured",
        `${names.join(", ")} share one weight, but ensure_weight_tying is not set, so ${touched.join(", ")} ${touched.length === 1 ? "gets its" : "get their"} own adapter or copy. ` +
          "Merging then splits the shared weight, and the merged model must be saved with tie_word_embeddings: false. Set ensure_weight_tying: true to share one adapter",
        ["ensure_weight_tying"],
      );
      outcome.groups.push({ id: group.id, source: group.source, members: group.members, mode: "untied", note: "merging splits the shared weight; save a merged model with tie_word_embeddings: false" });
      for (const i of all) outcome.untied.set(i, group.id);
      continue;
    }

    const ref = (i: number): TieRef => ({ group: group.id, role: i === source ? "source" : "member", orientation: i === source ? "same" : orientation(graph, source, i) });

    if (viaSave.length > 0) {
      // One trainable copy on the source, shared by every member; this path wins over LoRA targets.
      outcome.groups.push({ id: group.id, source: group.source, members: group.members, mode: "shared_copy" });
      for (const i of all) {
        outcome.savedTies.set(i, { group: group.id, role: i === source ? "source" : "member", orientation: "same" });
        if (isTargeted(i)) outcome.droppedTargets.add(i);
      }
      continue;
    }

    if (selected.length > 0) {
      outcome.groups.push({ id: group.id, source: group.source, members: group.members, mode: "shared_adapter" });
      for (const i of all) {
        const exclusion = resolved.excluded.get(i);
        const overridesExclude = !isTargeted(i) && exclusion !== undefined && exclusion.field === "exclude_modules" ? exclusion.entry : null;
        if (overridesExclude !== null) {
          warn(
            "tie-overrides-exclude",
            `'${graph.modules[i]!.name}' is excluded by exclude_modules entry '${overridesExclude}' but shares its weight with '${group.source}', so it still uses the shared adapter (as PEFT does with ensure_weight_tying)`,
            ["exclude_modules"],
          );
        }
        outcome.tiedTargets.set(i, { index: i, tie: ref(i), sourceIndex: source, addedByTie: !isTargeted(i), overridesExclude });
      }
      continue;
    }

    // Only trainable tokens touch the group: train the rows once on the source.
    const lists = viaTokens.map((i) => tokenByModule.get(i)!);
    for (let k = 1; k < lists.length; k++) {
      if (!sameIndices(lists[0]!, lists[k]!)) {
        throw new PeftcError(
          "tie-token-conflict",
          `trainable_token_indices gives different token lists to '${graph.modules[viaTokens[0]!]!.name}' and '${graph.modules[viaTokens[k]!]!.name}', which share one weight; give both the same indices`,
          at(adapter, file, ["trainable_token_indices"]),
        );
      }
    }
    outcome.groups.push({ id: group.id, source: group.source, members: group.members, mode: "shared_tokens" });
    for (const i of all) outcome.tokens.push({ index: i, indices: lists[0]!, tie: ref(i) });
    for (const i of viaTokens) tokenByModule.delete(i);
  }

  for (const [i, indices] of tokenByModule) {
    if (outcome.tokens.some((t) => t.index === i)) continue;
    outcome.tokens.push({ index: i, indices, tie: null });
  }
  outcome.tokens.sort((a, b) => a.index - b.index);

  if (ensure) {
    if (groups.length === 0) {
      warn("tie-no-tied-weights", "ensure_weight_tying is set but the model has no tied weights (or tie_word_embeddings is false), so modules are adapted independently", ["ensure_weight_tying"]);
    } else if (involvedCount === 0) {
      warn(
        "tie-nothing-to-tie",
        `ensure_weight_tying is set but no tied module is targeted or saved (tied: ${groups.map((g) => [g.source, ...g.members].join(" = ")).join("; ")})`,
        ["ensure_weight_tying"],
      );
    }
  }
  return outcome;
}

/** Semantic diff of two plans: what a spec or model change does to each adapter. */
import type { Plan, PlanAdapter, PlanDiagnostic, PlanSavedModule, PlanTarget, PlanTieGroup } from "../plan/types.js";
import { MINUS, formatParameterDelta, plural } from "./format.js";
import {
  DIFF_FORMAT,
  SAVED_FIELDS,
  TARGET_FIELDS,
  type AdapterDiff,
  type DiffSummary,
  type FieldChange,
  type ModelDiff,
  type ParameterDelta,
  type PlanDiff,
  type SettingChange,
  type TieGroupChange,
} from "./types.js";

/** Adapter fields compared on their own terms, not as settings. */
const ADAPTER_CORE_FIELDS = new Set(["name", "targets", "modules_to_save", "tie_groups", "trainable_parameters"]);
/**
 * Adapter fields left out of the diff: `selectors` records how many modules each target entry matched,
 * which follows from the target lists that the diff already compares.
 */
const ADAPTER_DERIVED_FIELDS = new Set(["selectors"]);
const MODEL_CORE_FIELDS = new Set(["fingerprint", "model_type", "parameters"]);

/**
 * Compares two plans. Adapters are matched by name, targets and saved modules by module name, tie
 * groups by id and diagnostics by code, message and adapter. Lists keep the new plan's module order,
 * and removed entries keep the old plan's order.
 */
export function diffPlans(oldPlan: Plan, newPlan: Plan): PlanDiff {
  const modelParameters = newPlan.model.parameters;
  const adapters: AdapterDiff[] = [];
  const oldByName = new Map(oldPlan.adapters.map((a) => [a.name, a]));
  const newNames = new Set(newPlan.adapters.map((a) => a.name));
  for (const adapter of newPlan.adapters) {
    adapters.push(diffAdapter(oldByName.get(adapter.name) ?? null, adapter, modelParameters));
  }
  for (const adapter of oldPlan.adapters) {
    if (!newNames.has(adapter.name)) adapters.push(diffAdapter(adapter, null, modelParameters));
  }

  const model = diffModel(oldPlan, newPlan);
  const diagnostics = {
    appeared: subtractDiagnostics(newPlan.diagnostics, oldPlan.diagnostics),
    resolved: subtractDiagnostics(oldPlan.diagnostics, newPlan.diagnostics),
  };
  const summary = summarize(adapters, diagnostics, parameterDelta(totalTrainable(oldPlan), totalTrainable(newPlan), modelParameters));
  const identical = !model.changed && adapters.every((a) => a.status === "unchanged") && diagnostics.appeared.length === 0 && diagnostics.resolved.length === 0;

  return {
    format: DIFF_FORMAT,
    identical,
    summary_line: identical ? "no changes" : writeSummaryLine(summary, model),
    summary,
    model,
    adapters,
    diagnostics,
  };
}

/** True when the plans are the same in every respect the diff compares. */
export function diffIsEmpty(diff: PlanDiff): boolean {
  return diff.identical;
}

function diffModel(oldPlan: Plan, newPlan: Plan): ModelDiff {
  const change = <T>(from: T, to: T): { from: T; to: T } | null => (from === to ? null : { from, to });
  const fingerprint = change(oldPlan.model.fingerprint, newPlan.model.fingerprint);
  const modelType = change(oldPlan.model.model_type, newPlan.model.model_type);
  const parameters = change(oldPlan.model.parameters, newPlan.model.parameters);
  const other = diffExtraFields(oldPlan.model, newPlan.model, MODEL_CORE_FIELDS);
  return {
    changed: fingerprint !== null || modelType !== null || parameters !== null || other.length > 0,
    fingerprint,
    model_type: modelType,
    parameters,
    other_changes: other,
  };
}

function diffAdapter(oldAdapter: PlanAdapter | null, newAdapter: PlanAdapter | null, modelParameters: number | null): AdapterDiff {
  const name = (newAdapter ?? oldAdapter)!.name;
  const oldTargets = oldAdapter?.targets ?? [];
  const newTargets = newAdapter?.targets ?? [];
  const targets = diffEntries(oldTargets, newTargets, TARGET_FIELDS);
  const saved = diffEntries(oldAdapter?.modules_to_save ?? [], newAdapter?.modules_to_save ?? [], SAVED_FIELDS);
  const ties = diffTieGroups(oldAdapter?.tie_groups ?? [], newAdapter?.tie_groups ?? []);
  // An added or removed adapter is listed whole, so its settings are not repeated one by one.
  const skipped = new Set([...ADAPTER_CORE_FIELDS, ...ADAPTER_DERIVED_FIELDS]);
  const settings = oldAdapter === null || newAdapter === null ? [] : diffExtraFields(oldAdapter, newAdapter, skipped);
  // A missing adapter trains nothing, so an added or removed adapter counts from or to zero.
  const trainable = parameterDelta(oldAdapter === null ? 0 : oldAdapter.trainable_parameters, newAdapter === null ? 0 : newAdapter.trainable_parameters, modelParameters);

  const diff: AdapterDiff = {
    name,
    status: "changed",
    targets_added: targets.added,
    targets_removed: targets.removed,
    targets_changed: targets.changedModules,
    target_changes: targets.changes,
    saved_added: saved.added,
    saved_removed: saved.removed,
    saved_changes: saved.changes,
    tie_groups_created: ties.created,
    tie_groups_broken: ties.broken,
    tie_groups_changed: ties.changed,
    settings_changes: settings,
    trainable_parameters: trainable,
  };
  if (oldAdapter === null) diff.status = "added";
  else if (newAdapter === null) diff.status = "removed";
  else if (adapterIsUnchanged(diff)) diff.status = "unchanged";
  return diff;
}

function adapterIsUnchanged(d: AdapterDiff): boolean {
  const lists = [d.targets_added, d.targets_removed, d.targets_changed, d.saved_added, d.saved_removed, d.saved_changes, d.tie_groups_created, d.tie_groups_broken, d.tie_groups_changed, d.settings_changes];
  return lists.every((list) => list.length === 0) && d.trainable_parameters.from === d.trainable_parameters.to;
}

interface EntryDiff<F extends string> {
  added: string[];
  removed: string[];
  changedModules: string[];
  changes: FieldChange<F>[];
}

/** Matches entries by module name and groups each field's changes by their (from, to) pair. */
function diffEntries<E extends PlanTarget | PlanSavedModule, F extends keyof E & string>(oldEntries: E[], newEntries: E[], fields: readonly F[]): EntryDiff<F> {
  const oldByModule = new Map(oldEntries.map((e) => [e.module, e]));
  const newModules = new Set(newEntries.map((e) => e.module));
  const added: string[] = [];
  const changedModules: string[] = [];
  const groups = new Map<string, FieldChange<F>>();

  for (const entry of newEntries) {
    const before = oldByModule.get(entry.module);
    if (before === undefined) {
      added.push(entry.module);
      continue;
    }
    let changed = false;
    for (const field of fields) {
      const from = before[field] ?? null;
      const to = entry[field] ?? null;
      if (canonicalJson(from) === canonicalJson(to)) continue;
      changed = true;
      const key = `${field}\u0000${canonicalJson(from)}\u0000${canonicalJson(to)}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = { field, from, to, modules: [] };
        groups.set(key, group);
      }
      group.modules.push(entry.module);
    }
    if (changed) changedModules.push(entry.module);
  }

  const removed = oldEntries.filter((e) => !newModules.has(e.module)).map((e) => e.module);
  // Fields in their fixed order, and within a field the largest group first.
  const changes = [...groups.values()].sort((a, b) => fields.indexOf(a.field) - fields.indexOf(b.field) || b.modules.length - a.modules.length);
  return { added, removed, changedModules, changes };
}

function diffTieGroups(oldGroups: PlanTieGroup[], newGroups: PlanTieGroup[]): { created: PlanTieGroup[]; broken: PlanTieGroup[]; changed: TieGroupChange[] } {
  const oldById = new Map(oldGroups.map((g) => [g.id, g]));
  const newIds = new Set(newGroups.map((g) => g.id));
  const created: PlanTieGroup[] = [];
  const changed: TieGroupChange[] = [];
  for (const group of newGroups) {
    const before = oldById.get(group.id);
    if (before === undefined) {
      created.push(group);
      continue;
    }
    const oldMembers = new Set(before.members);
    const newMembers = new Set(group.members);
    const change: TieGroupChange = {
      id: group.id,
      group,
      source: before.source === group.source ? null : { from: before.source, to: group.source },
      mode: before.mode === group.mode ? null : { from: before.mode, to: group.mode },
      members_added: group.members.filter((m) => !oldMembers.has(m)),
      members_removed: before.members.filter((m) => !newMembers.has(m)),
    };
    if (change.source !== null || change.mode !== null || change.members_added.length > 0 || change.members_removed.length > 0) changed.push(change);
  }
  const broken = oldGroups.filter((g) => !newIds.has(g.id));
  return { created, broken, changed };
}

/**
 * Compares the fields of two objects that are not in `skip`. Where both values are plain objects
 * (such as `config`), their keys are compared one by one and reported as `config.use_dora`.
 */
function diffExtraFields(before: Record<string, unknown>, after: Record<string, unknown>, skip: ReadonlySet<string>): SettingChange[] {
  const changes: SettingChange[] = [];
  for (const key of unionOfKeys(before, after)) {
    if (skip.has(key)) continue;
    const from = before[key] ?? null;
    const to = after[key] ?? null;
    if (isPlainObject(from) && isPlainObject(to)) {
      for (const inner of unionOfKeys(from, to)) {
        const innerFrom = from[inner] ?? null;
        const innerTo = to[inner] ?? null;
        if (canonicalJson(innerFrom) !== canonicalJson(innerTo)) changes.push({ field: `${key}.${inner}`, from: innerFrom, to: innerTo });
      }
    } else if (canonicalJson(from) !== canonicalJson(to)) {
      changes.push({ field: key, from, to });
    }
  }
  return changes;
}

/** Keys of `after`, then the keys only `before` has, each in its object's order. */
function unionOfKeys(before: object, after: object): string[] {
  const keys = Object.keys(after);
  const seen = new Set(keys);
  for (const key of Object.keys(before)) if (!seen.has(key)) keys.push(key);
  return keys;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function diagnosticKey(d: PlanDiagnostic): string {
  return `${d.code}\u0000${d.message}\u0000${d.adapter ?? ""}`;
}

/** Diagnostics in `a` that `b` lacks, counting repeats, so a warning that now appears twice shows once. */
function subtractDiagnostics(a: PlanDiagnostic[], b: PlanDiagnostic[]): PlanDiagnostic[] {
  const remaining = new Map<string, number>();
  for (const d of b) remaining.set(diagnosticKey(d), (remaining.get(diagnosticKey(d)) ?? 0) + 1);
  const result: PlanDiagnostic[] = [];
  for (const d of a) {
    const key = diagnosticKey(d);
    const left = remaining.get(key) ?? 0;
    if (left > 0) remaining.set(key, left - 1);
    else result.push(d);
  }
  return result;
}

function totalTrainable(plan: Plan): number | null {
  let total = 0;
  for (const adapter of plan.adapters) {
    if (adapter.trainable_parameters === null) return null;
    total += adapter.trainable_parameters;
  }
  return total;
}

function parameterDelta(from: number | null, to: number | null, modelParameters: number | null): ParameterDelta {
  const delta = from === null || to === null ? null : to - from;
  const percent = delta === null || modelParameters === null || modelParameters === 0 ? null : (delta / modelParameters) * 100;
  return { from, to, delta, percent_of_model: percent };
}

function summarize(adapters: AdapterDiff[], diagnostics: PlanDiff["diagnostics"], trainable: ParameterDelta): DiffSummary {
  const sum = (count: (a: AdapterDiff) => number): number => adapters.reduce((n, a) => n + count(a), 0);
  return {
    targets_added: sum((a) => a.targets_added.length),
    targets_removed: sum((a) => a.targets_removed.length),
    targets_changed: sum((a) => a.targets_changed.length),
    adapters_added: adapters.filter((a) => a.status === "added").length,
    adapters_removed: adapters.filter((a) => a.status === "removed").length,
    saved_added: sum((a) => a.saved_added.length),
    saved_removed: sum((a) => a.saved_removed.length),
    saved_changed: sum((a) => new Set(a.saved_changes.flatMap((c) => c.modules)).size),
    tie_groups_changed: sum((a) => a.tie_groups_created.length + a.tie_groups_broken.length + a.tie_groups_changed.length),
    settings_changed: sum((a) => a.settings_changes.length),
    diagnostics_appeared: diagnostics.appeared.length,
    diagnostics_resolved: diagnostics.resolved.length,
    trainable_parameters: trainable,
  };
}

/**
 * `+28 targets · 96 changed · −0 removed · trainable +3.1M (+0.25%)`, followed by the other kinds of
 * change only when there are some: model, adapters, saved modules, tie groups, settings, diagnostics.
 */
function writeSummaryLine(s: DiffSummary, model: ModelDiff): string {
  const parts = [`+${plural(s.targets_added, "target")}`, `${s.targets_changed} changed`, `${MINUS}${s.targets_removed} removed`, `trainable ${formatParameterDelta(s.trainable_parameters)}`];
  if (model.changed) parts.push("model changed");
  if (s.adapters_added + s.adapters_removed > 0) parts.push(`adapters +${s.adapters_added} ${MINUS}${s.adapters_removed}`);
  if (s.saved_added + s.saved_removed + s.saved_changed > 0) {
    const changed = s.saved_changed > 0 ? ` (${s.saved_changed} changed)` : "";
    parts.push(`modules_to_save +${s.saved_added} ${MINUS}${s.saved_removed}${changed}`);
  }
  if (s.tie_groups_changed > 0) parts.push(`${plural(s.tie_groups_changed, "tie group")} changed`);
  if (s.settings_changed > 0) parts.push(`${plural(s.settings_changed, "setting")} changed`);
  if (s.diagnostics_appeared + s.diagnostics_resolved > 0) parts.push(`diagnostics +${s.diagnostics_appeared} ${MINUS}${s.diagnostics_resolved}`);
  return parts.join(" \u00b7 ");
}

/** JSON with object keys sorted, so values compare equal whatever order their keys were written in. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const keys = Object.keys(v).sort();
    return Object.fromEntries(keys.map((key) => [key, (v as Record<string, unknown>)[key]]));
  });
}

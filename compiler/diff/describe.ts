/**
 * Turns a `PlanDiff` into sections of marked lines that the text and markdown renderers share, so
 * both print the same content: "+ 28 targets added", "~ r 8→16 on 96 modules", each followed by the
 * collapsed module names it concerns.
 */
import type { PlanDiagnostic, PlanTieGroup } from "../plan/types.js";
import { collapseModules, type CollapsedNames } from "./collapse.js";
import { ARROW, MINUS, formatCount, formatSignedCount, formatSignedPercent, formatValue, plural } from "./format.js";
import type { AdapterDiff, FieldChange, ModelDiff, ParameterDelta, PlanDiff, SettingChange, TieGroupChange } from "./types.js";

/** A run of plain text, or a name the renderers set apart (a code span in markdown). */
export type Inline = string | { code: string };

export type Mark = "+" | "-" | "~";

export interface Block {
  mark: Mark;
  title: Inline[];
  /** Collapsed names of the modules the line is about. Empty when the title names everything. */
  modules: CollapsedNames[];
}

export interface Section {
  heading: Inline[];
  blocks: Block[];
}

/** Sections for the model, each adapter that changed, and the diagnostics; none when the plans are identical. */
export function describeDiff(diff: PlanDiff): Section[] {
  const sections: Section[] = [];
  if (diff.model.changed) sections.push(describeModel(diff.model));
  for (const adapter of diff.adapters) {
    if (adapter.status !== "unchanged") sections.push(describeAdapter(adapter));
  }
  const { appeared, resolved } = diff.diagnostics;
  if (appeared.length + resolved.length > 0) {
    sections.push({
      heading: [`diagnostics: +${appeared.length} ${MINUS}${resolved.length}`],
      blocks: [...appeared.map((d) => diagnosticBlock("+", d)), ...resolved.map((d) => diagnosticBlock("-", d))],
    });
  }
  return sections;
}

function describeModel(model: ModelDiff): Section {
  const blocks: Block[] = [];
  if (model.model_type !== null) blocks.push(changeBlock("model_type", formatValue(model.model_type.from), formatValue(model.model_type.to)));
  if (model.parameters !== null) {
    const count = (n: number | null): string => (n === null ? "unknown" : formatCount(n));
    blocks.push(changeBlock("parameters", count(model.parameters.from), count(model.parameters.to)));
  }
  if (model.fingerprint !== null) {
    blocks.push({ mark: "~", title: ["fingerprint ", { code: model.fingerprint.from }, ` ${ARROW} `, { code: model.fingerprint.to }], modules: [] });
  }
  for (const change of model.other_changes) blocks.push(settingBlock(change));
  return { heading: ["model changed"], blocks };
}

function changeBlock(label: string, from: string, to: string): Block {
  return { mark: "~", title: [`${label} ${from}${ARROW}${to}`], modules: [] };
}

function describeAdapter(a: AdapterDiff): Section {
  const status = a.status === "changed" ? "" : ` (${a.status})`;
  const heading: Inline[] = ["adapter ", { code: a.name }, `${status}: trainable ${describeTrainable(a.trainable_parameters)}`];
  const blocks: Block[] = [];

  if (a.targets_added.length > 0) blocks.push(modulesBlock("+", `${plural(a.targets_added.length, "target")} added`, a.targets_added));
  if (a.targets_removed.length > 0) blocks.push(modulesBlock("-", `${plural(a.targets_removed.length, "target")} removed`, a.targets_removed));
  for (const change of a.target_changes) blocks.push(fieldChangeBlock("", change));

  if (a.saved_added.length > 0) blocks.push(modulesBlock("+", `modules_to_save: ${a.saved_added.length} added`, a.saved_added));
  if (a.saved_removed.length > 0) blocks.push(modulesBlock("-", `modules_to_save: ${a.saved_removed.length} removed`, a.saved_removed));
  for (const change of a.saved_changes) blocks.push(fieldChangeBlock("modules_to_save ", change));

  for (const group of a.tie_groups_created) blocks.push({ mark: "+", title: ["tie group ", { code: group.id }, " created: ", ...describeTie(group, "now")], modules: [] });
  for (const group of a.tie_groups_broken) blocks.push({ mark: "-", title: ["tie group ", { code: group.id }, " broken: ", ...describeTie(group, "no longer")], modules: [] });
  for (const change of a.tie_groups_changed) blocks.push(tieChangeBlock(change));
  for (const change of a.settings_changes) blocks.push(settingBlock(change));

  return { heading, blocks };
}

/** `3.4M → 6.5M (+3.1M, +0.25%)`. */
function describeTrainable(d: ParameterDelta): string {
  const count = (n: number | null): string => (n === null ? "unknown" : formatCount(n));
  if (d.delta === null) return `${count(d.from)} ${ARROW} ${count(d.to)}`;
  if (d.delta === 0) return `${count(d.to)} (unchanged)`;
  const percent = d.percent_of_model === null ? "" : `, ${formatSignedPercent(d.percent_of_model)} of the model`;
  return `${count(d.from)} ${ARROW} ${count(d.to)} (${formatSignedCount(d.delta)}${percent})`;
}

function modulesBlock(mark: Mark, title: string, modules: string[]): Block {
  return { mark, title: [title], modules: collapseModules(modules) };
}

/** `r 8→16 on 96 modules`, `tie none → member of model.embed_tokens.weight (transposed) on 1 module`. */
function fieldChangeBlock(prefix: string, change: FieldChange): Block {
  const from = formatValue(change.from);
  const to = formatValue(change.to);
  // Short values read best joined (`r 8→16`), words need spaces around the arrow.
  const arrow = from.includes(" ") || to.includes(" ") ? ` ${ARROW} ` : ARROW;
  const title = `${prefix}${change.field} ${from}${arrow}${to} on ${plural(change.modules.length, "module")}`;
  return { mark: "~", title: [title], modules: collapseModules(change.modules) };
}

/** `lm_head now shares the adapter of model.embed_tokens (shared_adapter)`. */
function describeTie(group: PlanTieGroup, when: "now" | "no longer", withMode = true): Inline[] {
  const members = joinNames(group.members);
  const singleMember = group.members.length === 1;
  const mode = withMode ? ` (${group.mode})` : "";
  if (group.mode === "untied") {
    const verb = singleMember ? "is" : "are";
    if (when === "now") return [...members, ` ${verb} tied to `, { code: group.source }, ` but adapted independently${mode}`];
    return [...members, ` ${verb} no longer tied to `, { code: group.source }, withMode ? " (was untied)" : ""];
  }
  const shared: Record<Exclude<PlanTieGroup["mode"], "untied">, string> = {
    shared_adapter: "the adapter of ",
    shared_copy: "the trainable copy of ",
    shared_tokens: "the trained token rows of ",
  };
  const verb = singleMember ? "shares" : "share";
  return [...members, ` ${when} ${verb} ${shared[group.mode]}`, { code: group.source }, mode];
}

function tieChangeBlock(change: TieGroupChange): Block {
  const title: Inline[] = ["tie group ", { code: change.id }, ": "];
  const parts: Inline[][] = [];
  if (change.mode !== null) {
    // Say what the new mode means for the members, as a created group does.
    parts.push([`mode ${change.mode.from} ${ARROW} ${change.mode.to}, so `, ...describeTie(change.group, "now", false)]);
  }
  if (change.source !== null) parts.push(["source ", { code: change.source.from }, ` ${ARROW} `, { code: change.source.to }]);
  if (change.members_added.length > 0) parts.push(["members added: ", ...joinNames(change.members_added)]);
  if (change.members_removed.length > 0) parts.push(["members removed: ", ...joinNames(change.members_removed)]);
  parts.forEach((part, i) => {
    if (i > 0) title.push("; ");
    title.push(...part);
  });
  return { mark: "~", title, modules: [] };
}

/** `config.use_dora false→true`; lists and objects are written as compact JSON. */
function settingBlock(change: SettingChange): Block {
  const from = formatValue(change.from);
  const to = formatValue(change.to);
  const arrow = from.includes(" ") || to.includes(" ") ? ` ${ARROW} ` : ARROW;
  return { mark: "~", title: [`${change.field} ${from}${arrow}${to}`], modules: [] };
}

function joinNames(names: string[]): Inline[] {
  const result: Inline[] = [];
  names.forEach((name, i) => {
    if (i > 0) result.push(i === names.length - 1 ? " and " : ", ");
    result.push({ code: name });
  });
  return result;
}

function diagnosticBlock(mark: Mark, d: PlanDiagnostic): Block {
  const adapter = d.adapter !== undefined && d.adapter !== "default" ? ` (adapter ${d.adapter})` : "";
  return { mark, title: [`${d.severity}[${d.code}]: ${d.message}${adapter}`], modules: [] };
}

/** In-memory form of a `peftc-diff/1` document, the JSON output of `peftc diff` (schemas/diff.schema.json). */
import type { PlanDiagnostic, PlanTieGroup } from "../plan/types.js";

export const DIFF_FORMAT = "peftc-diff/1";

/** A value before and after, for a field that changed. */
export interface ValueChange<T> {
  from: T;
  to: T;
}

/** Target fields compared one by one, in the order the diff lists them. */
export const TARGET_FIELDS = ["kind", "in_features", "out_features", "r", "alpha", "scaling", "dropout", "fan_in_fan_out", "tie"] as const;
export type TargetField = (typeof TARGET_FIELDS)[number];

/** Saved-module fields compared one by one. */
export const SAVED_FIELDS = ["parameters", "tie"] as const;
export type SavedField = (typeof SAVED_FIELDS)[number];

/** Every module whose `field` went from one value to the same other value: "r 8→16 on 96 modules". */
export interface FieldChange<F extends string = string> {
  field: F;
  from: unknown;
  to: unknown;
  modules: string[];
}

/**
 * A changed field outside the fixed core of the plan format, such as `config.use_dora` or
 * `trainable_tokens`. Object fields are compared key by key, so `field` can be a dotted path.
 */
export interface SettingChange {
  field: string;
  from: unknown;
  to: unknown;
}

export interface TieGroupChange {
  id: string;
  /** The group as the new plan has it. */
  group: PlanTieGroup;
  source: ValueChange<string> | null;
  mode: ValueChange<PlanTieGroup["mode"]> | null;
  members_added: string[];
  members_removed: string[];
}

/** A trainable-parameter count before and after; `null` where a plan does not know it. */
export interface ParameterDelta {
  from: number | null;
  to: number | null;
  delta: number | null;
  /** `delta` as a percentage of the new model's parameter count. */
  percent_of_model: number | null;
}

export interface AdapterDiff {
  name: string;
  status: "added" | "removed" | "changed" | "unchanged";
  targets_added: string[];
  targets_removed: string[];
  /** Targets in both plans with at least one changed field, in module order. */
  targets_changed: string[];
  target_changes: FieldChange<TargetField>[];
  saved_added: string[];
  saved_removed: string[];
  saved_changes: FieldChange<SavedField>[];
  tie_groups_created: PlanTieGroup[];
  tie_groups_broken: PlanTieGroup[];
  tie_groups_changed: TieGroupChange[];
  /** Other adapter fields (`config`, `trainable_tokens`, ...); `null` or absent counts as missing. */
  settings_changes: SettingChange[];
  trainable_parameters: ParameterDelta;
}

export interface ModelDiff {
  /** True when any model field differs: the plans are for different models or model configurations. */
  changed: boolean;
  fingerprint: ValueChange<string> | null;
  model_type: ValueChange<string | null> | null;
  parameters: ValueChange<number | null> | null;
  /** Other model fields, such as `tie_groups` or `architectures`. */
  other_changes: SettingChange[];
}

/** Counts behind the summary line. */
export interface DiffSummary {
  targets_added: number;
  targets_removed: number;
  targets_changed: number;
  adapters_added: number;
  adapters_removed: number;
  saved_added: number;
  saved_removed: number;
  saved_changed: number;
  tie_groups_changed: number;
  settings_changed: number;
  diagnostics_appeared: number;
  diagnostics_resolved: number;
  trainable_parameters: ParameterDelta;
}

export interface PlanDiff {
  format: typeof DIFF_FORMAT;
  /** True when nothing the diff compares differs. */
  identical: boolean;
  /** The one-line summary every renderer prints first. */
  summary_line: string;
  summary: DiffSummary;
  model: ModelDiff;
  adapters: AdapterDiff[];
  diagnostics: {
    appeared: PlanDiagnostic[];
    resolved: PlanDiagnostic[];
  };
}

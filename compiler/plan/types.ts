/** In-memory form of a `peftc-plan/1` document (schemas/plan.schema.json). Field order here is the order written. */
import type { Diagnostic } from "../errors.js";

export const PLAN_FORMAT = "peftc-plan/1";

export type TargetKind = "linear" | "embedding" | "conv1d" | "conv2d" | "conv3d" | "conv1d_gpt2" | "mha";

export interface TieRef {
  /** The tie group's id: the fully-qualified name of the shared source parameter. */
  group: string;
  role: "source" | "member";
  /** `transposed` for a Linear member of an Embedding source: A and B swapped and transposed. */
  orientation: "same" | "transposed";
}

export interface PlanTarget {
  module: string;
  kind: TargetKind;
  in_features: number | null;
  out_features: number | null;
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
  fan_in_fan_out: boolean;
  /** Trainable LoRA parameters this target adds; 0 for a member that uses its source's tensors. */
  parameters: number | null;
  tie: TieRef | null;
}

export interface PlanSavedModule {
  module: string;
  parameters: number | null;
  tie: TieRef | null;
}

export interface PlanTieGroup {
  id: string;
  source: string;
  members: string[];
  mode: "shared_adapter" | "shared_copy" | "shared_tokens" | "untied";
}

export interface PlanAdapter {
  name: string;
  method: "lora";
  targets: PlanTarget[];
  modules_to_save: PlanSavedModule[];
  tie_groups: PlanTieGroup[];
  trainable_parameters: number | null;
  [extra: string]: unknown;
}

export interface PlanModel {
  fingerprint: string;
  model_type: string | null;
  parameters: number | null;
  [extra: string]: unknown;
}

export type PlanDiagnostic = Pick<Diagnostic, "severity" | "code" | "message"> & { adapter?: string };

export interface Plan {
  format: typeof PLAN_FORMAT;
  model: PlanModel;
  adapters: PlanAdapter[];
  diagnostics: PlanDiagnostic[];
  [extra: string]: unknown;
}

/** In-memory form of a spec after loading and schema checks: one entry per adapter, PEFT defaults filled in. */
import type { Diagnostic } from "../errors.js";

/** How `target_modules` selects modules: PEFT's list, regex and all-linear forms, and peftc's globs. */
export type TargetSelector =
  | { kind: "list"; entries: string[] }
  | { kind: "regex"; pattern: string }
  | { kind: "all-linear"; written: string }
  | { kind: "glob"; patterns: string[] };

/** `exclude_modules`: a regex string (full match) or a list of names (exact or dotted-suffix match). */
export type ExcludeSelector = { kind: "list"; entries: string[] } | { kind: "regex"; pattern: string };

/** A 1-based position in the spec file. */
export interface SourcePos {
  line: number;
  col: number;
}

export interface AdapterSpec {
  name: string;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  /** `null` when absent or null: PEFT's default targets for the model type apply. */
  target_modules: TargetSelector | null;
  exclude_modules: ExcludeSelector | null;
  /** `null` when absent, null or an empty list; an int is stored as a one-element list. */
  layers_to_transform: number[] | null;
  /** `null` when absent, `""` or `[]`; a string is stored as a one-element list. */
  layers_pattern: string[] | null;
  /** Key/value pairs in the order written. */
  rank_pattern: Array<[string, number]>;
  alpha_pattern: Array<[string, number]>;
  /** As written (duplicates kept); task-type heads are added by the compiler, not here. */
  modules_to_save: string[] | null;
  ensure_weight_tying: boolean;
  /** A list of token ids for the input embedding, or per-module lists keyed by module name. */
  trainable_token_indices: number[] | Record<string, number[]> | null;
  target_parameters: string[] | null;
  use_rslora: boolean;
  use_dora: boolean;
  bias: "none" | "all" | "lora_only";
  lora_bias: boolean;
  /** `null` when the spec did not set it. */
  fan_in_fan_out: boolean | null;
  init_lora_weights: boolean | string;
  task_type: string | null;
  /** Fields kept but not used for planning (`base_model_name_or_path`, `revision`, unknown PEFT fields, ...). */
  metadata: Record<string, unknown>;
  /**
   * Position of a field inside this adapter, by path: `["target_modules"]`, `["target_modules", 2]`,
   * `["rank_pattern", "q_proj"]`. Returns undefined when unknown (e.g. a default value).
   */
  positionOf(path: Array<string | number>): SourcePos | undefined;
  /**
   * Position of the first character of a pattern's text, past an opening quote: the string value of
   * `["exclude_modules"]`, the element of `["target_modules", 2]`, or the key of
   * `["rank_pattern", "q_proj"]`. Errors inside a regex add their offset to it.
   */
  patternPositionOf?(path: Array<string | number>, at?: "key" | "value"): SourcePos | undefined;
}

export interface Spec {
  /** The spec path as the user gave it. */
  file: string;
  /** `model:` resolved against the spec's directory, or null. */
  model: string | null;
  /** Where the `model:` value is written, for errors about that path. */
  modelPos?: SourcePos;
  /** True for a PEFT adapter_config.json (it declares `peft_type`). */
  peft_file: boolean;
  adapters: AdapterSpec[];
  /** Warnings found while loading (e.g. `unknown-field` in a PEFT file). */
  diagnostics: Diagnostic[];
}

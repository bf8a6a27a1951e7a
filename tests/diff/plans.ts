/**
 * Builds llama-style plans for the diff tests in the `peftc-plan/1` layout: one target
 * per projection per layer, in module order, with `parameters = r · (in_features + out_features)`.
 */
import type { Plan, PlanAdapter, PlanTarget, PlanTieGroup, TieRef } from "../../compiler/plan/types.js";

export const HIDDEN = 2048;
export const VOCAB = 32000;
/** Base model size for the percentages, about that of a 1.1B llama with 22 layers and hidden size 2048. */
export const MODEL_PARAMETERS = 1_100_048_384;
export const FINGERPRINT = "sha256:" + "a".repeat(64);

export interface LayoutOptions {
  layers?: number;
  /** Projection names under `self_attn` (`q_proj`, `v_proj`) or `mlp` (`gate_proj`, ...). */
  projections?: string[];
  /** Layer indices that get targets; every layer when absent. */
  layersToTransform?: number[];
  hidden?: number;
  r?: number;
  alpha?: number;
  dropout?: number;
  name?: string;
}

const MLP = new Set(["gate_proj", "up_proj", "down_proj"]);

export function linearTarget(module: string, inFeatures: number, outFeatures: number, r: number, alpha: number, dropout = 0.05, tie: TieRef | null = null): PlanTarget {
  return {
    module,
    kind: "linear",
    in_features: inFeatures,
    out_features: outFeatures,
    r,
    alpha,
    scaling: alpha / r,
    dropout,
    fan_in_fan_out: false,
    parameters: tie?.role === "member" ? 0 : r * (inFeatures + outFeatures),
    tie,
  };
}

/** Builds an adapter with one target per projection in each transformed layer. */
export function layeredAdapter(options: LayoutOptions = {}): PlanAdapter {
  const { layers = 22, projections = ["q_proj", "v_proj"], hidden = HIDDEN, r = 8, alpha = 16, dropout = 0.05, name = "default" } = options;
  const transformed = new Set(options.layersToTransform ?? Array.from({ length: layers }, (_, i) => i));
  const targets: PlanTarget[] = [];
  for (let layer = 0; layer < layers; layer++) {
    if (!transformed.has(layer)) continue;
    for (const projection of projections) {
      const block = MLP.has(projection) ? "mlp" : "self_attn";
      targets.push(linearTarget(`model.layers.${layer}.${block}.${projection}`, hidden, hidden, r, alpha, dropout));
    }
  }
  return withTotals({ name, method: "lora", targets, modules_to_save: [], tie_groups: [], trainable_parameters: null });
}

/** Sets `trainable_parameters` to the sum over targets and saved modules, as a plan writes it. */
export function withTotals(adapter: PlanAdapter): PlanAdapter {
  const targets = adapter.targets.reduce((n, t) => n + (t.parameters ?? 0), 0);
  const saved = adapter.modules_to_save.reduce((n, s) => n + (s.parameters ?? 0), 0);
  return { ...adapter, trainable_parameters: targets + saved };
}

export function plan(adapters: PlanAdapter[], model: Partial<Plan["model"]> = {}, diagnostics: Plan["diagnostics"] = []): Plan {
  return {
    format: "peftc-plan/1",
    model: { fingerprint: FINGERPRINT, model_type: "llama", parameters: MODEL_PARAMETERS, ...model },
    adapters,
    diagnostics,
  };
}

/** The embedding tie of a llama model with `tie_word_embeddings: true`. */
export function embeddingTie(mode: PlanTieGroup["mode"]): PlanTieGroup {
  return { id: "model.embed_tokens.weight", source: "model.embed_tokens", members: ["lm_head"], mode };
}

/** A deep copy, so a test can change one plan without touching the other. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

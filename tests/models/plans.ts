import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fingerprintModules } from "../../compiler/graph/fingerprint.js";
import type { GraphModule } from "../../compiler/graph/types.js";
import type { Plan, PlanTarget } from "../../compiler/plan/types.js";
import { readSafetensors } from "../../runtime/safetensors.js";

export const REFERENCE = fileURLToPath(new URL("../fixtures/reference/", import.meta.url));

/**
 * Lists the adaptable modules of a fixture from its checkpoint alone (tensor names and shapes,
 * laid out as the fixtures' README documents), not from the model builders. Linear
 * weights are [out, in], GPT-2's Conv1D weights [in, out], embeddings [num, dim], and a tied
 * checkpoint gets the `lm_head` it does not store.
 */
export function checkpointModules(dir: string): GraphModule[] {
  const config = JSON.parse(readFileSync(`${dir}/config.json`, "utf8")) as Record<string, unknown>;
  const { tensors } = readSafetensors(readFileSync(`${dir}/model.safetensors`));
  const modules: GraphModule[] = [];
  let embedding: number[] | undefined;
  for (const [key, entry] of tensors) {
    if (!key.endsWith(".weight") || entry.shape.length !== 2) continue;
    const name = key.slice(0, -".weight".length);
    const [rows, cols] = entry.shape as [number, number];
    if (/(wte|wpe|embed_tokens)$/.test(name)) {
      modules.push({ name, type: "Embedding", num_embeddings: rows, embedding_dim: cols });
      if (!name.endsWith("wpe")) embedding = entry.shape;
    } else if (config["model_type"] === "gpt2") {
      modules.push({ name, type: "Conv1D", in_features: rows, out_features: cols });
    } else {
      modules.push({ name, type: "Linear", in_features: cols, out_features: rows });
    }
  }
  if (!tensors.has("lm_head.weight")) modules.push({ name: "lm_head", type: "Linear", in_features: embedding![1]!, out_features: embedding![0]! });
  return modules;
}

export function checkpointFingerprint(dir: string): string {
  return fingerprintModules(checkpointModules(dir));
}

const KIND: Record<string, PlanTarget["kind"]> = { Linear: "linear", Embedding: "embedding", Conv1D: "conv1d_gpt2" };

/**
 * Builds a one-adapter plan (peftc-plan/1) for the modules whose names end with one of `suffixes`,
 * r and alpha as given. With `tie`, the input embedding and lm_head form a `shared_adapter`
 * group whose source is the embedding, as the compiler writes it with ensure_weight_tying.
 */
export function planFor(modules: GraphModule[], suffixes: string[], options: { r?: number; alpha?: number; tie?: string } = {}): Plan {
  const r = options.r ?? 4;
  const alpha = options.alpha ?? 8;
  const targets: PlanTarget[] = [];
  for (const m of modules) {
    if (!suffixes.some((s) => m.name === s || m.name.endsWith(`.${s}`))) continue;
    const kind = KIND[m.type]!;
    const inFeatures = kind === "embedding" ? m.num_embeddings! : m.in_features!;
    const outFeatures = kind === "embedding" ? m.embedding_dim! : m.out_features!;
    let tie: PlanTarget["tie"] = null;
    if (options.tie !== undefined && (m.name === options.tie || m.name === "lm_head")) {
      const source = m.name === options.tie;
      tie = { group: `${options.tie}.weight`, role: source ? "source" : "member", orientation: source ? "same" : "transposed" };
    }
    const parameters = tie?.role === "member" ? 0 : r * (inFeatures + outFeatures);
    targets.push({ module: m.name, kind, in_features: inFeatures, out_features: outFeatures, r, alpha, scaling: alpha / r, dropout: 0, fan_in_fan_out: kind === "conv1d_gpt2", parameters, tie });
  }
  const groups = options.tie === undefined ? [] : [{ id: `${options.tie}.weight`, source: options.tie, members: ["lm_head"], mode: "shared_adapter" as const }];
  return {
    format: "peftc-plan/1",
    model: { fingerprint: fingerprintModules(modules), model_type: null, parameters: null },
    adapters: [{ name: "default", method: "lora", targets, modules_to_save: [], tie_groups: groups, trainable_parameters: null }],
    diagnostics: [],
  };
}

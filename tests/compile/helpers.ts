/** Small in-memory graphs and adapters for resolution tests, with PEFT's LoraConfig defaults. */
import type { Graph, GraphModule } from "../../compiler/graph/types.js";
import type { AdapterSpec } from "../../compiler/spec/types.js";

export function adapter(fields: Partial<AdapterSpec> = {}): AdapterSpec {
  return {
    name: "default",
    r: 8,
    lora_alpha: 8,
    lora_dropout: 0,
    target_modules: null,
    exclude_modules: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: [],
    alpha_pattern: [],
    modules_to_save: null,
    ensure_weight_tying: false,
    trainable_token_indices: null,
    target_parameters: null,
    use_rslora: false,
    use_dora: false,
    bias: "none",
    lora_bias: false,
    fan_in_fan_out: null,
    init_lora_weights: true,
    task_type: null,
    metadata: {},
    positionOf: () => undefined,
    ...fields,
  };
}

export function linear(name: string, inF = 4, outF = 4): GraphModule {
  return { name, type: "Linear", in_features: inF, out_features: outF, bias: false };
}

export function embedding(name: string, num = 10, dim = 4): GraphModule {
  return { name, type: "Embedding", num_embeddings: num, embedding_dim: dim };
}

/** A graph with every dotted prefix listed (as a `Module` unless given), in named_modules() order. */
export function graphOf(modules: GraphModule[], extra: Partial<Graph> = {}): Graph {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const out: GraphModule[] = [];
  const seen = new Set<string>();
  for (const m of modules) {
    const parts = m.name.split(".");
    for (let k = 1; k <= parts.length; k++) {
      const name = parts.slice(0, k).join(".");
      if (seen.has(name)) continue;
      seen.add(name);
      out.push(byName.get(name) ?? { name, type: "Module" });
    }
  }
  return { format: "peftc-graph/1", model_type: "llama", architectures: [], config: {}, modules: out, ...extra };
}

/** A Llama-like decoder: embed_tokens, `layers` x (q,k,v,o, gate, up, down), norm, lm_head. */
export function llamaGraph(layers: number, options: { tied?: boolean; hidden?: number; vocab?: number } = {}): Graph {
  const h = options.hidden ?? 8;
  const vocab = options.vocab ?? 32;
  const modules: GraphModule[] = [embedding("model.embed_tokens", vocab, h)];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    for (const n of ["q_proj", "k_proj", "v_proj", "o_proj"]) modules.push(linear(`${p}.self_attn.${n}`, h, h));
    modules.push(linear(`${p}.mlp.gate_proj`, h, 2 * h), linear(`${p}.mlp.up_proj`, h, 2 * h), linear(`${p}.mlp.down_proj`, 2 * h, h));
    modules.push({ name: `${p}.input_layernorm`, type: "RMSNorm", parameters: h });
  }
  modules.push({ name: "model.norm", type: "RMSNorm", parameters: h }, linear("lm_head", h, vocab));
  const tied = options.tied ?? false;
  return graphOf(modules, {
    config: { tie_word_embeddings: tied },
    tied_weights_keys: { "lm_head.weight": "model.embed_tokens.weight" },
    input_embeddings: "model.embed_tokens",
    output_embeddings: "lm_head",
  });
}

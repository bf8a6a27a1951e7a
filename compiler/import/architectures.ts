/**
 * Facts about each transformers model type that import needs: embedding paths, declared tied weights,
 * Conv1D-style layers, the config class default of `tie_word_embeddings`, and PEFT's default LoRA
 * targets. Tie declarations use the transformers v5 dict form (target parameter -> source).
 */
import type { TiedWeightsKeys } from "../graph/types.js";
import { headKind, type HeadKind } from "./templates.js";

export interface ArchitectureInfo {
  /** `base_model_prefix` of the model class: the attribute that contains the base model. */
  basePrefix: string;
  /** Config class default of `tie_word_embeddings` (used when config.json lacks the key). */
  defaultTieWordEmbeddings: boolean;
  /** Input embedding path relative to the base model. */
  inputEmbeddings: string;
  /** Output embedding of the LM-head class, or null when the class has none. */
  lmHead: string | null;
  /** Root tie declaration of the LM-head class. */
  lmTiedKeys: Record<string, string>;
  /** Ties declared by the base model itself (T5, BART), relative to it. */
  baseTiedKeys?: Record<string, string>;
  /** Masked-LM class head and its ties (BERT family). */
  maskedLm?: { output: string; tiedKeys: Record<string, string> };
  /** Short names of layers stored as transformers Conv1D (weight laid out (in, out)). */
  conv1d?: string[];
  /**
   * Prefix renames applied to checkpoint keys, as transformers applies them on load
   * (`_checkpoint_conversion_mapping`), first match wins.
   */
  keyRenames?: Array<[from: string, to: string]>;
}

const llamaLike = (defaultTie: boolean): ArchitectureInfo => ({
  basePrefix: "model",
  defaultTieWordEmbeddings: defaultTie,
  inputEmbeddings: "embed_tokens",
  lmHead: "lm_head",
  lmTiedKeys: { "lm_head.weight": "model.embed_tokens.weight" },
});

const bertLike = (prefix: string, mlmHead: "cls" | "roberta"): ArchitectureInfo => ({
  basePrefix: prefix,
  defaultTieWordEmbeddings: true,
  inputEmbeddings: "embeddings.word_embeddings",
  lmHead: null,
  lmTiedKeys: {},
  maskedLm:
    mlmHead === "cls"
      ? {
          output: "cls.predictions.decoder",
          tiedKeys: {
            "cls.predictions.decoder.weight": `${prefix}.embeddings.word_embeddings.weight`,
            "cls.predictions.decoder.bias": "cls.predictions.bias",
          },
        }
      : {
          output: "lm_head.decoder",
          tiedKeys: {
            "lm_head.decoder.weight": `${prefix}.embeddings.word_embeddings.weight`,
            "lm_head.decoder.bias": "lm_head.bias",
          },
        },
});

/**
 * Config class defaults of `tie_word_embeddings` come from each configuration class's `__init__`
 * (PretrainedConfig defaults to true; Llama, Mistral, Mixtral, Qwen2/3 and their MoE variants,
 * Phi-3, GPT-NeoX, Granite, Granite MoE and gpt-oss default to false).
 */
export const ARCHITECTURES: Record<string, ArchitectureInfo> = {
  llama: llamaLike(false),
  mistral: llamaLike(false),
  mixtral: llamaLike(false),
  qwen2: llamaLike(false),
  qwen2_moe: llamaLike(false),
  qwen3: llamaLike(false),
  qwen3_moe: llamaLike(false),
  gemma: llamaLike(true),
  gemma2: llamaLike(true),
  gemma3_text: llamaLike(true),
  smollm3: llamaLike(true),
  phi3: llamaLike(false),
  granite: llamaLike(false),
  granitemoe: llamaLike(false),
  gpt_oss: llamaLike(false),
  gemma3: {
    basePrefix: "model",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "language_model.embed_tokens",
    lmHead: "lm_head",
    lmTiedKeys: { "lm_head.weight": "model.language_model.embed_tokens.weight" },
    keyRenames: [
      ["language_model.model.", "model.language_model."],
      ["vision_tower.", "model.vision_tower."],
      ["multi_modal_projector.", "model.multi_modal_projector."],
      ["language_model.lm_head.", "lm_head."],
    ],
  },
  gpt2: {
    basePrefix: "transformer",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "wte",
    lmHead: "lm_head",
    lmTiedKeys: { "lm_head.weight": "transformer.wte.weight" },
    conv1d: ["c_attn", "c_proj", "c_fc"],
  },
  opt: {
    basePrefix: "model",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "decoder.embed_tokens",
    lmHead: "lm_head",
    lmTiedKeys: { "lm_head.weight": "model.decoder.embed_tokens.weight" },
  },
  bloom: {
    basePrefix: "transformer",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "word_embeddings",
    lmHead: "lm_head",
    lmTiedKeys: { "lm_head.weight": "transformer.word_embeddings.weight" },
  },
  falcon: {
    basePrefix: "transformer",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "word_embeddings",
    lmHead: "lm_head",
    lmTiedKeys: { "lm_head.weight": "transformer.word_embeddings.weight" },
  },
  gpt_neox: {
    basePrefix: "gpt_neox",
    defaultTieWordEmbeddings: false,
    inputEmbeddings: "embed_in",
    lmHead: "embed_out",
    lmTiedKeys: {},
  },
  t5: {
    // T5 models hold shared/encoder/decoder at the root; there is no wrapping base model.
    // NOTE: transformers 4 shares one Embedding between `shared` and the stacks even when
    // tie_word_embeddings is false. The graph follows the rule that false unties every embedding
    // tie, so for such configs the parameter total counts encoder.embed_tokens separately.
    basePrefix: "",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "shared",
    lmHead: "lm_head",
    lmTiedKeys: {
      "encoder.embed_tokens.weight": "shared.weight",
      "decoder.embed_tokens.weight": "shared.weight",
      "lm_head.weight": "shared.weight",
    },
  },
  bart: {
    basePrefix: "model",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "shared",
    lmHead: "lm_head",
    lmTiedKeys: { "lm_head.weight": "model.shared.weight" },
    baseTiedKeys: { "encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight" },
  },
  whisper: {
    basePrefix: "model",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "decoder.embed_tokens",
    lmHead: "proj_out",
    lmTiedKeys: { "proj_out.weight": "model.decoder.embed_tokens.weight" },
  },
  bert: bertLike("bert", "cls"),
  layoutlm: bertLike("layoutlm", "cls"),
  roberta: bertLike("roberta", "roberta"),
  clip_text_model: {
    basePrefix: "text_model",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "embeddings.token_embedding",
    lmHead: null,
    lmTiedKeys: {},
  },
  vit: {
    basePrefix: "vit",
    defaultTieWordEmbeddings: true,
    inputEmbeddings: "embeddings.patch_embeddings",
    lmHead: null,
    lmTiedKeys: {},
  },
};
ARCHITECTURES["mt5"] = ARCHITECTURES["t5"]!;

export function architectureInfo(modelType: string | null): ArchitectureInfo | undefined {
  return modelType !== null && Object.hasOwn(ARCHITECTURES, modelType) ? ARCHITECTURES[modelType] : undefined;
}

/** Embedding paths and tie declarations of one model class. */
export interface ClassTies {
  inputEmbeddings: string | null;
  outputEmbeddings: string | null;
  tiedWeightsKeys: TiedWeightsKeys | null;
  moduleTiedWeightsKeys: Record<string, TiedWeightsKeys>;
}

/** Embedding paths and tie declarations for `className` of `modelType` (fully-qualified names). */
export function classTies(modelType: string, info: ArchitectureInfo, className: string | undefined): ClassTies {
  const head: HeadKind = headKind(className);
  const bare = head === "base";
  // The bare base model has no prefix; T5 models hold their stacks at the root (no base prefix).
  const prefix = bare || info.basePrefix === "" ? "" : `${info.basePrefix}.`;
  const input = info.inputEmbeddings === "embeddings.patch_embeddings" ? null : `${prefix}${info.inputEmbeddings}`;
  const moduleTiedWeightsKeys: Record<string, TiedWeightsKeys> = {};
  if (info.baseTiedKeys !== undefined && !bare) moduleTiedWeightsKeys[info.basePrefix] = { ...info.baseTiedKeys };

  if (head === "masked-lm" && info.maskedLm !== undefined) {
    return { inputEmbeddings: input, outputEmbeddings: info.maskedLm.output, tiedWeightsKeys: info.maskedLm.tiedKeys, moduleTiedWeightsKeys };
  }
  if (head === "causal-lm" && info.lmHead !== null) {
    return { inputEmbeddings: input, outputEmbeddings: info.lmHead, tiedWeightsKeys: { ...info.lmTiedKeys }, moduleTiedWeightsKeys };
  }
  if (head === "encoder" && (modelType === "t5" || modelType === "mt5")) {
    return { inputEmbeddings: input, outputEmbeddings: null, tiedWeightsKeys: { "encoder.embed_tokens.weight": "shared.weight" }, moduleTiedWeightsKeys };
  }
  if (bare && info.baseTiedKeys !== undefined) {
    return { inputEmbeddings: input, outputEmbeddings: null, tiedWeightsKeys: { ...info.baseTiedKeys }, moduleTiedWeightsKeys: {} };
  }
  return { inputEmbeddings: input, outputEmbeddings: null, tiedWeightsKeys: null, moduleTiedWeightsKeys };
}

/**
 * PEFT's default LoRA `target_modules` per model type, used when a spec gives none
 * (`TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING` in peft/utils/constants.py, PEFT main at
 * commit 00073fe). Model types missing here have no default in PEFT either.
 */
const LORA_DEFAULT_TARGETS: Record<string, readonly string[]> = {
  t5: ["q", "v"],
  mt5: ["q", "v"],
  bart: ["q_proj", "v_proj"],
  gpt2: ["c_attn"],
  bloom: ["query_key_value"],
  "blip-2": ["q", "v", "q_proj", "v_proj"],
  opt: ["q_proj", "v_proj"],
  gptj: ["q_proj", "v_proj"],
  gpt_neox: ["query_key_value"],
  gpt_neo: ["q_proj", "v_proj"],
  bert: ["query", "value"],
  roberta: ["query", "value"],
  "xlm-roberta": ["query", "value"],
  electra: ["query", "value"],
  "deberta-v2": ["query_proj", "value_proj"],
  deberta: ["in_proj"],
  layoutlm: ["query", "value"],
  llama: ["q_proj", "v_proj"],
  llama4: ["q_proj", "v_proj"],
  chatglm: ["query_key_value"],
  gpt_bigcode: ["c_attn"],
  mpt: ["Wqkv"],
  RefinedWebModel: ["query_key_value"],
  RefinedWeb: ["query_key_value"],
  falcon: ["query_key_value"],
  btlm: ["c_proj", "c_attn"],
  codegen: ["qkv_proj"],
  mistral: ["q_proj", "v_proj"],
  mixtral: ["q_proj", "v_proj"],
  stablelm: ["q_proj", "v_proj"],
  phi: ["q_proj", "v_proj", "fc1", "fc2"],
  gemma: ["q_proj", "v_proj"],
  gemma2: ["q_proj", "v_proj"],
  gemma3_text: ["q_proj", "v_proj"],
  qwen2: ["q_proj", "v_proj"],
  qwen3: ["q_proj", "v_proj"],
};

/** PEFT's default LoRA target list for `modelType`, or undefined when PEFT has none. */
export function defaultTargetModules(modelType: string): string[] | undefined {
  return Object.hasOwn(LORA_DEFAULT_TARGETS, modelType) ? [...LORA_DEFAULT_TARGETS[modelType]!] : undefined;
}

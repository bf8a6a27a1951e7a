/**
 * Loads a spec: a PEFT adapter_config.json, a flat YAML spec, or a YAML spec with named `adapters`.
 *
 * Forms (decided by the top-level keys):
 * - `peft_type` present: a PEFT file with one adapter named `default`. Unknown keys, near misses
 *   included, are warnings (`unknown-field`) and are kept in `metadata`, because newer PEFT versions add
 *   fields that can look like typos of older ones (`use_bdlora` is two edits from `use_dora`).
 * - `adapters` present: one adapter per entry, in the order written. Top-level LoRA fields are
 *   defaults that every adapter inherits; a field set in an adapter replaces the default as a whole.
 * - otherwise: the LoRA fields of one adapter named `default`.
 * In the YAML forms every unknown key is an error, with a did-you-mean suggestion for a near miss.
 *
 * `AdapterSpec.positionOf(path)` gives the key's position for a path that ends at a mapping entry
 * (`["r"]`, `["rank_pattern", "q_proj"]`) and the element's for a list index (`["target_modules", 2]`).
 * Schema errors point at the offending value instead.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { isMap, isScalar, isSeq, type Node } from "yaml";
import type { Diagnostic } from "../errors.js";
import { parseJson } from "../import/json-file.js";
import { PeftcError } from "../errors.js";
import { loraFields, suggestField, YAML_TOP_LEVEL_FIELDS } from "./fields.js";
import { normalizeAdapter } from "./normalize.js";
import { checkLoraFields, describeValue } from "./schema.js";
import type { AdapterSpec, SourcePos, Spec } from "./types.js";
import {
  mapEntries,
  mapEntry,
  MAX_SPEC_BYTES,
  nodeOffset,
  offsetOf,
  parseSource,
  positionAt,
  SpecError,
  ValueBuilder,
  type Path,
  type SourceDoc,
} from "./yaml-tree.js";

/** Adapter names become parts of parameter names (`lora_A.<name>.weight`), so dots are not allowed. */
const ADAPTER_NAME = /^[A-Za-z0-9_-]+$/;

/** One mapping of LoRA fields as written: the top level, or one entry of `adapters`. */
interface Block {
  node: unknown;
  values: Record<string, unknown>;
  /** Adapter the block belongs to, for diagnostics; undefined for the top level. */
  adapter?: string;
}

/** State shared by the checks of one spec. */
class LoadContext {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];

  constructor(
    readonly source: SourceDoc,
    readonly peftFile: boolean,
    /** The spec text the offsets of `source` index into. */
    readonly text: string,
  ) {}

  diagnostic(severity: "error" | "warning", code: string, message: string, offset: number | undefined, adapter?: string): void {
    const d: Diagnostic = { severity, code, message, file: this.source.file };
    if (offset !== undefined) Object.assign(d, positionAt(this.source.lines, offset));
    if (adapter !== undefined) d.adapter = adapter;
    (severity === "error" ? this.errors : this.warnings).push(d);
  }

  /** Position of `path` in `block`, at the key when the path names a mapping entry. */
  offset(block: Block, path: Path, at: "key" | "value"): number | undefined {
    return offsetOf(block.node, path, this.source.doc, at);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasKey(record: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, key);
}

/** Describes a yaml node's kind for "expected a mapping, found ..." messages. */
function nodeKind(node: unknown): string {
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return describeValue(node.value);
  return "a mapping";
}

/** Reports keys of `block` that are not in `allowed`: errors in the YAML forms, warnings in a PEFT file. */
function checkKeys(ctx: LoadContext, block: Block, allowed: readonly string[], misplaced: Record<string, string> = {}): void {
  for (const { key, keyNode } of mapEntries(block.node, ctx.source.doc)) {
    if (allowed.includes(key)) continue;
    const offset = nodeOffset(keyNode);
    if (hasKey(misplaced, key)) {
      ctx.diagnostic("error", "unknown-field", misplaced[key]!, offset, block.adapter);
      continue;
    }
    const hint = suggestField(key, allowed);
    if (ctx.peftFile) {
      const message =
        hint !== null
          ? `unknown field \`${key}\` (did you mean \`${hint}\`?); kept as metadata, as PEFT ignores it`
          : `unknown field \`${key}\`, perhaps from a newer PEFT version; kept as metadata`;
      ctx.diagnostic("warning", "unknown-field", message, offset, block.adapter);
    } else {
      const message =
        hint !== null
          ? `unknown field \`${key}\`; did you mean \`${hint}\`?`
          : `unknown field \`${key}\`; a spec takes PEFT LoraConfig fields (see schemas/spec.schema.json)`;
      ctx.diagnostic("error", "unknown-field", message, offset, block.adapter);
    }
  }
}

/** Runs the JSON Schema over one block and reports each problem at its key or value. */
function checkSchema(ctx: LoadContext, block: Block): void {
  for (const problem of checkLoraFields(block.values)) {
    let code: string = problem.code;
    let message = problem.message;
    if (problem.path[0] === "peft_type" && code === "invalid-value") {
      code = "unsupported-peft-type";
      message = `peft_type: peftc plans LoRA adapters only (\`LORA\`), found ${describeValue(block.values.peft_type)}`;
    }
    ctx.diagnostic("error", code, message, ctx.offset(block, problem.path, problem.atKey ? "key" : "value"), block.adapter);
  }
  const targets = block.values.target_modules;
  if (ctx.peftFile && isRecord(targets)) {
    const message = "target_modules: expected a list, a string or null in a PEFT adapter_config.json, found a mapping; `{glob: ...}` targets belong to YAML specs";
    ctx.diagnostic("error", "invalid-type", message, ctx.offset(block, ["target_modules"], "value"), block.adapter);
  }
}

/**
 * Field combinations that PEFT's LoraConfig rejects when it is constructed (v0.20 `__post_init__`),
 * checked on the inherited fields of one adapter.
 */
function checkCombinations(ctx: LoadContext, adapter: AdapterSpec, where: (field: string) => number | undefined): void {
  const name = adapter.name;
  const targets = adapter.target_modules;
  const stringTargets = targets !== null && targets.kind !== "list";
  if (stringTargets && adapter.layers_to_transform !== null) {
    const message = "layers_to_transform: only applies when target_modules is a list; select layers in the pattern instead";
    ctx.diagnostic("error", "field-conflict", message, where("layers_to_transform"), name);
  }
  if (stringTargets && adapter.layers_pattern !== null) {
    const message = "layers_pattern: only applies when target_modules is a list; select layers in the pattern instead";
    ctx.diagnostic("error", "field-conflict", message, where("layers_pattern"), name);
  }
  if (adapter.layers_pattern !== null && adapter.layers_to_transform === null) {
    const message = "layers_pattern: set without layers_to_transform; PEFT requires both (or neither)";
    ctx.diagnostic("error", "field-conflict", message, where("layers_pattern"), name);
  }
  if (adapter.lora_bias && adapter.use_dora) {
    ctx.diagnostic("error", "field-conflict", "lora_bias: PEFT does not support lora_bias with use_dora", where("lora_bias"), name);
  }
  if (adapter.lora_bias && typeof adapter.init_lora_weights === "string") {
    const message = `lora_bias: PEFT supports lora_bias only with init_lora_weights true or false, found "${adapter.init_lora_weights}"`;
    ctx.diagnostic("error", "field-conflict", message, where("lora_bias"), name);
  }
}

/** Builds one adapter from the blocks it reads, nearest first (its own block, then the top-level defaults). */
function buildAdapter(ctx: LoadContext, name: string, blocks: Block[]): AdapterSpec {
  const { doc, lines } = ctx.source;
  const fields: Record<string, unknown> = Object.create(null);
  for (const block of [...blocks].reverse()) {
    for (const key of Object.keys(block.values)) {
      if (!(YAML_TOP_LEVEL_FIELDS.includes(key) && !ctx.peftFile && block.adapter === undefined)) fields[key] = block.values[key];
    }
  }
  const owner = (field: string): Block | undefined => blocks.find((b) => mapEntry(b.node, field, doc) !== undefined);
  const positionOf = (path: Path): SourcePos | undefined => {
    const first = path[0];
    const block = typeof first === "string" ? owner(first) : undefined;
    const offset = block === undefined ? undefined : offsetOf(block.node, path, doc, "key");
    return offset === undefined ? undefined : positionAt(lines, offset);
  };
  const patternPositionOf = (path: Path, written?: "key" | "value"): SourcePos | undefined => {
    const first = path[0];
    const block = typeof first === "string" ? owner(first) : undefined;
    // By default a path that ends at a mapping key names a pattern written as the key (rank_pattern).
    const at = written ?? (path.length > 1 && typeof path[path.length - 1] === "string" ? "key" : "value");
    let offset = block === undefined ? undefined : offsetOf(block.node, path, doc, at);
    if (offset === undefined) return undefined;
    // NOTE: escapes in a double-quoted pattern make later columns drift by the escape's extra characters.
    if (ctx.text[offset] === '"' || ctx.text[offset] === "'") offset += 1;
    return positionAt(lines, offset);
  };
  const keyOrder = (field: string): string[] => {
    const block = owner(field);
    return block === undefined ? [] : mapEntries(mapEntry(block.node, field, doc)!.value, doc).map((e) => e.key);
  };
  const adapter = normalizeAdapter({ name, fields, keyOrder, positionOf, patternPositionOf });
  checkCombinations(ctx, adapter, (field) => {
    const block = owner(field);
    return block === undefined ? undefined : offsetOf(block.node, [field], doc, "key");
  });
  return adapter;
}

function loadPeftFile(ctx: LoadContext, top: Block): AdapterSpec[] {
  checkKeys(ctx, top, loraFields());
  checkSchema(ctx, top);
  return ctx.errors.length > 0 ? [] : [buildAdapter(ctx, "default", [top])];
}

function loadNamedAdapters(ctx: LoadContext, top: Block): AdapterSpec[] {
  const { doc } = ctx.source;
  const entry = mapEntry(top.node, "adapters", doc)!;
  if (!isMap(entry.value) || entry.value.items.length === 0) {
    const found = isMap(entry.value) ? "an empty mapping" : nodeKind(entry.value);
    const message = `adapters: expected a mapping of adapter names to LoRA fields, found ${found}`;
    ctx.diagnostic("error", "invalid-type", message, nodeOffset(entry.value) ?? nodeOffset(entry.key));
    return [];
  }
  const values = top.values.adapters as Record<string, unknown>;
  const misplaced = {
    model: "`model` is set once, at the top level of the spec",
    adapters: "`adapters` cannot be nested inside an adapter",
  };
  const adapters: AdapterSpec[] = [];
  for (const { key: name, keyNode, value: node } of mapEntries(entry.value, doc)) {
    if (!ADAPTER_NAME.test(name)) {
      const message = `adapter name \`${name}\` must use only letters, digits, \`_\` and \`-\` (it becomes part of parameter names)`;
      ctx.diagnostic("error", "invalid-adapter-name", message, nodeOffset(keyNode));
      continue;
    }
    const raw = values[name];
    if (raw !== null && !isRecord(raw)) {
      const message = `adapters.${name}: expected a mapping of LoRA fields, found ${nodeKind(node)}`;
      ctx.diagnostic("error", "invalid-type", message, nodeOffset(node), name);
      continue;
    }
    const block: Block = { node, values: raw ?? Object.create(null), adapter: name };
    checkKeys(ctx, block, loraFields(), misplaced);
    checkSchema(ctx, block);
    // Normalizing assumes checked values, so an adapter is built only while no error is known.
    if (ctx.errors.length === 0) adapters.push(buildAdapter(ctx, name, [block, top]));
  }
  return adapters;
}

function checkModel(ctx: LoadContext, top: Block): string | null {
  if (!hasKey(top.values, "model")) return null;
  const model = top.values.model;
  if (typeof model !== "string" || model === "") {
    const message = `model: expected a path to model metadata (a non-empty string), found ${describeValue(model)}`;
    ctx.diagnostic("error", "invalid-type", message, ctx.offset(top, ["model"], "value"));
    return null;
  }
  return isAbsolute(model) ? model : join(dirname(ctx.source.file), model);
}

/**
 * Throws `not-a-spec` for the other files users keep next to specs: a peftc plan, a peftc graph,
 * or a model's config.json. Without this they would get an unknown-field error for their first key.
 */
function rejectOtherDocuments(source: SourceDoc, root: Node, values: Record<string, unknown>, file: string): void {
  const at = (key: string): SourcePos | Record<string, never> => {
    const offset = offsetOf(root, [key], source.doc, "key");
    return offset === undefined ? {} : positionAt(source.lines, offset);
  };
  const format = values["format"];
  if (typeof format === "string" && format.startsWith("peftc-plan/")) {
    throw new PeftcError("not-a-spec", `this is a peftc plan (${format}), not a spec; pass the spec it was compiled from`, { file, ...at("format") });
  }
  if (typeof format === "string" && format.startsWith("peftc-graph/")) {
    throw new PeftcError("not-a-spec", `this is a peftc graph (${format}), not a spec; pass it as --model ${file}`, { file, ...at("format") });
  }
  const isModelConfig = Array.isArray(values["architectures"]) && !hasKey(values, "peft_type") && !hasKey(values, "r") && !hasKey(values, "target_modules");
  if (isModelConfig) {
    throw new PeftcError("not-a-spec", "this is a model's config.json, not a spec; pass the model's directory as --model", { file, ...at("architectures") });
  }
}

/**
 * Parses spec text. `file` is used in diagnostics and to resolve `model:`. Throws a PeftcError
 * (a SpecError listing every problem when there are several) on invalid input.
 */
export function parseSpec(text: string, file: string): Spec {
  // A .json file must be strict JSON, as PEFT reads it; YAML then parses it again for positions.
  if (file.toLowerCase().endsWith(".json")) parseJson(text, file);
  const source = parseSource(text, file);
  const root = source.doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    const message = "spec is empty; write LoRA fields such as `r` and `target_modules`, or use a PEFT adapter_config.json";
    throw new PeftcError("spec-empty", message, { file, line: 1, col: 1 });
  }
  if (!isMap(root)) {
    const message = `spec must be a mapping of fields (e.g. \`r: 8\`), found ${nodeKind(root)}`;
    throw new PeftcError("spec-not-mapping", message, { file, ...positionAt(source.lines, nodeOffset(root) ?? 0) });
  }

  const buildErrors: Diagnostic[] = [];
  const values = new ValueBuilder(source, buildErrors).build(root) as Record<string, unknown>;
  rejectOtherDocuments(source, root, values, file);
  const ctx = new LoadContext(source, hasKey(values, "peft_type"), text);
  ctx.errors.push(...buildErrors);
  const top: Block = { node: root as Node, values };

  let adapters: AdapterSpec[];
  let model: string | null = null;
  if (ctx.peftFile) {
    adapters = loadPeftFile(ctx, top);
  } else {
    checkKeys(ctx, top, [...loraFields(), ...YAML_TOP_LEVEL_FIELDS]);
    checkSchema(ctx, top);
    model = checkModel(ctx, top);
    if (hasKey(values, "adapters")) adapters = loadNamedAdapters(ctx, top);
    else adapters = ctx.errors.length > 0 ? [] : [buildAdapter(ctx, "default", [top])];
  }

  if (ctx.errors.length > 0) throw new SpecError(ctx.errors);
  const spec: Spec = { file, model, peft_file: ctx.peftFile, adapters, diagnostics: ctx.warnings };
  const modelOffset = model === null ? undefined : ctx.offset(top, ["model"], "value");
  if (modelOffset !== undefined) spec.modelPos = positionAt(source.lines, modelOffset);
  return spec;
}

/** Options for loadSpec. */
export interface LoadSpecOptions {
  /** Directory a relative `path` is read from; the path in diagnostics stays as given. Default: process.cwd(). */
  cwd?: string;
}

/** Reads and parses the spec at `path` (YAML or JSON). Missing files, directories and oversized files are PeftcErrors. */
export function loadSpec(path: string, options: LoadSpecOptions = {}): Spec {
  const fullPath = resolve(options.cwd ?? process.cwd(), path);
  let size: number;
  try {
    const stat = statSync(fullPath);
    if (stat.isDirectory()) {
      const message = `${path} is a directory; pass a spec file, e.g. ${join(path, "adapter_config.json")}`;
      throw new PeftcError("spec-not-file", message, { file: path });
    }
    size = stat.size;
  } catch (err) {
    if (err instanceof PeftcError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    let reason = code ?? String(err);
    if (code === "ENOENT") reason = "file not found";
    if (code === "EACCES") reason = "permission denied";
    throw new PeftcError("spec-not-found", `cannot read spec ${path}: ${reason}`, { file: path });
  }
  if (size > MAX_SPEC_BYTES) {
    throw new PeftcError("spec-too-large", `spec is ${size} bytes; the limit is ${MAX_SPEC_BYTES} bytes`, { file: path });
  }
  return parseSpec(readFileSync(fullPath, "utf8"), path);
}

export { SpecError } from "./yaml-tree.js";

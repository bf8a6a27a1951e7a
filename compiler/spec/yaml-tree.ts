/**
 * Reads untrusted YAML or JSON text into plain values while keeping the yaml node tree for positions.
 * Mappings become prototype-less objects, so keys such as `__proto__` are ordinary data.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { Diagnostic } from "../errors.js";
import { PeftcError } from "../errors.js";
import type { SourcePos } from "./types.js";

/** Largest spec accepted, in bytes of UTF-8 text. The largest published adapter config we know is 8 KiB. */
export const MAX_SPEC_BYTES = 4 * 1024 * 1024;

/** Deepest nesting of mappings and lists accepted; real specs nest at most 4 levels. */
export const MAX_DEPTH = 64;

/** Maximum number of values that alias expansion may add, so that a small file cannot expand exponentially. */
export const MAX_ALIAS_VALUES = 100_000;

export type Path = Array<string | number>;

/** A parsed file: the yaml document, its line index and the file name used in diagnostics. */
export interface SourceDoc {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/** An error in the spec with every diagnostic found, in file order; `diagnostic` is the first one. */
export class SpecError extends PeftcError {
  readonly diagnostics: Diagnostic[];

  constructor(diagnostics: Diagnostic[]) {
    const sorted = [...diagnostics].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    const first = sorted[0]!;
    super(first.code, first.message, { file: first.file, line: first.line, col: first.col, adapter: first.adapter });
    this.diagnostics = sorted;
  }
}

export function positionAt(lines: LineCounter, offset: number): SourcePos {
  const { line, col } = lines.linePos(offset);
  return { line, col };
}

export function errorAt(source: SourceDoc, code: string, message: string, offset: number): Diagnostic {
  return { severity: "error", code, message, file: source.file, ...positionAt(source.lines, offset) };
}

/**
 * Rejects flow collections nested deeper than MAX_DEPTH before parsing, because the yaml parser
 * recurses per level and runs out of memory on inputs such as 200,000 `[`. Quoted strings and comments
 * are skipped. Brackets inside plain scalars are counted too, which only matters for absurd inputs.
 */
function checkFlowDepth(text: string, file: string): void {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== null) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") {
      if (i === 0 || /[\s[{,:]/.test(text[i - 1]!)) quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
      const end = text.indexOf("\n", i);
      i = end === -1 ? text.length : end;
    } else if (c === "[" || c === "{") {
      depth++;
      if (depth > MAX_DEPTH) throw tooDeep(file, lineColAt(text, i));
    } else if ((c === "]" || c === "}") && depth > 0) {
      depth--;
    }
  }
}

/** 1-based line and column of `offset` in `text`. */
export function lineColAt(text: string, offset: number): SourcePos {
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return { line, col: offset - lineStart + 1 };
}

function tooDeep(file: string, at: SourcePos): PeftcError {
  return new PeftcError("spec-too-deep", `spec nests deeper than ${MAX_DEPTH} levels; a LoRA spec needs only a few`, {
    file,
    ...at,
  });
}

/** Parses YAML (or JSON, which the same parser reads) and throws `yaml-syntax` with the parser's position. */
export function parseSource(text: string, file: string): SourceDoc {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_SPEC_BYTES) {
    throw new PeftcError("spec-too-large", `spec is ${bytes} bytes; the limit is ${MAX_SPEC_BYTES} bytes`, { file });
  }
  const lines = new LineCounter();
  checkFlowDepth(text, file);
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) {
    const source = { file, doc, lines };
    throw new SpecError(
      doc.errors.map((e) => {
        const code = e.code === "RESOURCE_EXHAUSTION" ? "spec-too-deep" : "yaml-syntax";
        return errorAt(source, code, `invalid YAML: ${firstLine(e.message)}`, e.pos[0]);
      }),
    );
  }
  return { file, doc, lines };
}

function firstLine(message: string): string {
  const line = message.split("\n")[0]!.trim();
  return line.replace(/ at line \d+, column \d+:?$/, "");
}

/** Start offset of a node; aliases report their own position, not their anchor's. */
export function nodeOffset(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}

/** Describes a non-string mapping key for messages. */
function keyText(key: unknown): string | null {
  if (isScalar(key)) {
    const v = key.value;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
  }
  return null;
}

/**
 * Converts the yaml node tree into plain values. Collects duplicate and invalid keys into `errors`;
 * throws at once when nesting or alias expansion passes its limit.
 */
export class ValueBuilder {
  private aliasValues = 0;

  constructor(
    private readonly source: SourceDoc,
    private readonly errors: Diagnostic[],
  ) {}

  build(node: unknown, depth = 0, inAlias: number | null = null): unknown {
    if (depth > MAX_DEPTH) {
      throw tooDeep(this.source.file, positionAt(this.source.lines, nodeOffset(node) ?? 0));
    }
    if (inAlias !== null && ++this.aliasValues > MAX_ALIAS_VALUES) {
      throw new PeftcError(
        "yaml-alias-limit",
        `aliases expand to more than ${MAX_ALIAS_VALUES} values; expand them by hand or remove the alias`,
        { file: this.source.file, ...positionAt(this.source.lines, inAlias) },
      );
    }
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(this.source.doc);
      return this.build(target, depth + 1, inAlias ?? nodeOffset(node) ?? 0);
    }
    if (isScalar(node)) {
      // A tag such as !!binary or !!timestamp makes the scalar an object (Uint8Array, Date), which
      // the schema checks would read as a mapping with numbered keys.
      if (typeof node.value === "object" && node.value !== null) {
        const tag = (node.tag ?? "tagged").replace("tag:yaml.org,2002:", "!!");
        const message = `${tag} value is not a string, number or boolean; write the value without the tag`;
        this.errors.push(errorAt(this.source, "invalid-type", message, nodeOffset(node) ?? 0));
        return null;
      }
      return node.value ?? null;
    }
    if (isSeq(node)) return node.items.map((item) => this.build(item, depth + 1, inAlias));
    if (isMap(node)) return this.buildMap(node.items, depth, inAlias);
    return null;
  }

  private buildMap(items: unknown[], depth: number, inAlias: number | null): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    const seen = new Map<string, number>();
    for (const pair of items) {
      if (!isPair(pair)) continue;
      const offset = nodeOffset(pair.key) ?? nodeOffset(pair.value) ?? 0;
      const key = keyText(pair.key);
      if (key === null) {
        this.errors.push(errorAt(this.source, "invalid-key", "mapping keys must be plain strings", offset));
        continue;
      }
      const first = seen.get(key);
      if (first !== undefined) {
        const at = positionAt(this.source.lines, first);
        const message = `duplicate key \`${key}\` (first defined at line ${at.line}, column ${at.col}); keep one`;
        this.errors.push(errorAt(this.source, "duplicate-key", message, offset));
        continue;
      }
      seen.set(key, offset);
      out[key] = this.build(pair.value, depth + 1, inAlias);
    }
    return out;
  }
}

/** Finds the key and value nodes of `key` in a yaml mapping node, resolving aliases. */
export function mapEntry(map: unknown, key: string, doc: Document.Parsed): { key: Node; value: unknown } | undefined {
  const target = isAlias(map) ? map.resolve(doc) : map;
  if (!isMap(target)) return undefined;
  for (const pair of target.items) {
    if (isPair(pair) && keyText(pair.key) === key) return { key: pair.key as Node, value: pair.value };
  }
  return undefined;
}

/** Lists the keys of a yaml mapping node in the order written, each with its key node and value node. */
export function mapEntries(map: unknown, doc: Document.Parsed): Array<{ key: string; keyNode: Node; value: unknown }> {
  const target = isAlias(map) ? map.resolve(doc) : map;
  if (!isMap(target)) return [];
  const out: Array<{ key: string; keyNode: Node; value: unknown }> = [];
  for (const pair of target.items) {
    const key = isPair(pair) ? keyText(pair.key) : null;
    if (isPair(pair) && key !== null) out.push({ key, keyNode: pair.key as Node, value: pair.value });
  }
  return out;
}

/**
 * Returns the offset of the node at `path` below `root`. With `at: "key"` a path that ends at a mapping
 * entry gives the key's offset, otherwise the value's. Numbers in the path index lists.
 */
export function offsetOf(root: unknown, path: Path, doc: Document.Parsed, at: "key" | "value"): number | undefined {
  let node: unknown = root;
  let keyNode: unknown = undefined;
  for (const segment of path) {
    const target = isAlias(node) ? node.resolve(doc) : node;
    if (typeof segment === "number") {
      if (!isSeq(target)) return undefined;
      node = target.items[segment];
      keyNode = undefined;
      if (node === undefined) return undefined;
    } else {
      const entry = mapEntry(target, segment, doc);
      if (entry === undefined) return undefined;
      node = entry.value;
      keyNode = entry.key;
    }
  }
  if (at === "key" && keyNode !== undefined) return nodeOffset(keyNode);
  return nodeOffset(node) ?? nodeOffset(keyNode);
}

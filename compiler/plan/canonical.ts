/**
 * Canonical plan JSON: two-space indent, keys in the order the plan builder sets them, and one
 * line per entry of the long per-module arrays, so that a change to one module is a one-line diff.
 */

/** Arrays whose object entries are written one per line. */
const ONE_LINE_ENTRIES = new Set(["targets", "modules_to_save", "tie_groups", "trainable_tokens", "diagnostics", "target_modules", "exclude_modules", "rank_pattern", "alpha_pattern"]);

// Plans repeat the same few keys on every target, so each key is quoted once.
const quotedKeys = new Map<string, string>();

function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/** JSON text of a value that is not an array or object; the same text JSON.stringify gives. */
function scalar(value: unknown): string {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  return JSON.stringify(value);
}

function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const parts: string[] = [];
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) parts.push(`${quoteKey(key)}: ${inline(v)}`);
    }
    return parts.length === 0 ? "{}" : `{ ${parts.join(", ")} }`;
  }
  return scalar(value);
}

function block(value: unknown, indent: string, key: string | null): string {
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const oneLine = key !== null && ONE_LINE_ENTRIES.has(key);
    const allScalars = value.every((v) => v === null || typeof v !== "object");
    if (allScalars && value.length <= 16) return inline(value);
    // Joining with the indent in the separator keeps the per-entry strings flat.
    const items = oneLine ? value.map(inline) : value.map((v) => block(v, inner, null));
    return `[\n${inner}${items.join(`,\n${inner}`)}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    const items = entries.map(([k, v]) => `${inner}${quoteKey(k)}: ${block(v, inner, k)}`);
    return `{\n${items.join(",\n")}\n${indent}}`;
  }
  return scalar(value);
}

/** Serializes a plan (or any JSON value) canonically, with a trailing newline. */
export function canonicalJson(value: unknown): string {
  return block(value, "", null) + "\n";
}

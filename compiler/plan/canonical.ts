/**
 * Canonical plan JSON: two-space indent, keys in the order the plan builder sets them, and one
 * line per entry of the long per-module arrays, so that a change to one module is a one-line diff.
 */

/** Arrays whose object entries are written one per line. */
const ONE_LINE_ENTRIES = new Set(["targets", "modules_to_save", "tie_groups", "trainable_tokens", "diagnostics", "target_modules", "exclude_modules", "rank_pattern", "alpha_pattern"]);

function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const parts = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}: ${inline(v)}`);
    return parts.length === 0 ? "{}" : `{ ${parts.join(", ")} }`;
  }
  return JSON.stringify(value);
}

function block(value: unknown, indent: string, key: string | null): string {
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const oneLine = key !== null && ONE_LINE_ENTRIES.has(key);
    const allScalars = value.every((v) => v === null || typeof v !== "object");
    if (allScalars && value.length <= 16) return inline(value);
    const items = value.map((v) => inner + (oneLine ? inline(v) : block(v, inner, null)));
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    const items = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${block(v, inner, k)}`);
    return `{\n${items.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

/** Serializes a plan (or any JSON value) canonically, with a trailing newline. */
export function canonicalJson(value: unknown): string {
  return block(value, "", null) + "\n";
}

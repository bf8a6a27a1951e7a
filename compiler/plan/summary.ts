/** The short human summary `peftc plan` prints to stderr after compiling. */
import { formatDiagnostic, type Diagnostic } from "../errors.js";
import { subtreeOf } from "../resolve/names.js";
import type { Plan, PlanAdapter } from "./types.js";

/** Formats an integer with thousands separators, as Python's `{:,d}`. */
export function groupDigits(n: number): string {
  return Math.trunc(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** PEFT's `print_trainable_parameters` line; all params = base + trainable, as PEFT counts them. */
export function trainableLine(trainable: number | null, base: number | null): string {
  if (trainable === null || base === null) {
    const t = trainable === null ? "unknown" : groupDigits(trainable);
    return `trainable params: ${t} || all params: unknown (some shapes are unknown) || trainable%: unknown`;
  }
  const all = base + trainable;
  const percent = all === 0 ? 0 : (100 * trainable) / all;
  return `trainable params: ${groupDigits(trainable)} || all params: ${groupDigits(all)} || trainable%: ${percent.toFixed(4)}`;
}

function countBy<T>(items: T[], key: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k} ${v}`).join(", ");
}

function adapterSummary(adapter: PlanAdapter, base: number | null): string[] {
  const lines: string[] = [];
  const t = adapter.targets;
  const saved = adapter.modules_to_save.length;
  lines.push(`adapter '${adapter.name}': ${t.length} ${t.length === 1 ? "target" : "targets"}, ${saved} ${saved === 1 ? "module" : "modules"} to save`);
  if (t.length > 0) {
    lines.push(`  by module: ${countBy(t, (x) => x.module.slice(x.module.lastIndexOf(".") + 1))}`);
    lines.push(`  by kind: ${countBy(t, (x) => x.kind)}`);
    lines.push(`  by subtree: ${countBy(t, (x) => subtreeOf(x.module))}`);
  }
  if (adapter.modules_to_save.length > 0) lines.push(`  modules to save: ${adapter.modules_to_save.map((s) => s.module).join(", ")}`);
  for (const g of adapter.tie_groups) lines.push(`  tie ${g.mode}: ${g.source} -> ${g.members.join(", ")}`);
  lines.push(`  ${trainableLine(adapter.trainable_parameters, base)}`);
  return lines;
}

export function planSummary(plan: Plan, diagnostics: Diagnostic[]): string {
  const lines: string[] = [];
  for (const adapter of plan.adapters) lines.push(...adapterSummary(adapter, plan.model.parameters));
  for (const d of diagnostics) lines.push(formatDiagnostic(d));
  return lines.join("\n") + "\n";
}

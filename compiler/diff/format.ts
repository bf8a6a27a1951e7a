/** Number and value formatting shared by the summary line and the renderers. */
import type { ParameterDelta } from "./types.js";

/** U+2212, the minus sign used in summaries (`−0 removed`), wider and clearer than `-`. */
export const MINUS = "\u2212";
export const ARROW = "\u2192";

const UNITS = [
  { size: 1e12, suffix: "T" },
  { size: 1e9, suffix: "B" },
  { size: 1e6, suffix: "M" },
  { size: 1e3, suffix: "K" },
];

/** Writes a non-negative count with one decimal and a K/M/B/T suffix from 1000 up: `3.1M`, `65.5K`, `812`. */
export function formatCount(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(abs);
  // Walk from the smallest unit up, so that 999,950 becomes `1.0M` rather than `1000.0K`.
  for (let i = UNITS.length - 1; i >= 0; i--) {
    const unit = UNITS[i]!;
    const scaled = Math.round((abs / unit.size) * 10) / 10;
    if (scaled < 1000 || i === 0) return `${scaled.toFixed(1)}${unit.suffix}`;
  }
  return String(abs);
}

/** `+3.1M`, `−812`, `+0`. */
export function formatSignedCount(n: number): string {
  return `${n < 0 ? MINUS : "+"}${formatCount(n)}`;
}

/** `+0.25%`; a change too small for two decimals keeps two significant digits (`+0.0012%`). */
export function formatSignedPercent(p: number): string {
  const abs = Math.abs(p);
  const digits = abs !== 0 && abs < 0.005 ? abs.toPrecision(2) : abs.toFixed(2);
  return `${p < 0 ? MINUS : "+"}${digits}%`;
}

/** `+3.1M (+0.25%)`, `+3.1M` when the model size is unknown, `unknown` when a count is missing. */
export function formatParameterDelta(d: ParameterDelta): string {
  if (d.delta === null) return "unknown";
  const count = formatSignedCount(d.delta);
  return d.percent_of_model === null ? count : `${count} (${formatSignedPercent(d.percent_of_model)})`;
}

/** Formats a field value as the diff shows it: tie references in words, `none` for null, numbers as written in the plan. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "none";
  if (typeof value === "object" && "group" in value && "role" in value) {
    const tie = value as { group: string; role: string; orientation: string };
    return `${tie.role} of ${tie.group}${tie.orientation === "transposed" ? " (transposed)" : ""}`;
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** `3 modules`, `1 module`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

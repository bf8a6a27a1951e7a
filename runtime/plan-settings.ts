import type { PlanAdapter } from "../compiler/plan/types.js";

/**
 * Lists where a plan may carry one adapter setting, with the value found there. The compiler
 * writes the spec's settings under `adapter.config`; hand-written plans may put them on the
 * adapter itself. Both places are returned, so a check covers every value the plan states.
 */
export function settingValues(adapter: PlanAdapter, key: string): Array<{ path: string; value: unknown }> {
  const found: Array<{ path: string; value: unknown }> = [];
  const config = adapter["config"];
  if (isRecord(config) && config[key] !== undefined) found.push({ path: `config.${key}`, value: config[key] });
  if (adapter[key] !== undefined) found.push({ path: key, value: adapter[key] });
  return found;
}

/**
 * Returns how the adapter's LoRA factors are initialised: `gaussian` when the plan sets
 * `init_lora_weights: gaussian` (PEFT compares it case-insensitively), else PEFT's default.
 * `applyPlan` rejects every other value, so this reads only plans that passed its checks.
 */
export function initMethod(adapter: PlanAdapter): "default" | "gaussian" {
  const values = settingValues(adapter, "init_lora_weights");
  return values.some(({ value }) => isGaussian(value)) ? "gaussian" : "default";
}

export function isGaussian(value: unknown): boolean {
  return typeof value === "string" && value.toLowerCase() === "gaussian";
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Tells whether two scalings are equal up to float rounding (a relative difference of 1e-6). */
export function sameScaling(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
}

/**
 * Canonical JSON: object keys in a fixed order (the keys named in `keyOrder` first, in that order,
 * then the rest alphabetically), two-space indent, a final newline, arrays in their given order.
 * Identical values give byte-identical text, so outputs can be committed and diffed.
 */
export function canonicalJson(value: unknown, keyOrder: readonly string[] = []): string {
  const rank = new Map(keyOrder.map((key, i) => [key, i]));
  const compare = (a: string, b: string): number => {
    const ra = rank.get(a);
    const rb = rank.get(b);
    if (ra !== undefined && rb !== undefined) return ra - rb;
    if (ra !== undefined) return -1;
    if (rb !== undefined) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
  const replacer = function (this: unknown, _key: string, v: unknown): unknown {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort(compare)) {
      const field = (v as Record<string, unknown>)[key];
      if (field !== undefined) sorted[key] = field;
    }
    return sorted;
  };
  return JSON.stringify(value, replacer, 2) + "\n";
}

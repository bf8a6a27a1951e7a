/**
 * Key order for one object: the keys it lists come first, in that order, and the rest follow
 * alphabetically. A function receives the name of the field that contains the object (for an
 * array element, the field of the array; `""` for the top level).
 */
export type KeyOrder = readonly string[] | ((field: string) => readonly string[]);

/**
 * Serializes `value` as canonical JSON: object keys in a fixed order, two-space indent, a final
 * newline, arrays in their given order, `undefined` fields left out. Integer-like keys ("0", "12")
 * come first in ascending order, because JavaScript objects always order them that way. Identical
 * values give byte-identical text, so outputs can be committed and diffed.
 */
export function canonicalJson(value: unknown, keyOrder: KeyOrder = []): string {
  const ranks = new Map<readonly string[], Map<string, number>>();
  const rankFor = (field: string): Map<string, number> => {
    const order = typeof keyOrder === "function" ? keyOrder(field) : keyOrder;
    let rank = ranks.get(order);
    if (rank === undefined) {
      rank = new Map(order.map((key, i) => [key, i]));
      ranks.set(order, rank);
    }
    return rank;
  };
  // Objects in one field usually share a key list, so the last sorted list per field is reused.
  const lastKeys = new Map<string, { keys: string[]; sorted: string[] }>();
  const orderKeys = (keys: string[], field: string): string[] => {
    const last = lastKeys.get(field);
    if (last !== undefined && last.keys.length === keys.length && last.keys.every((k, i) => k === keys[i])) return last.sorted;
    const rank = rankFor(field);
    const sorted = [...keys].sort((a, b) => {
      const ra = rank.get(a);
      const rb = rank.get(b);
      if (ra !== undefined && rb !== undefined) return ra - rb;
      if (ra !== undefined) return -1;
      if (rb !== undefined) return 1;
      if (a === b) return 0;
      return a < b ? -1 : 1;
    });
    lastKeys.set(field, { keys, sorted });
    return sorted;
  };

  // Copy every object with its keys in canonical order, then let the native serializer format it.
  const reorder = (v: unknown, field: string): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") return reorder((v as { toJSON(): unknown }).toJSON(), field);
    if (Array.isArray(v)) {
      const copy = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) copy[i] = reorder(v[i], field);
      return copy;
    }
    const record = v as Record<string, unknown>;
    const copy: Record<string, unknown> = {};
    for (const key of orderKeys(Object.keys(record), field)) copy[key] = reorder(record[key], key);
    return copy;
  };
  return JSON.stringify(reorder(value, ""), null, 2) + "\n";
}

/**
 * Exact, readable summaries of module-name sets: `model.layers.{0–27}.self_attn.q_proj` stands for
 * 28 names. A summary never hides or invents a module: `expandCollapsed(collapseModules(names))`
 * is the set `names`.
 *
 * A dotted segment that is a canonical decimal integer (`0`, `17`, not `007`) is an index. Names
 * that differ only in their indices share a template, and each template's index tuples are split
 * into cartesian products, so `layers.{0–3}.experts.{0–7}` appears only when every one of the 32
 * pairs is in the set. Any other set of pairs becomes several lines.
 */

/** A set of module names written with `{…}` index sets, and how many names it stands for. */
export interface CollapsedNames {
  pattern: string;
  count: number;
}

/** Separator of a range in a pattern: an en dash, as in `{0–27}`. `expandCollapsed` also reads `-`. */
const RANGE_DASH = "\u2013";

/** Indices are kept as numbers only when they round-trip through `String()` exactly. */
const INDEX_SEGMENT = /^(0|[1-9]\d{0,14})$/;

/** Upper bound on the names one pattern may expand to, so a hand-written pattern cannot exhaust memory. */
const MAX_EXPANSION = 10_000_000;

type Segment = string | null;

interface Template {
  /** Literal segments, with `null` where an index sits. */
  segments: Segment[];
  tuples: number[][];
}

/**
 * Collapses `names` into exact patterns, one per template and product. Templates are listed in the
 * order their first name appears in `names`, and the products of one template by their first tuple.
 * Duplicate names are counted once.
 */
export function collapseModules(names: Iterable<string>): CollapsedNames[] {
  const templates = new Map<string, Template>();
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) continue;
    seen.add(name);
    const segments: Segment[] = [];
    const tuple: number[] = [];
    for (const part of name.split(".")) {
      if (INDEX_SEGMENT.test(part)) {
        segments.push(null);
        tuple.push(Number(part));
      } else {
        segments.push(part);
      }
    }
    const key = JSON.stringify(segments);
    let template = templates.get(key);
    if (template === undefined) {
      template = { segments, tuples: [] };
      templates.set(key, template);
    }
    template.tuples.push(tuple);
  }

  const result: CollapsedNames[] = [];
  for (const template of templates.values()) {
    for (const product of splitIntoProducts(template.tuples)) {
      const count = product.reduce((n, values) => n * values.length, 1);
      result.push({ pattern: writePattern(template.segments, product), count });
    }
  }
  return result;
}

/**
 * Splits a set of equal-length index tuples into disjoint cartesian products whose union is the set.
 * Values of the first position that share the same set of remaining tuples form one product factor.
 */
function splitIntoProducts(tuples: number[][]): number[][][] {
  if (tuples.length === 0) return [];
  if (tuples[0]!.length === 0) return [[]];

  const restByFirst = new Map<number, number[][]>();
  for (const [first, ...rest] of tuples) {
    let rests = restByFirst.get(first!);
    if (rests === undefined) {
      rests = [];
      restByFirst.set(first!, rests);
    }
    rests.push(rest);
  }

  // Values of the first index whose remaining tuples are the same set share one product factor.
  const firstsByRest = new Map<string, { firsts: number[]; rests: number[][] }>();
  for (const [first, rests] of restByFirst) {
    rests.sort(compareTuples);
    const key = JSON.stringify(rests);
    let group = firstsByRest.get(key);
    if (group === undefined) {
      group = { firsts: [], rests };
      firstsByRest.set(key, group);
    }
    group.firsts.push(first);
  }

  const products: number[][][] = [];
  for (const { firsts, rests } of firstsByRest.values()) {
    firsts.sort((a, b) => a - b);
    for (const restProduct of splitIntoProducts(rests)) products.push([firsts, ...restProduct]);
  }
  products.sort((a, b) => compareTuples(a.map((values) => values[0]!), b.map((values) => values[0]!)));
  return products;
}

function compareTuples(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return 0;
}

function writePattern(segments: Segment[], product: number[][]): string {
  let next = 0;
  return segments
    .map((segment) => {
      if (segment !== null) return escapeLiteral(segment);
      const values = product[next++]!;
      return values.length === 1 ? String(values[0]) : `{${writeIndexSet(values)}}`;
    })
    .join(".");
}

/** Writes sorted, distinct integers as `0–3,5,7–9`: runs of three or more become ranges. */
export function writeIndexSet(sorted: number[]): string {
  const parts: string[] = [];
  let start = 0;
  while (start < sorted.length) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end]! + 1) end++;
    if (end - start >= 2) {
      parts.push(`${sorted[start]}${RANGE_DASH}${sorted[end]}`);
    } else {
      for (let i = start; i <= end; i++) parts.push(String(sorted[i]));
    }
    start = end + 1;
  }
  return parts.join(",");
}

/**
 * PyTorch accepts any module name without a dot, so a literal `{`, `}` or `\` is escaped with `\`
 * to keep it apart from an index set.
 */
function escapeLiteral(segment: string): string {
  return segment.replace(/[\\{}]/g, (c) => `\\${c}`);
}

/**
 * Expands patterns written by `collapseModules` back into module names. Accepts one pattern, a
 * `CollapsedNames` or a list of either. Throws a `RangeError` on a malformed pattern.
 */
export function expandCollapsed(summary: string | CollapsedNames | readonly (string | CollapsedNames)[]): string[] {
  const items = typeof summary === "string" || !Array.isArray(summary) ? [summary as string | CollapsedNames] : summary;
  const names: string[] = [];
  for (const item of items) {
    const pattern = typeof item === "string" ? item : item.pattern;
    for (const name of expandPattern(pattern)) names.push(name);
  }
  return names;
}

function expandPattern(pattern: string): string[] {
  // Each part is either a literal string or the values of one `{…}` index set.
  const parts: (string | number[])[] = [];
  let literal = "";
  let total = 1;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      if (i + 1 >= pattern.length) throw new RangeError(`invalid pattern '${pattern}': it ends with a lone '\\'`);
      literal += pattern[++i];
    } else if (c === "{") {
      const close = pattern.indexOf("}", i);
      if (close < 0) throw new RangeError(`invalid pattern '${pattern}': '{' at offset ${i} is not closed`);
      const values = readIndexSet(pattern.slice(i + 1, close), pattern);
      total *= values.length;
      if (total > MAX_EXPANSION) throw new RangeError(`invalid pattern '${pattern}': it expands to more than ${MAX_EXPANSION} names`);
      parts.push(literal, values);
      literal = "";
      i = close;
    } else if (c === "}") {
      throw new RangeError(`invalid pattern '${pattern}': '}' at offset ${i} has no matching '{'`);
    } else {
      literal += c;
    }
  }
  parts.push(literal);

  let names = [""];
  for (const part of parts) {
    if (typeof part === "string") {
      names = names.map((prefix) => prefix + part);
    } else {
      names = names.flatMap((prefix) => part.map((value) => prefix + String(value)));
    }
  }
  return names;
}

function readIndexSet(body: string, pattern: string): number[] {
  const values: number[] = [];
  for (const item of body.split(",")) {
    const range = /^(\d+)(?:[-\u2013](\d+))?$/.exec(item.trim());
    if (range === null) throw new RangeError(`invalid pattern '${pattern}': '${item}' is not an index or a range`);
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to < from) throw new RangeError(`invalid pattern '${pattern}': range '${item}' runs backwards`);
    if (to - from >= MAX_EXPANSION) throw new RangeError(`invalid pattern '${pattern}': range '${item}' is too large`);
    for (let v = from; v <= to; v++) values.push(v);
  }
  return values;
}

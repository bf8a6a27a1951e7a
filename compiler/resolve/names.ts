/** Name matching helpers shared by the selectors: PEFT's plain-string rules, done with set lookups. */

/**
 * Finds which entries of a PEFT name list match `name`: equal to the name, or equal to a suffix that
 * starts after a dot (`key.endswith("." + entry)`). Entries are looked up in a set, so the cost is
 * one lookup per suffix length (in segments) that some entry has, whatever the number of entries.
 */
export class SuffixSet {
  private readonly indexByEntry = new Map<string, number[]>();
  private readonly maxSegments: number;
  /** Entry segment counts that occur, by count: suffixes of other lengths are never looked up. */
  private readonly hasSegmentCount: boolean[] = [];

  constructor(readonly entries: readonly string[]) {
    let maxSegments = 1;
    entries.forEach((entry, i) => {
      const list = this.indexByEntry.get(entry);
      if (list) list.push(i);
      else this.indexByEntry.set(entry, [i]);
      const segments = entry.split(".").length;
      this.hasSegmentCount[segments] = true;
      maxSegments = Math.max(maxSegments, segments);
    });
    this.maxSegments = maxSegments;
  }

  /** Indices of the entries equal to `name` itself. */
  exact(name: string): readonly number[] | undefined {
    return this.indexByEntry.get(name);
  }

  /** Calls `onMatch` with the entry indices of every dotted suffix of `name` that is an entry. */
  forEachSuffixMatch(name: string, onMatch: (entryIndices: readonly number[]) => void): void {
    let end = name.length;
    for (let segments = 1; segments <= this.maxSegments; segments++) {
      const dot = name.lastIndexOf(".", end - 1);
      if (dot < 0) return;
      if (this.hasSegmentCount[segments] === true) {
        const hit = this.indexByEntry.get(name.slice(dot + 1));
        if (hit) onMatch(hit);
      }
      end = dot;
    }
  }

  /** True when `name` equals an entry or ends with "." + an entry. */
  has(name: string): boolean {
    if (this.indexByEntry.has(name)) return true;
    let found = false;
    this.forEachSuffixMatch(name, () => {
      found = true;
    });
    return found;
  }
}

/**
 * Finds the index of each of `wanted` among the modules, in one pass that hashes every name
 * once. When a name is listed twice, the last index wins, as `Map#set` over the list would give.
 * Cheaper than indexing every name when only a few are looked up: a million-entry Map costs
 * hundreds of milliseconds and much memory.
 */
export function indicesOfNames(modules: ReadonlyArray<{ name: string }>, wanted: Iterable<string>): Map<string, number> {
  const want = new Set(wanted);
  const out = new Map<string, number>();
  if (want.size === 0) return out;
  for (let i = 0; i < modules.length; i++) {
    const name = modules[i]!.name;
    if (want.has(name)) out.set(name, i);
  }
  return out;
}

const REGEX_METACHARACTERS = /[\\^$*+?()[\]{}|]/;

/** True when a list entry contains regex syntax, which PEFT compares as a plain name. */
export function looksLikeRegex(entry: string): boolean {
  return REGEX_METACHARACTERS.test(entry);
}

/** Escapes a literal for use inside a Python or JavaScript regex. */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/** Returns the part of a module name before its first numeric segment (`model.layers` for `model.layers.3.mlp.up_proj`). */
export function subtreeOf(name: string): string {
  const parts = name.split(".");
  const i = parts.findIndex((p) => /^\d+$/.test(p));
  if (i <= 0) return i === 0 ? parts[0]! : name;
  return parts.slice(0, i).join(".");
}

/**
 * "Did you mean" candidates: the closest existing module names for a target that matched
 * nothing, and the closest known key for a misspelled spec key.
 *
 * A model with a million modules has only a few hundred distinct module names once layer
 * indices are set aside, so candidates are ranked on that small set. Each name is cut to as many
 * trailing segments as the entry has, and numeric segments are replaced by `#` to form its shape.
 */
import { distance } from "fastest-levenshtein";

export interface SuggestOptions {
  /** How many candidates to return. Default: 5. */
  limit?: number;
  /** Largest edit distance a candidate may have. Default: a third of the entry's length, at least 2. */
  maxDistance?: number;
}

// A numeric segment with the dot before it, if any.
const NUMERIC_SEGMENTS = /(^|\.)\d+(?=\.|$)/g;
const DIGIT = /\d/;

function defaultMaxDistance(text: string): number {
  return Math.max(2, Math.floor(text.length / 3));
}

/** Returns the last `count` dot-separated segments of `name`, or the whole name when it has fewer. */
function lastSegments(name: string, count: number): string {
  let cut = name.length;
  for (let i = 0; i < count; i++) {
    cut = name.lastIndexOf(".", cut - 1);
    if (cut < 0) return name;
  }
  return name.slice(cut + 1);
}

function withoutIndices(name: string): string {
  return DIGIT.test(name) ? name.replace(NUMERIC_SEGMENTS, "$1#") : name;
}

/** Returns the numeric segments of a name with their leading dots, as a key to compare names by. */
function indicesOf(name: string): string {
  return name.match(NUMERIC_SEGMENTS)?.join("") ?? "";
}

interface Candidate {
  text: string;
  shapeDistance: number;
  textDistance: number;
}

function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.shapeDistance !== b.shapeDistance) return a.shapeDistance - b.shapeDistance;
  if (a.textDistance !== b.textDistance) return a.textDistance - b.textDistance;
  if (a.text === b.text) return 0;
  return a.text < b.text ? -1 : 1;
}

/**
 * Returns the existing names closest to `entry`, best first. A candidate has as many trailing
 * segments as `entry`: for `q_prj` it is a last segment such as `q_proj`, for
 * `model.layers.0.self_attn.q_prj` a full name such as `model.layers.0.self_attn.q_proj`.
 * Names are ranked by edit distance with layer indices set aside, then by plain edit distance,
 * then alphabetically.
 */
export function suggestNames(entry: string, names: Iterable<string>, options: SuggestOptions = {}): string[] {
  const { limit = 5, maxDistance = defaultMaxDistance(entry) } = options;
  const segmentCount = entry.split(".").length;
  const entryShape = withoutIndices(entry);

  // Shape -> the suffix shown for it: the first one seen, unless a later one has the entry's
  // own layer indices, so that `layers.7.q_prj` suggests `layers.7.q_proj`, not `layers.0.q_proj`.
  const entryIndices = indicesOf(entry);
  const shapes = new Map<string, { suffix: string; sameIndices: boolean }>();
  for (const name of names) {
    const suffix = lastSegments(name, segmentCount);
    const shape = withoutIndices(suffix);
    const current = shapes.get(shape);
    if (current !== undefined && (current.sameIndices || shape === suffix)) continue;
    const sameIndices = indicesOf(suffix) === entryIndices;
    if (current === undefined || sameIndices) shapes.set(shape, { suffix, sameIndices });
  }

  const candidates: Candidate[] = [];
  for (const [shape, { suffix: text }] of shapes) {
    if (text === entry) continue;
    const shapeDistance = distance(shape, entryShape);
    const textDistance = distance(text, entry);
    if (Math.min(shapeDistance, textDistance) > maxDistance) continue;
    candidates.push({ text, shapeDistance, textDistance });
  }
  candidates.sort(compareCandidates);
  return candidates.slice(0, limit).map((c) => c.text);
}

/**
 * Returns the known key closest to `key` (`lora_aplha` -> `lora_alpha`), or undefined when none
 * is within a third of the key's length (at least 1 edit). Case differences count as one edit
 * each; ties go to the key that sorts first.
 */
export function suggestKey(key: string, knownKeys: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(key.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const known of knownKeys) {
    if (known === key) continue;
    const d = distance(key, known);
    if (d > limit) continue;
    if (d < bestDistance || (d === bestDistance && best !== undefined && known < best)) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Runs a RegExp over module names with a deadline, so that a pattern with catastrophic
 * backtracking (`(a+)+$` against a long name) fails with an error instead of hanging.
 *
 * Why `node:vm` with `timeout`: V8's backtracking engine checks for interrupts while it
 * backtracks, and `vm.Script#runInContext({ timeout })` starts a watchdog that interrupts the
 * script when the time is up, in the same thread, so the API stays synchronous. The alternatives
 * fall short. V8's linear-time engine (`--enable-experimental-regexp-engine`) must be switched on
 * when the process starts, and it rejects lookarounds and backreferences, which users write
 * (`^(?!.*vision).*q_proj`). A worker needs an asynchronous API, or Atomics.wait plus a copy of
 * every name. Static analysis alone cannot tell every slow pattern from a fast one.
 *
 * The loop over names runs inside the context, so one watchdog covers a whole chunk of names
 * and the per-name cost is the cost of RegExp#test. Each chunk gets `baseMs` plus `perCharMs`
 * for every character it holds (plus a fixed allowance per name), so the deadline grows with
 * the work instead of being a fixed number that a slow machine trips on.
 */
import vm from "node:vm";

/** Deadline for matching one chunk of names: `baseMs + perCharMs * (characters + 64 * names)`. */
export interface TimeBudget {
  /** Default: 1000. */
  baseMs: number;
  /**
   * Default: 0.00025 (250 ns per character). Patterns such as `.*\.(q|v)_proj` took 1 to 10 ns
   * per character over a million Llama-style names (Node 20 on a 2-core x86 VM), so the default
   * leaves a margin of 25x or more on top of `baseMs`.
   */
  perCharMs: number;
}

export const DEFAULT_TIME_BUDGET: Readonly<TimeBudget> = Object.freeze({ baseMs: 1000, perCharMs: 0.00025 });

// Counts each name as this many extra characters, for the per-call overhead of RegExp#test.
const PER_NAME_CHARS = 64;
// A chunk closes once it contains this many characters (about 40,000 names), so a runaway pattern
// is caught after one chunk's deadline, about 2 s by default, rather than after a deadline
// sized for every name. Each chunk starts a watchdog thread (about 0.1 ms), so chunks must not
// be much smaller.
const CHUNK_CHARS = 1 << 22;

/** Raised when matching did not finish within its time budget. */
export class MatchTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    /** The first module name of the chunk that timed out. */
    readonly firstName: string,
  ) {
    super(`matching timed out after ${timeoutMs} ms`);
    this.name = "MatchTimeoutError";
  }
}

/**
 * Form of each name at matching time: "dotted" leaves it as is, "slashed" replaces `/` by U+FFFF
 * and then `.` by `/` (the path form that glob matching uses).
 */
export type NameForm = "dotted" | "slashed";

interface ScanArgs {
  regexp: RegExp;
  names: readonly string[];
  slashed: boolean;
  start: number;
  end: number;
  out: Uint32Array;
  count: number;
}

interface Scanner {
  context: vm.Context;
  script: vm.Script;
  /** Copies a RegExp into the context's realm. */
  adopt: (regexp: RegExp) => RegExp;
}

let scanner: Scanner | null = null;

// The loop and the RegExp it calls live in the context's realm: V8 takes its fast path for
// RegExp#test only on a RegExp of the calling realm, and a cross-realm call runs about twice as slow.
function getScanner(): Scanner {
  if (scanner === null) {
    const context = vm.createContext(Object.create(null));
    vm.runInContext(
      `globalThis.adopt = function (source, flags) { return new RegExp(source, flags); };
      globalThis.scan = function (a) {
        const re = a.regexp, names = a.names, out = a.out;
        let count = a.count;
        for (let i = a.start; i < a.end; i++) {
          let name = names[i];
          if (a.slashed) {
            if (name.includes("/")) name = name.replaceAll("/", "\\uffff");
            name = name.replaceAll(".", "/");
          }
          if (re.test(name)) out[count++] = i;
        }
        return count;
      };`,
      context,
    );
    const adoptInContext = context.adopt as (source: string, flags: string) => RegExp;
    scanner = {
      context,
      script: new vm.Script("scan(args)"),
      adopt: (regexp) => adoptInContext(regexp.source, regexp.flags),
    };
  }
  return scanner;
}

const adopted = new WeakMap<RegExp, RegExp>();

function isTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT";
}

/**
 * Returns the indices, ascending, of the names `regexp` matches. `regexp` must have neither the
 * `g` nor the `y` flag, because those make `test` depend on `lastIndex`.
 * Throws MatchTimeoutError when a chunk of names runs past its budget.
 */
export function selectWithDeadline(
  regexp: RegExp,
  names: readonly string[],
  budget: TimeBudget = DEFAULT_TIME_BUDGET,
  form: NameForm = "dotted",
): Uint32Array {
  if (regexp.global || regexp.sticky) throw new TypeError("regexp must not have the g or y flag");
  const { context, script, adopt } = getScanner();
  let local = adopted.get(regexp);
  if (local === undefined) {
    local = adopt(regexp);
    adopted.set(regexp, local);
  }
  const out = new Uint32Array(names.length);
  let count = 0;
  let start = 0;

  while (start < names.length) {
    let end = start;
    let chars = 0;
    while (end < names.length && chars < CHUNK_CHARS) {
      chars += names[end]!.length + PER_NAME_CHARS;
      end++;
    }

    const timeoutMs = Math.ceil(budget.baseMs + budget.perCharMs * chars);
    const args: ScanArgs = { regexp: local, names, slashed: form === "slashed", start, end, out, count };
    context.args = args;
    try {
      count = script.runInContext(context, { timeout: timeoutMs }) as number;
    } catch (error) {
      if (isTimeout(error)) throw new MatchTimeoutError(timeoutMs, names[start]!);
      throw error;
    } finally {
      context.args = undefined;
    }
    start = end;
  }
  return out.slice(0, count);
}

/** Tests one name with a deadline; see selectWithDeadline. */
export function testWithDeadline(
  regexp: RegExp,
  name: string,
  budget: TimeBudget = DEFAULT_TIME_BUDGET,
  form: NameForm = "dotted",
): boolean {
  return selectWithDeadline(regexp, [name], budget, form).length === 1;
}

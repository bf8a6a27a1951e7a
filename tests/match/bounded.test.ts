import { test } from "uvu";
import * as assert from "uvu/assert";

import { PeftcError } from "../../compiler/errors.js";
import { MatchTimeoutError, selectWithDeadline } from "../../compiler/match/bounded.js";
import { compilePyRegex, type MatchMode } from "../../compiler/match/pyregex.js";

// A small budget keeps the suite fast; the outcome, not the time taken, is what is checked.
const BUDGET = { baseMs: 100, perCharMs: 0.001 };

/** Returns the match result, or "timeout" when the call raised regex-timeout. */
function outcome(pattern: string, name: string, mode: MatchMode): boolean | "timeout" {
  const regex = compilePyRegex(pattern, { mode, budget: BUDGET, location: { file: "s.yaml", line: 2, col: 3, field: "target_modules" } });
  try {
    return regex.test(name);
  } catch (error) {
    if (error instanceof PeftcError && error.diagnostic.code === "regex-timeout") {
      assert.ok(error.message.includes(JSON.stringify(pattern)), error.message);
      assert.ok(error.message.includes("target_modules"), error.message);
      assert.is(error.diagnostic.file, "s.yaml");
      return "timeout";
    }
    throw error;
  }
}

// Python finds no match for any of these, after exponential or high-polynomial time.
const PATHOLOGICAL: Array<[string, string, MatchMode]> = [
  ["(a+)+$", `${"a".repeat(40)}!`, "search"],
  ["(a+)+", `${"a".repeat(40)}!`, "fullmatch"],
  ["(.*a){20}", `${"a".repeat(30)}${"b".repeat(200)}`, "fullmatch"],
  ["(a|a)*b", "a".repeat(40), "search"],
  ["(a|aa)+$", `${"a".repeat(60)}!`, "match"],
  ["(x+x+)+y", "x".repeat(40), "search"],
  ["(\\w+\\s?)+$", `${"model layers ".repeat(8)}!`, "search"],
  ["^(?!.*vision)(.*_)*q_proj", `${"a_".repeat(40)}q_pro`, "match"],
];

for (const [pattern, name, mode] of PATHOLOGICAL) {
  test(`pathological ${pattern} ends`, () => {
    const result = outcome(pattern, name, mode);
    assert.ok(result === false || result === "timeout", String(result));
  });
}

test("pathological name inside a large batch", () => {
  const names = Array.from({ length: 100_000 }, (_, i) => `model.layers.${i}.mlp.aaaa`);
  names.push(`${"a".repeat(40)}!`);
  const regex = compilePyRegex(".*(a+)+$", { mode: "search", budget: BUDGET });
  try {
    const selected = regex.selectMatching(names);
    assert.is(selected.length, 100_000);
  } catch (error) {
    assert.instance(error, PeftcError);
    assert.is((error as PeftcError).diagnostic.code, "regex-timeout");
  }
});

test("ordinary batch of many names", () => {
  const names = Array.from({ length: 200_000 }, (_, i) => `model.layers.${i % 80}.self_attn.${["q", "k", "v", "o"][i % 4]}_proj`);
  const selected = compilePyRegex("^(?!.*vision).*\\.(q|v)_proj", { mode: "match" }).selectMatching(names);
  assert.is(selected.length, 100_000);
  assert.is(selected[0], 0);
  assert.is(selected[1], 2);
  assert.is(selected[selected.length - 1], 199_998);
});

test("timeout message cuts long names", () => {
  const name = `${"a".repeat(200)}!`;
  const regex = compilePyRegex("(a+)+$", { mode: "search", budget: { baseMs: 50, perCharMs: 0 } });
  try {
    regex.selectMatching([name]);
    assert.unreachable("expected a timeout");
  } catch (error) {
    assert.instance(error, PeftcError);
    const { diagnostic } = error as PeftcError;
    assert.is(diagnostic.code, "regex-timeout");
    assert.ok(diagnostic.message.includes(`"${"a".repeat(80)}..."`), diagnostic.message);
    assert.not.ok(diagnostic.message.includes(name), diagnostic.message);
  }
});

test("empty batch", () => {
  assert.is(compilePyRegex("x").selectMatching([]).length, 0);
});

test("deadline runner rejects stateful flags", () => {
  assert.throws(() => selectWithDeadline(/a/g, ["a"]), TypeError);
  assert.throws(() => selectWithDeadline(/a/y, ["a"]), TypeError);
});

test("deadline runner reports the chunk", () => {
  try {
    selectWithDeadline(/^(a+)+$/, ["ok", `${"a".repeat(40)}!`], { baseMs: 20, perCharMs: 0 });
    assert.unreachable("expected a timeout");
  } catch (error) {
    assert.instance(error, MatchTimeoutError);
    assert.is((error as MatchTimeoutError).firstName, "ok");
    assert.is((error as MatchTimeoutError).timeoutMs, 20);
  }
});

test.run();

import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatCount, formatParameterDelta, formatSignedCount, formatSignedPercent, formatValue } from "../../compiler/diff/format.js";

test("counts use K, M, B suffixes", () => {
  assert.is(formatCount(0), "0");
  assert.is(formatCount(999), "999");
  assert.is(formatCount(1000), "1.0K");
  assert.is(formatCount(65_536), "65.5K");
  assert.is(formatCount(3_145_728), "3.1M");
  assert.is(formatCount(1_235_814_400), "1.2B");
});

test("rounding moves to the next unit", () => {
  assert.is(formatCount(999_950), "1.0M");
  assert.is(formatCount(999_949), "999.9K");
});

test("signs use the minus sign", () => {
  assert.is(formatSignedCount(-812), "\u2212812");
  assert.is(formatSignedCount(0), "+0");
  assert.is(formatSignedPercent(0.25), "+0.25%");
  assert.is(formatSignedPercent(-0.0654), "\u22120.07%");
  assert.is(formatSignedPercent(0.0012345), "+0.0012%");
  assert.is(formatSignedPercent(0), "+0.00%");
});

test("parameter delta with and without model size", () => {
  assert.is(formatParameterDelta({ from: 1, to: 3_100_001, delta: 3_100_000, percent_of_model: 0.2508 }), "+3.1M (+0.25%)");
  assert.is(formatParameterDelta({ from: 1, to: 3_100_001, delta: 3_100_000, percent_of_model: null }), "+3.1M");
  assert.is(formatParameterDelta({ from: null, to: 5, delta: null, percent_of_model: null }), "unknown");
});

test("values read as words", () => {
  assert.is(formatValue(null), "none");
  assert.is(formatValue(0.05), "0.05");
  assert.is(formatValue(false), "false");
  assert.is(formatValue("linear"), "linear");
  assert.is(formatValue({ group: "model.embed_tokens.weight", role: "member", orientation: "transposed" }), "member of model.embed_tokens.weight (transposed)");
  assert.is(formatValue({ group: "g", role: "source", orientation: "same" }), "source of g");
  assert.is(formatValue([1, 2]), "[1,2]");
});

test.run();

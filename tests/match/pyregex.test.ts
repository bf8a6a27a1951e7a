import { test } from "uvu";
import * as assert from "uvu/assert";

import { PeftcError } from "../../compiler/errors.js";
import { compilePyRegex, type MatchMode } from "../../compiler/match/pyregex.js";

// Expected values in this file come from CPython 3.11 (`re.fullmatch`, `re.match`, `re.search`
// and `re.error.pos`), recorded as literals.

function catchPeftcError(run: () => unknown): PeftcError {
  try {
    run();
  } catch (error) {
    if (error instanceof PeftcError) return error;
    throw error;
  }
  throw new Error("expected a PeftcError");
}

// [pattern, name, fullmatch, match, search]
const PYTHON_RESULTS: Array<[string, string, boolean, boolean, boolean]> = [
  ["(?P<layer>\\d+)\\.(?P=layer)", "12.12", true, true, true],
  ["(?P<layer>\\d+)\\.(?P=layer)", "12.13", false, false, false],
  ["(a)(?P<x>b)(?P=x)\\1", "abba", true, true, true],
  ["(a)(?P<x>b)(?P=x)\\1", "abbb", false, false, false],
  ["(?i)Q_PROJ", "q_proj", true, true, true],
  ["(?i)[a-z]+", "Q_Proj", false, true, true],
  ["(?i)k", "\u212a", true, true, true],
  ["(?x) q _ proj  # comment", "q_proj", true, true, true],
  ["(?x)q\\ proj", "q proj", true, true, true],
  ["(?x)[ ]", " ", true, true, true],
  ["(?s)a.b", "a\nb", true, true, true],
  ["a.b", "a\nb", false, false, false],
  ["a.b", "a\rb", true, true, true],
  ["a.b", "a\u2028b", true, true, true],
  ["(?m)^b$", "a\nb\nc", false, false, true],
  ["^b$", "a\nb\nc", false, false, false],
  ["(?m)a$", "a\r\nb", false, false, false],
  ["(?a)\\w+", "\u00e9", false, false, false],
  ["(?a)\\d", "\u0663", false, false, false],
  ["\\Aq_proj\\Z", "q_proj", true, true, true],
  ["\\Aq_proj\\Z", "q_proj\n", false, false, false],
  ["q_proj$", "q_proj\n", false, true, true],
  ["q_proj$", "q_proj\n\n", false, false, false],
  ["q_proj$", "x.q_proj", false, false, true],
  ["\\d", "\u0663", true, true, true],
  ["\\d", "\u00b2", false, false, false],
  ["\\w+", "\u00e9t\u00e9_2", true, true, true],
  ["\\w", "\u00b2", true, true, true],
  ["\\w", "\u2160", true, true, true],
  ["\\s", "\u00a0", true, true, true],
  ["\\s", "\u001c", true, true, true],
  ["\\s", "\ufeff", false, false, false],
  ["\\s", "\u0085", true, true, true],
  ["\\bproj\\b", "a proj", false, false, true],
  ["\\bproj\\b", "aproj", false, false, false],
  ["\\bproj", "\u00e9proj", false, false, false],
  ["\\Bproj", "\u00e9proj", false, false, true],
  ["\\B", "", false, false, false],
  ["[\\w.]+", "model.layers.0", true, true, true],
  ["[^\\d.]+", "abc", true, true, true],
  ["[^\\d.]+", "a1", false, true, true],
  ["[\\D]", "x", true, true, true],
  ["[\\W\\d]", "5", true, true, true],
  ["[\\W\\d]", "a", false, false, false],
  ["[\\S]", " ", false, false, false],
  ["^(?!.*vision).*q_proj", "model.layers.0.self_attn.q_proj", true, true, true],
  ["^(?!.*vision).*q_proj", "model.vision_tower.layers.0.q_proj", false, false, false],
  [".*(?<!vision_)q_proj", "vision_q_proj", false, false, false],
  [".*(?<!vision_)q_proj", "text_q_proj", true, true, true],
  ["(?<=layers\\.)\\d+", "layers.7", false, false, true],
  [".*(?<=ab|cd)x", "cdx", true, true, true],
  ["(?=a)*a", "a", true, true, true],
  ["a{,2}b", "aab", true, true, true],
  ["a{,2}b", "aaab", false, false, true],
  ["a{2}", "aa", true, true, true],
  ["a{1,}", "aaa", true, true, true],
  ["x{", "x{", true, true, true],
  ["x{}", "x{}", true, true, true],
  ["x{1,2", "x{1,2", true, true, true],
  ["x{a}", "x{a}", true, true, true],
  ["a*?b", "aab", true, true, true],
  ["\\-\\/\\{", "-/{", true, true, true],
  ["[\\-a]", "-", true, true, true],
  ["\\x41\\u00e9\\U0001F600", "A\u00e9\ud83d\ude00", true, true, true],
  ["\\0\\n\\t", "\u0000\n\t", true, true, true],
  ["\\101", "A", true, true, true],
  ["[\\b]", "\b", true, true, true],
  ["\\a\\f\\v", "\u0007\f\u000b", true, true, true],
  ["\\:\\#\\ ", ":# ", true, true, true],
  ["\\\\", "\\", true, true, true],
  ["[]a]", "]", true, true, true],
  ["[^]a]", "b", true, true, true],
  ["[^]a]", "]", false, false, false],
  ["[a-]", "-", true, true, true],
  ["[-a]", "-", true, true, true],
  ["[\\d-]", "-", true, true, true],
  ["[[]", "[", true, true, true],
  ["[a&&b]", "&", true, true, true],
  ["(?>a+)a", "aaa", false, false, false],
  ["(?>a|ab)c", "abc", false, false, false],
  ["a++a", "aaa", false, false, false],
  ["a*+b", "aab", true, true, true],
  ["(a)(?>(b))\\2", "abb", true, true, true],
  ["(?:a|ab)(?:c|bcd)", "abcd", true, true, true],
  ["a|", "", true, true, true],
  ["|a", "a", true, true, true],
  ["(a|)+b", "aab", true, true, true],
  ["layers\\.(1|2|10)\\.", "layers.10.", true, true, true],
  ["(?i)stra\u00dfe", "STRASSE", false, false, false],
  ["(?i)stra\u00dfe", "STRA\u00dfE", true, true, true],
  ["(?i)\u017f", "S", true, true, true],
  ["(?ai)k", "\u212a", false, false, false],
  ["(?ai)k", "K", true, true, true],
  ["(?ia)[a-z]", "\u017f", false, false, false],
  ["(?ia)[a-z]+", "QxZ", true, true, true],
  ["(?ia)[^a-c]", "B", false, false, false],
  ["(?ai)\\u00e9", "\u00c9", false, false, false],
  ["(?i)\\u00e9", "\u00c9", true, true, true],
];

for (const [pattern, name, ...expected] of PYTHON_RESULTS) {
  test(`semantics of ${JSON.stringify(pattern)} on ${JSON.stringify(name)}`, () => {
    const modes: MatchMode[] = ["fullmatch", "match", "search"];
    modes.forEach((mode, i) => {
      const regex = compilePyRegex(pattern, { mode });
      assert.is(regex.test(name), expected[i], `${mode}: ${regex.regexp}`);
      assert.equal(Array.from(regex.selectMatching([name])), expected[i] ? [0] : [], `${mode} batch`);
    });
  });
}

// [pattern, Python's error offset, Python's message]
const PYTHON_ERRORS: Array<[string, number, string]> = [
  ["(a", 0, "missing ), unterminated subpattern"],
  ["a)", 1, "unbalanced parenthesis"],
  ["*a", 0, "nothing to repeat"],
  ["a**", 2, "multiple repeat"],
  ["\\q", 0, "bad escape \\q"],
  ["(?P<1>a)", 4, "bad character in group name '1'"],
  ["(?P=x)", 4, "unknown group name 'x'"],
  ["[a", 0, "unterminated character set"],
  ["a{2,1}", 2, "min repeat greater than max repeat"],
  ["(?i)a(?m)", 5, "global flags not at the start of the expression"],
  ["a(?i)", 1, "global flags not at the start of the expression"],
  ["\\z", 0, "bad escape \\z"],
  ["(?<n>a)", 1, "unknown extension ?<n"],
  ["^*", 1, "nothing to repeat"],
  ["{1}", 0, "nothing to repeat"],
  ["\\1(a)", 1, "invalid group reference 1"],
  ["(a)\\2", 4, "invalid group reference 2"],
  ["(a\\1)", 2, "cannot refer to an open group"],
  ["[z-a]", 1, "bad character range z-a"],
  ["[\\d-z]", 1, "bad character range \\d-z"],
  ["(?P<a>x)(?P<a>y)", 12, "redefinition of group name 'a' as group 2; was group 1"],
  ["(?L)a", 3, "bad inline flags: cannot use 'L' flag with a str pattern"],
  ["(?au)a", 4, "bad inline flags: flags 'a', 'u' and 'L' are incompatible"],
  ["(?s-s:a)", 5, "bad inline flags: flag turned on and off"],
  ["(?P<", 4, "missing group name"],
  ["(?P<a", 4, "missing >, unterminated name"],
  ["\\", 0, "bad escape (end of pattern)"],
  ["(?", 2, "unexpected end of pattern"],
  ["(?#abc", 0, "missing ), unterminated comment"],
  ["(?i", 3, "missing -, : or )"],
  ["(?-a:x)", 4, "bad inline flags: cannot turn off flags 'a', 'u' and 'L'"],
  ["\\x4", 0, "incomplete escape \\x4"],
  ["\\u12", 0, "incomplete escape \\u12"],
  ["\\777", 0, "octal escape value \\777 outside of range 0-0o377"],
  ["[\\8]", 1, "bad escape \\8"],
  ["\\8", 1, "invalid group reference 8"],
  ["(?<=(a)\\1)", 9, "cannot refer to group defined in the same lookbehind subpattern"],
  ["model.layers.(\\d+.q_proj", 13, "missing ), unterminated subpattern"],
  ["model\\.layers\\.\\d+\\.(q|v)_proj)", 30, "unbalanced parenthesis"],
  ["layers.\\d++*", 11, "multiple repeat"],
];

for (const [pattern, offset, message] of PYTHON_ERRORS) {
  test(`invalid ${JSON.stringify(pattern)} at offset ${offset}`, () => {
    const error = catchPeftcError(() => compilePyRegex(pattern, { location: { file: "spec.yaml", line: 4, col: 20, field: "target_modules" } }));
    assert.is(error.diagnostic.code, "regex-invalid");
    assert.is(error.diagnostic.file, "spec.yaml");
    assert.is(error.diagnostic.line, 4);
    assert.is(error.diagnostic.col, 20 + offset);
    assert.ok(error.message.includes(message), error.message);
    assert.ok(error.message.includes("target_modules"), error.message);
  });
}

// Python raises these when it compiles the pattern, without a position; peftc points at the look-behind.
test("variable-width look-behind is invalid", () => {
  for (const [pattern, offset] of [["(?<=a|bc)x", 0], ["x(?<=a+)b", 1]] as const) {
    const error = catchPeftcError(() => compilePyRegex(pattern, { location: { line: 1, col: 1 } }));
    assert.is(error.diagnostic.code, "regex-invalid");
    assert.is(error.diagnostic.col, 1 + offset);
    assert.ok(error.message.includes("look-behind requires fixed-width pattern"), error.message);
  }
});

test("unsupported constructs name their offset", () => {
  const cases: Array<[string, number, string]> = [
    ["(a)?(?(1)b|c)", 4, "conditional"],
    ["(a*?x*+)?+", 8, "empty string"],
    ["(?i)x(?a:k)", 5, "re.ASCII with re.IGNORECASE"],
    ["(?ai)(a)\\1", 8, "backreferences under (?ai)"],
    [`${"(".repeat(401)}a${")".repeat(401)}`, 400, "nested more than 400"],
    ["(?>(?:b|)+)", 9, "empty string"],
    ["q_proj|(?i:K_PROJ)", 7, "(?i:...)"],
    ["(?i)q_proj|(?-i:K_PROJ)", 11, "(?-i:...)"],
    ["\\N{EM DASH}", 0, "\\N{...}"],
    ["(?:(a)|b)\\1", 9, "backreference to group 1"],
    ["(a)?b\\1", 5, "backreference to group 1"],
  ];
  for (const [pattern, offset, fragment] of cases) {
    const error = catchPeftcError(() => compilePyRegex(pattern, { location: { file: "s.yaml", line: 2, col: 5 } }));
    assert.is(error.diagnostic.code, "regex-unsupported", pattern);
    assert.is(error.diagnostic.col, 5 + offset, pattern);
    assert.ok(error.message.includes(fragment), error.message);
  }
});

test("backreference to a group that always takes part", () => {
  // Python: re.fullmatch(r"(?:(a)\1|b)c", "aac") and "bc" match, "ac" does not.
  const regex = compilePyRegex("(?:(a)\\1|b)c");
  assert.is(regex.test("aac"), true);
  assert.is(regex.test("bc"), true);
  assert.is(regex.test("ac"), false);
});

test("scoped flags other than case pass", () => {
  // Python: re.fullmatch(r"a(?s:.)b(?x: c )", "a\nbc") matches; re.fullmatch(r"a(?s:.).", "a\n\n") does not.
  assert.is(compilePyRegex("a(?s:.)b(?x: c )").test("a\nbc"), true);
  assert.is(compilePyRegex("a(?s:.).").test("a\n\n"), false);
});

test("column without single-line position", () => {
  const error = catchPeftcError(() => compilePyRegex("a)", { location: { line: 7, col: 3, singleLine: false } }));
  assert.is(error.diagnostic.line, 7);
  assert.is(error.diagnostic.col, 3);
});

test("column from columnAt for quoted scalars", () => {
  // In the YAML scalar "\\d+)" each backslash is written twice, so offset 3 sits at column 10 + 4.
  const columnAt = (offset: number): number => 10 + 1 + offset + (offset >= 1 ? 1 : 0);
  const error = catchPeftcError(() => compilePyRegex("\\d+)", { location: { line: 1, col: 10, columnAt } }));
  assert.is(error.diagnostic.col, 15);
});

// PEFT's own string target_modules cases (tests/test_tuners_utils.py, REGEX_TEST_CASES): a string
// target is matched with re.fullmatch.
test("PEFT regex target cases", () => {
  const cases: Array<[string, string, boolean]> = [
    ["foo", "foo", true],
    ["foo", ".*oo", true],
    ["foo", "fo.*", true],
    ["foo", ".*bar.*", false],
    ["foobar", ".*oba.*", true],
  ];
  for (const [key, pattern, expected] of cases) {
    assert.is(compilePyRegex(pattern, { mode: "fullmatch" }).test(key), expected, `${pattern} on ${key}`);
  }
});

// PEFT's IA3 feed-forward test on T5 expects exactly these five matches for its regex.
test("PEFT T5 regex selects block 0 of the encoder", () => {
  const names: string[] = [];
  for (const side of ["encoder", "decoder"]) {
    for (const block of [0, 1]) {
      for (const x of "qkvo") names.push(`${side}.block.${block}.layer.0.SelfAttention.${x}`);
      if (side === "decoder") for (const x of "qkvo") names.push(`${side}.block.${block}.layer.1.EncDecAttention.${x}`);
      const ff = side === "decoder" ? 2 : 1;
      for (const x of ["wi", "wo"]) names.push(`${side}.block.${block}.layer.${ff}.DenseReluDense.${x}`);
    }
  }
  const regex = compilePyRegex(".*encoder.*block.0.*(SelfAttention|EncDecAttention|DenseReluDense).(k|q|v|wo|wi)$");
  const selected = Array.from(regex.selectMatching(names), (i) => names[i]);
  assert.equal(selected, [
    "encoder.block.0.layer.0.SelfAttention.q",
    "encoder.block.0.layer.0.SelfAttention.k",
    "encoder.block.0.layer.0.SelfAttention.v",
    "encoder.block.0.layer.1.DenseReluDense.wi",
    "encoder.block.0.layer.1.DenseReluDense.wo",
  ]);
});

const MODULES = [
  "model.layers.0.self_attn.q_proj",
  "model.layers.1.self_attn.q_proj",
  "model.layers.1.self_attn.v_proj",
  "model.layers.10.mlp.down_proj",
  "lm_head",
  "model.lm_head_x",
  "score",
  "model.score.dense",
  "classifier",
  "my_classifier",
];

function select(pattern: string, prefix: string, suffix: string): string[] {
  const regex = compilePyRegex(pattern, { mode: "match", prefix, suffix });
  return Array.from(regex.selectMatching(MODULES), (i) => MODULES[i]!);
}

test("rank_pattern composite", () => {
  const prefix = "(.*\\.)?(";
  const suffix = ")$";
  assert.equal(select("q_proj", prefix, suffix), ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]);
  assert.equal(select("layers.1.self_attn.q_proj", prefix, suffix), ["model.layers.1.self_attn.q_proj"]);
  assert.equal(select("model.layers.1.*", prefix, suffix), [
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.self_attn.v_proj",
    "model.layers.10.mlp.down_proj",
  ]);
  assert.equal(select("layers\\.\\d+\\.mlp\\..*", prefix, suffix), ["model.layers.10.mlp.down_proj"]);
  assert.equal(select("proj", prefix, suffix), []);
});

test("modules_to_save composite", () => {
  const prefix = "(^|.*\\.)";
  const suffix = "($|\\..*)";
  assert.equal(select("lm_head", prefix, suffix), ["lm_head"]);
  assert.equal(select("score", prefix, suffix), ["score", "model.score.dense"]);
  assert.equal(select("classifier", prefix, suffix), ["classifier"]);
  assert.equal(select("layers.1", prefix, suffix), ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]);
});

test("composite parses as one pattern like Python", () => {
  // Python: re.match(r"(.*\.)?(a)|(b)$", name) for the user text "a)|(b".
  const regex = compilePyRegex("a)|(b", { mode: "match", prefix: "(.*\\.)?(", suffix: ")$" });
  assert.equal(
    ["x.a", "a", "b", "x.b", "ab"].filter((n) => regex.test(n)),
    ["x.a", "a", "b", "ab"],
  );
});

test("composite errors point into the user text", () => {
  const where = { file: "s.yaml", line: 3, col: 12, field: "rank_pattern" };
  const prefix = "(.*\\.)?(";
  const suffix = ")$";
  // Python reports offsets 15 and 8 in the whole pattern; the prefix is 8 code points long.
  const unbalanced = catchPeftcError(() => compilePyRegex("q_proj))", { mode: "match", prefix, suffix, location: where }));
  assert.is(unbalanced.diagnostic.code, "regex-invalid");
  assert.is(unbalanced.diagnostic.col, 12 + 7);
  const flags = catchPeftcError(() => compilePyRegex("(?i)q_proj", { mode: "match", prefix, suffix, location: where }));
  assert.is(flags.diagnostic.col, 12);
  assert.ok(flags.message.includes("global flags not at the start"), flags.message);
  assert.ok(flags.message.includes("rank_pattern"), flags.message);
  // Python reports the prefix's own group (offset 7); the column stays at the user text's start.
  const open = catchPeftcError(() => compilePyRegex("q_proj(", { mode: "match", prefix, suffix, location: where }));
  assert.is(open.diagnostic.col, 12);
});

test("pythonSource and pattern", () => {
  const regex = compilePyRegex("q_proj", { mode: "match", prefix: "(.*\\.)?(", suffix: ")$" });
  assert.is(regex.pattern, "q_proj");
  assert.is(regex.pythonSource, "(.*\\.)?(q_proj)$");
  assert.is(regex.mode, "match");
});

test("exec numbers groups like Python", () => {
  // Python: re.match(pattern, name).groups() for PEFT's layer-index patterns.
  const layers = compilePyRegex(".*?\\.layers\\.(\\d+)\\.", { mode: "match" });
  assert.equal(layers.exec("model.layers.7.mlp"), ["model.layers.7.", "7"]);
  const anyLayer = compilePyRegex(".*?\\.[^.]*\\.(\\d+)\\.", { mode: "match" });
  assert.equal(anyLayer.exec("transformer.h.1.attn.attention.q_proj")?.[1], "1");
  const bar = compilePyRegex(".*?\\.bar\\.(\\d+)\\.", { mode: "match" });
  assert.equal(bar.exec("foo.bar.1.spam.2.baz")?.[1], "1");
  assert.equal(bar.exec("foo.bar.001.baz")?.[1], "001");
  assert.is(bar.exec("bar.1.baz"), null);
});

test("exec maps groups around atomic emulation", () => {
  // Python: re.fullmatch(r"(a)|(b)", "b").groups() == (None, "b"), and
  // re.fullmatch(r"(?>(a+))(b)c*+(?P<tail>d)", "aabccd").groups() == ("aa", "b", "d") with groupindex {"tail": 3}.
  assert.equal(compilePyRegex("(a)|(b)").exec("b"), ["b", undefined, "b"]);
  const atomic = compilePyRegex("(?>(a+))(b)c*+(?P<tail>d)");
  assert.equal(atomic.exec("aabccd"), ["aabccd", "aa", "b", "d"]);
  assert.is(atomic.groupNames.get("tail"), 3);
});

test("default mode is fullmatch", () => {
  assert.is(compilePyRegex("q_proj").test("x.q_proj"), false);
  assert.is(compilePyRegex("q_proj", { mode: "search" }).test("x.q_proj"), true);
});

test.run();

import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { stringify } from "yaml";
import { PeftcError } from "../../compiler/errors.js";
import { parseSpec } from "../../compiler/spec/load.js";
import { editDistance, loraFields, suggestField } from "../../compiler/spec/fields.js";

/** Parses and reports whether the outcome was a Spec or a PeftcError; anything else fails the property. */
function parseOutcome(text: string): "spec" | "error" {
  try {
    parseSpec(text, "fuzz.yaml");
    return "spec";
  } catch (err) {
    if (err instanceof PeftcError) return "error";
    throw err;
  }
}

const keys = fc.oneof(fc.constantFrom(...loraFields(), "__proto__", "constructor", "prototype", "adapters", "model"), fc.string());

test("random text gives a spec or a PeftcError", () => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => parseOutcome(text) !== undefined), { numRuns: 500 });
});

test("random documents never pollute prototypes", () => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: "small" }, fc.jsonValue({ maxDepth: 1 }), tie("map"), fc.array(tie("node"), { maxLength: 3 })),
    map: fc.dictionary(keys, tie("node"), { maxKeys: 4 }),
  }));
  fc.assert(
    fc.property(value.map, (doc) => {
      parseOutcome(stringify(doc));
      parseOutcome(JSON.stringify(doc));
      return Object.getOwnPropertyNames(Object.prototype).every((name) => !["r", "polluted", "lora_alpha"].includes(name));
    }),
    { numRuns: 300 },
  );
  assert.is(({} as Record<string, unknown>).r, undefined);
});

test("edit distance by hand", () => {
  assert.is(editDistance("lora_aplha", "lora_alpha"), 1, "one transposition");
  assert.is(editDistance("target_module", "target_modules"), 1);
  assert.is(editDistance("use_bdlora", "use_dora"), 2);
  assert.is(editDistance("", "abc"), 3);
  assert.is(editDistance("kitten", "sitting"), 3);
});

test("suggestions stay close", () => {
  const known = loraFields();
  assert.is(suggestField("lora_aplha", known), "lora_alpha");
  assert.is(suggestField("dropout", known), "lora_dropout");
  assert.is(suggestField("R", known), "r");
  assert.is(suggestField("learning_rate", known), null);
  assert.is(suggestField("xy", known), null);
});

test.run();

/**
 * The validators under compiler/validators/ are generated from the JSON Schemas. Each committed
 * module must equal a fresh generation, or a schema edit would not reach the checks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VALIDATOR_MODULES, VALIDATORS_DIR, validatorSource } from "../../schemas/generate-validators.js";

for (const module of VALIDATOR_MODULES) {
  test(`validator ${module.file} matches ${module.schema}`, () => {
    const committed = readFileSync(join(VALIDATORS_DIR, module.file), "utf8");
    assert.ok(committed === validatorSource(module), `compiler/validators/${module.file} is out of date: run \`npm run generate\``);
  });
}

test.run();

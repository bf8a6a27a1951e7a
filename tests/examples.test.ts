/**
 * Every bundled example recompiles to the byte-identical plan committed next to it, and that plan
 * passes the plan schema and consistency checks.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileSpecFile } from "../compiler/compile.js";
import { canonicalJson } from "../compiler/plan/canonical.js";
import { validatePlan } from "../compiler/plan/validate.js";

const root = new URL("../examples/", import.meta.url).pathname;

const cases: Array<{ spec: string; plan: string; model: string }> = [];
for (const dir of readdirSync(root, { withFileTypes: true })) {
  if (!dir.isDirectory()) continue;
  const base = join(root, dir.name);
  for (const file of readdirSync(base)) {
    const stem = file.replace(/\.(yaml|json)$/, "");
    const plan = join(base, `${stem}.plan.json`);
    if (file.endsWith(".plan.json") || !existsSync(plan)) continue;
    cases.push({ spec: join(base, file), plan, model: join(base, "model") });
  }
}

test("examples: at least seven spec/plan pairs", () => {
  assert.ok(cases.length >= 7, `found ${cases.length}`);
});

for (const c of cases) {
  test(`example ${c.spec.slice(root.length)} recompiles byte for byte`, () => {
    const { plan } = compileSpecFile(c.spec, { model: c.model });
    validatePlan(plan);
    const fresh = canonicalJson(plan);
    assert.fixture(fresh, readFileSync(c.plan, "utf8"));
  });
}

test.run();

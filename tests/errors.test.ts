import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatDiagnostic } from "../compiler/errors.js";

test("diagnostic with full position", () => {
  const line = formatDiagnostic({ severity: "error", code: "no-target-match", message: "x", file: "a.yaml", line: 3, col: 5 });
  assert.is(line, "a.yaml:3:5: error[no-target-match]: x");
});

test("diagnostic without position", () => {
  assert.is(formatDiagnostic({ severity: "warning", code: "tie-not-ensured", message: "y" }), "warning[tie-not-ensured]: y");
});

test.run();

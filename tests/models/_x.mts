import { compileSpecFile } from "../../compiler/compile.js";
import { runTrain } from "../../runtime/cli/train.js";
const plan = compileSpecFile("examples/train-smollm2/spec.yaml", { model: "examples/train-smollm2" }).plan;
const t = Date.now();
const code = await runTrain(["--model", "examples/train-smollm2", "--data", "examples/train-smollm2/train.txt", "--output", "/tmp/sp/out", "--steps", process.argv[2] ?? "5", "--seq-len", "32", "--batch-size", "4", "--num-hidden-layers", "2", "--lr", "0.002", "--backend", process.argv[3] ?? "auto"], { stdout: process.stdout, stderr: process.stderr }, { plan });
console.log("code", code, (Date.now() - t) / 1000, "s");
